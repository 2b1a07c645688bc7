// Starts throwaway ClickHouse servers for tests and benchmarks: each on
// loopback only, on its own ports, with data under a temporary directory,
// and together forming a 2-shard `remote_servers` cluster. Installs Debian's
// clickhouse-server first when it is missing. Stops them by PID.
//
// startReplicatedCluster() adds one ZooKeeper (Debian's `zookeeper`, 3.8)
// and lays the servers out as shards of replicas with ReplicatedMergeTree
// and ON CLUSTER DDL (ENGINE-NOTES.md, "Replication on ClickHouse 18.16").
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * The replication part of a server's config: its ZooKeeper, its own shard
 * and replica names (the macros that ReplicatedMergeTree paths and ON
 * CLUSTER DDL expand), the port other replicas fetch parts from, and the
 * queue of ON CLUSTER statements.
 */
function replicationConfig(replication) {
  if (!replication) return '';
  // A replica that was SIGKILLed rejoins only once ZooKeeper has expired its
  // old session (its is_active node is that session's): 10 s rather than
  // the default 30 s, so a test that kills one waits less for it.
  return `<zookeeper><node><host>127.0.0.1</host><port>${replication.zookeeperPort}</port></node><session_timeout_ms>10000</session_timeout_ms></zookeeper>
  <macros><shard>${replication.shard}</shard><replica>${replication.replica}</replica></macros>
  <interserver_http_port>${replication.interserverPort}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>`;
}

/** `layout`: the cluster's shards, each a list of its replicas' TCP ports. */
function config({ dir, httpPort, tcpPort, httpsPort, layout, replication }, https, mergeTree) {
  // With replicas, a Distributed insert writes each shard's block to one
  // replica and ReplicatedMergeTree copies it to the others.
  const internal = layout.some((replicas) => replicas.length > 1) ? '<internal_replication>true</internal_replication>' : '';
  const remote = layout
    .map((replicas) => `<shard>${internal}${replicas.map((port) => `<replica><host>127.0.0.1</host><port>${port}</port></replica>`).join('')}</shard>`)
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
  ${replicationConfig(replication)}
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

/** Ends a child process by PID: `signal`, then SIGKILL after 10 s; resolves once it has exited. */
function stopChild(c, signal = 'SIGTERM') {
  return new Promise((resolve) => {
    if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
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
      process.kill(c.pid, signal);
    } catch {
      resolve();
    }
  });
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
      const layout = shards.map((x) => [x.tcpPort]);
      writeFileSync(path.join(s.dir, 'config.xml'), config({ dir: s.dir, httpPort: s.httpPort, tcpPort: s.tcpPort, httpsPort: s.httpsPort, layout }, https, mergeTree));
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

/** Where Debian's zookeeper package put zkServer.sh (`dpkg -L zookeeper`), or null when it is not installed. */
function zkServerScript() {
  try {
    const files = execFileSync('dpkg', ['-L', 'zookeeper'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n');
    const script = files.find((f) => f.endsWith('/bin/zkServer.sh'));
    return script && existsSync(script) ? script : null;
  } catch {
    return null;
  }
}

/** Installs Debian's zookeeper (3.8, with OpenJDK) when it is missing (needs root). */
export function ensureZooKeeperInstalled(log = (m) => process.stderr.write(`${m}\n`)) {
  if (zkServerScript()) return;
  log('zookeeper is missing: installing it from Debian (apt-get update && apt-get install zookeeper)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const sudo = process.getuid && process.getuid() === 0 ? [] : ['sudo'];
  const run = (args) => execFileSync(sudo[0] ?? args[0], sudo.length ? args : args.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], env });
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', 'zookeeper']);
  if (!zkServerScript()) throw new Error('zookeeper was installed but dpkg -L zookeeper lists no zkServer.sh');
}

/** True once the ZooKeeper on `port` answers the `srvr` four-letter command (the one 3.8 allows by default). */
function zooKeeperServing(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('srvr'));
    socket.on('data', (d) => (reply += d));
    socket.on('end', () => done(/Mode: standalone/.test(reply)));
  });
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts one standalone ZooKeeper on loopback with its data in `dir`
 * (`zkServer.sh start <cfg>`, which daemonizes and writes its pid to
 * `<dir>/zookeeper_server.pid`). stop() ends it by that pid.
 */
export async function startZooKeeper(dir, { timeoutMs = 60_000 } = {}) {
  ensureZooKeeperInstalled();
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const cfg = path.join(dir, 'zoo.cfg');
  writeFileSync(
    cfg,
    [`tickTime=2000`, `initLimit=10`, `syncLimit=5`, `dataDir=${dir}`, `clientPort=${port}`, `clientPortAddress=127.0.0.1`, `admin.enableServer=false`, `maxClientCnxns=0`, ''].join('\n'),
  );
  const pidFile = path.join(dir, 'zookeeper_server.pid');
  // No JMX agent, and a small heap: a test's ZooKeeper holds a few thousand nodes.
  const env = { ...process.env, JMXDISABLE: 'true', SERVER_JVMFLAGS: '-Xmx256m -XX:+UseSerialGC' };
  execFileSync(zkServerScript(), ['start', cfg], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  const stop = async () => {
    if (!pidAlive(pid)) return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    const deadline = Date.now() + 10_000;
    while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (pidAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  const deadline = Date.now() + timeoutMs;
  while (!(await zooKeeperServing(port))) {
    if (!pidAlive(pid) || Date.now() > deadline) {
      await stop();
      throw new Error(`zookeeper (pid ${pid}) did not start serving on 127.0.0.1:${port}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { port, pid, stop };
}

/**
 * Starts a ZooKeeper and `shards` x `replicas` servers: one remote_servers
 * cluster (`internal_replication`), each server with its own `shard` and
 * `replica` macros ('01', 'r1'), an interserver port for replicas to fetch
 * parts, and ON CLUSTER DDL through ZooKeeper. Nodes are listed shard by
 * shard (`shards[s]` holds the node indexes of shard s). stop() ends every
 * server and then ZooKeeper, by PID, and removes their data; killServer()
 * SIGKILLs one server, keeping its data for startServer().
 */
export async function startReplicatedCluster({ shards = 2, replicas = 2, users, mergeTree } = {}) {
  ensureClickHouseInstalled();
  ensureZooKeeperInstalled();
  const root = mkdtempSync(path.join(os.tmpdir(), 'sightline-replicated-'));
  const nodes = [];
  const children = [];
  let zookeeper;
  const stop = async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    await zookeeper?.stop();
    rmSync(root, { recursive: true, force: true });
  };
  const launch = (i) => {
    const child = spawn('clickhouse-server', [`--config-file=${path.join(nodes[i].dir, 'config.xml')}`], { stdio: 'ignore', detached: false });
    children[i] = child;
    return child;
  };
  try {
    zookeeper = await startZooKeeper(path.join(root, 'zookeeper'));
    for (let s = 0; s < shards; s++)
      for (let r = 0; r < replicas; r++)
        nodes.push({
          shard: String(s + 1).padStart(2, '0'),
          replica: `r${r + 1}`,
          shardIndex: s,
          httpPort: await freePort(),
          tcpPort: await freePort(),
          interserverPort: await freePort(),
          dir: path.join(root, `s${s + 1}r${r + 1}`),
        });
    const layout = [];
    for (const n of nodes) (layout[n.shardIndex] ??= []).push(n.tcpPort);
    for (const [i, n] of nodes.entries()) {
      for (const d of ['data', 'tmp', 'user_files', 'format_schemas']) mkdirSync(path.join(n.dir, d), { recursive: true });
      writeFileSync(path.join(n.dir, 'users.xml'), usersXml(users));
      const replication = { zookeeperPort: zookeeper.port, shard: n.shard, replica: n.replica, interserverPort: n.interserverPort };
      writeFileSync(path.join(n.dir, 'config.xml'), config({ dir: n.dir, httpPort: n.httpPort, tcpPort: n.tcpPort, layout, replication }, undefined, mergeTree));
      n.url = `http://127.0.0.1:${n.httpPort}`;
      launch(i);
    }
    for (let i = 0; i < nodes.length; i++) await waitReady(nodes[i].url, children[i]);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    nodes: nodes.map(({ url, tcpPort, dir, shard, replica }, i) => ({ url, tcpPort, dir, shard, replica, get pid() { return children[i].pid; } })),
    shards: Array.from({ length: shards }, (_, s) => nodes.flatMap((n, i) => (n.shardIndex === s ? [i] : []))),
    cluster: CLUSTER,
    zookeeper: { port: zookeeper.port, pid: zookeeper.pid },
    stop,
    /** SIGKILLs one server by PID (no shutdown of its own), keeping its data. */
    killServer: (i) => stopChild(children[i], 'SIGKILL'),
    /** Stops one server (SIGTERM, by PID), keeping its data. */
    stopServer: (i) => stopChild(children[i]),
    /** Starts a stopped or killed server again on the same ports and data. */
    startServer: async (i) => waitReady(nodes[i].url, launch(i)),
  };
}

export function serverBinaryExists() {
  return existsSync('/usr/sbin/clickhouse-server') || have('clickhouse-server');
}
