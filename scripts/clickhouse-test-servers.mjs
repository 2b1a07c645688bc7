// Starts throwaway ClickHouse servers for tests and benchmarks: each on
// loopback only, on its own ports, with data under a temporary directory,
// and together forming a 2-shard `remote_servers` cluster. Installs Debian's
// clickhouse-server first when it is missing. Stops them by PID.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const CLUSTER = 'sightline_test';

function have(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Installs Debian's clickhouse-server and clickhouse-client when missing (needs root). */
export function ensureClickHouseInstalled(log = (m) => process.stderr.write(`${m}\n`)) {
  if (have('clickhouse-server') && have('clickhouse-client')) return;
  log('clickhouse-server is missing: installing it from Debian (apt-get update && apt-get install clickhouse-server clickhouse-client)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const sudo = process.getuid && process.getuid() === 0 ? [] : ['sudo'];
  const run = (args) => execFileSync(sudo[0] ?? args[0], sudo.length ? args : args.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], env });
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', 'clickhouse-server', 'clickhouse-client']);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The https listener of ClickHouse 18.16 (Poco NetSSL): certificate and key files, no client certificates asked for. */
function httpsConfig(httpsPort, https) {
  if (!https) return '';
  return `<https_port>${httpsPort}</https_port>
  <openSSL><server><certificateFile>${https.certFile}</certificateFile><privateKeyFile>${https.keyFile}</privateKeyFile><verificationMode>none</verificationMode><loadDefaultCAFile>false</loadDefaultCAFile><cacheSessions>true</cacheSessions><disableProtocols>sslv2,sslv3</disableProtocols><preferServerCiphers>true</preferServerCiphers></server></openSSL>`;
}

/** `<merge_tree>` settings for every table ({ old_parts_lifetime: 2 }), none by default. */
function mergeTreeConfig(settings) {
  const entries = Object.entries(settings ?? {});
  if (entries.length === 0) return '';
  return `<merge_tree>${entries.map(([k, v]) => `<${k}>${Number(v)}</${k}>`).join('')}</merge_tree>`;
}

function config({ dir, httpPort, tcpPort, httpsPort, shards }, https, mergeTree) {
  const remote = shards
    .map((s) => `<shard><replica><host>127.0.0.1</host><port>${s.tcpPort}</port></replica></shard>`)
    .join('');
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/server.err.log</errorlog><size>100M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  ${httpsConfig(httpsPort, https)}
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <remote_servers><${CLUSTER}>${remote}</${CLUSTER}></remote_servers>
  ${mergeTreeConfig(mergeTree)}
</yandex>
`;
}

const xmlText = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** `default` without a password, plus `extraUsers` ({ name: password }) with theirs. */
function usersXml(extraUsers = {}) {
  const user = (name, password) =>
    `<${name}><password>${xmlText(password)}</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></${name}>`;
  return `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage><load_balancing>random</load_balancing></default></profiles>
  <users>${user('default', '')}${Object.entries(extraUsers).map(([name, password]) => user(name, password)).join('')}</users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;
}

async function waitReady(url, child, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`clickhouse-server exited with ${child.exitCode}`);
    try {
      const r = await fetch(`${url}/ping`);
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`clickhouse-server at ${url} did not become ready`);
}

/**
 * Starts `count` servers forming one cluster. Returns their HTTP URLs and a
 * stop() that kills them by PID and removes their data. With
 * `{ https: { certFile, keyFile } }` each server also listens for HTTPS on
 * loopback with that certificate (`httpsUrl` of each shard). With
 * `{ users: { name: password } }` those users exist besides `default`
 * (user names must be XML element names). With `{ mergeTree: { name: n } }`
 * those MergeTree settings apply to every table (erasure tests shorten
 * `old_parts_lifetime`, which 18.16 cannot change per table).
 */
export async function startClickHouseServers(count = 2, { https, users, mergeTree } = {}) {
  ensureClickHouseInstalled();
  const root = mkdtempSync(path.join(os.tmpdir(), 'sightline-clickhouse-'));
  const shards = [];
  for (let i = 0; i < count; i++) shards.push({ httpPort: await freePort(), tcpPort: await freePort(), httpsPort: https ? await freePort() : undefined, dir: path.join(root, `shard${i + 1}`) });
  const children = [];
  const stopChild = (c) =>
          new Promise((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => {
              try {
                process.kill(c.pid, 'SIGKILL');
              } catch {
                // already gone
              }
            }, 10_000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            try {
              process.kill(c.pid, 'SIGTERM');
            } catch {
              resolve();
            }
          });
  const stop = async () => {
    await Promise.all(children.map(stopChild));
    rmSync(root, { recursive: true, force: true });
  };
  const launch = (i) => {
    const s = shards[i];
    const child = spawn('clickhouse-server', [`--config-file=${path.join(s.dir, 'config.xml')}`], { stdio: 'ignore', detached: false });
    children[i] = child;
    s.pid = child.pid;
    return child;
  };
  try {
    for (const s of shards) {
      mkdirSync(s.dir, { recursive: true });
      for (const d of ['data', 'tmp', 'user_files', 'format_schemas']) mkdirSync(path.join(s.dir, d), { recursive: true });
      writeFileSync(path.join(s.dir, 'users.xml'), usersXml(users));
      writeFileSync(path.join(s.dir, 'config.xml'), config({ dir: s.dir, httpPort: s.httpPort, tcpPort: s.tcpPort, httpsPort: s.httpsPort, shards }, https, mergeTree));
      launch(shards.indexOf(s));
      s.url = `http://127.0.0.1:${s.httpPort}`;
    }
    for (let i = 0; i < shards.length; i++) await waitReady(shards[i].url, children[i]);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    shards: shards.map(({ url, tcpPort, httpsPort, dir }, i) => ({ url, tcpPort, dir, httpsUrl: httpsPort ? `https://127.0.0.1:${httpsPort}` : undefined, get pid() { return children[i].pid; } })),
    cluster: CLUSTER,
    stop,
    /** Stops one server (SIGTERM, by PID), keeping its data. */
    stopServer: (i) => stopChild(children[i]),
    /** Starts a stopped server again on the same ports and data. */
    startServer: async (i) => waitReady(shards[i].url, launch(i)),
  };
}

export function serverBinaryExists() {
  return existsSync('/usr/sbin/clickhouse-server') || have('clickhouse-server');
}
