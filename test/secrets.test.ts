import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CLI, REPO_ROOT, eventually, startSightline, tempDir, type Sightline } from '../testkit/sightline.js';
import { postOtlp, request, requestJson, span } from '../testkit/fixtures.js';

/**
 * Secrets and files (issue 12, item 4), on the real CLI: the ClickHouse
 * password from --store-password-file and never echoed by any error (bad
 * URLs, bad files, an unreachable server, a real ClickHouse 18.16 refusing
 * a wrong password); a data directory of 0700 directories and 0600 files,
 * the embedded engine's parts included; and logs at info level that carry
 * no query text and no attribute values, where debug may.
 *
 * Every distinctive value below is letters, digits and dashes, so a URL
 * that carries one (encoded or not) carries it verbatim and the searches
 * below find it.
 */

const distinct = (what: string) => `${what}-${randomBytes(6).toString('hex')}`;
const PASSWORD = distinct('Pw7secret');

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: `${r.stdout}\n${r.stderr}` };
}

/** `serve` on loopback with ephemeral ports and its own data directory. */
function serve(args: string[], env: Record<string, string> = {}) {
  const data = tempDir();
  try {
    return run(['serve', '--data', data, '--otlp-grpc-port', '0', '--otlp-http-port', '0', '--http-port', '0', ...args], env);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
}

function secretFile(dir: string, name: string, content: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

describe('the ClickHouse password', () => {
  const dir = tempDir('sightline-secrets-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses malformed --store URLs with one line that never quotes the password', () => {
    for (const [url, reason] of [
      [`clickhouse://sightline:${PASSWORD}@ch1:8123/not-an-identifier`, /the database name \(the URL's path\) must be a plain identifier/],
      [`clickhouse://sightline:${PASSWORD}@/traces`, /not a ClickHouse URL/],
      // An unencoded '/' in the password: what follows it would be read as the path.
      [`clickhouse://sightline:${PASSWORD}/more@ch1:8123/traces`, /host 1 of the ClickHouse URL is not host or host:port/],
      [`clickhouse://sightline:%E0%A4%A${PASSWORD}@ch1:8123/traces`, /the password in the ClickHouse URL has a malformed %-escape/],
      [`clickhouse://sightline:${PASSWORD}@ch1:8123,ch2:port/traces`, /host 2 of the ClickHouse URL is not host or host:port/],
      [`mysql://sightline:${PASSWORD}@ch1:3306/traces`, /not a ClickHouse URL/],
    ] as const) {
      for (const [args, env, source] of [
        [['--store', url], {}, '--store'],
        [[], { SIGHTLINE_STORE: url }, 'SIGHTLINE_STORE'],
      ] as const) {
        const r = serve([...args], env);
        assert.equal(r.code, 2, `${url} via ${source}: exit 2\n${r.all}`);
        assert.match(r.stderr, new RegExp(`^sightline: ${source}: `));
        assert.match(r.stderr, reason);
        assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
        assert.ok(!r.all.includes(PASSWORD), `the password is not echoed: ${r.all}`);
      }
    }
  });

  it('hides the password left after an unencoded @ in it', () => {
    // userinfo ends at the last '@': "p@ss" is the password, not part of the host.
    const port = 1;
    const r = serve(['--store', `clickhouse://sightline:${PASSWORD}@${PASSWORD}@127.0.0.1:${port}/traces`]);
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /^sightline: cannot open the ClickHouse store at clickhouse:\/\/sightline:\*\*\*@127\.0\.0\.1:1\/traces: /);
    assert.ok(!r.all.includes(PASSWORD), r.all);
  });

  it('reads --store-password-file, and refuses bad files naming the path only', () => {
    const empty = secretFile(dir, 'empty', '\n');
    const good = secretFile(dir, 'good', `${PASSWORD}\n`);
    const missing = path.join(dir, 'no-such-password');
    for (const [args, env, pattern] of [
      [['--store', 'clickhouse://sightline@ch1:8123/traces', '--store-password-file', missing], {}, new RegExp(`^sightline: --store-password-file ${missing}: cannot be read \\(no such file\\)$`)],
      [['--store', 'clickhouse://sightline@ch1:8123/traces'], { SIGHTLINE_STORE_PASSWORD_FILE: dir }, new RegExp(`^sightline: SIGHTLINE_STORE_PASSWORD_FILE ${dir}: cannot be read \\(it is a directory\\)$`)],
      [['--store', 'clickhouse://sightline@ch1:8123/traces', '--store-password-file', empty], {}, /--store-password-file \S+empty: the file is empty$/],
      [['--store-password-file', good], {}, /^sightline: --store-password-file needs a ClickHouse --store$/],
      [['--store', `clickhouse://sightline:${PASSWORD}@ch1:8123/traces`, '--store-password-file', good], {}, /^sightline: --store carries a password and --store-password-file gives one too; take it out of the URL$/],
    ] as [string[], Record<string, string>, RegExp][]) {
      const r = serve(args, env);
      assert.equal(r.code, 2, `${args.join(' ')}: exit 2\n${r.all}`);
      assert.match(r.stderr.trim(), pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      assert.ok(!r.all.includes(PASSWORD), r.all);
    }
    const help = run(['--help']);
    assert.match(help.stdout, /--store-password-file .*read once at start.*SIGHTLINE_STORE_PASSWORD_FILE/);
  });

  it('names an unreachable server in one line, without the password from the file or the URL', async () => {
    const port = await closedPort();
    const file = secretFile(dir, 'unreachable', `${PASSWORD}\n`);
    for (const args of [
      ['--store', `clickhouse://sightline@127.0.0.1:${port}/traces`, '--store-password-file', file],
      ['--store', `clickhouse://sightline:${PASSWORD}@127.0.0.1:${port}/traces`],
    ]) {
      const r = serve(args);
      assert.equal(r.code, 1, r.all);
      assert.match(r.stderr.trim(), new RegExp(`^sightline: cannot open the ClickHouse store at clickhouse://sightline(:\\*\\*\\*)?@127\\.0\\.0\\.1:${port}/traces: .*ECONNREFUSED`));
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      assert.ok(!r.all.includes(PASSWORD), r.all);
    }
  });

  describe('against a real ClickHouse server with a password', { timeout: 240_000 }, () => {
    const scripts = path.join(REPO_ROOT, 'scripts', 'clickhouse-test-servers.mjs');
    let servers: { shards: { url: string }[]; stop(): Promise<void> } | undefined;
    let available = true;

    before(async () => {
      const mod = (await import(scripts)) as {
        serverBinaryExists(): boolean;
        startClickHouseServers(n: number, opts: { users: Record<string, string> }): Promise<NonNullable<typeof servers>>;
      };
      if (!mod.serverBinaryExists()) {
        available = false;
        return;
      }
      servers = await mod.startClickHouseServers(1, { users: { sightline: PASSWORD } });
    });
    after(async () => {
      await servers?.stop();
    });

    const storeUrl = (withPassword?: string) => servers!.shards[0].url.replace('http://', `clickhouse://sightline${withPassword !== undefined ? `:${withPassword}` : ''}@`) + '/sightline_secrets';

    it('refuses a wrong password with the server\'s reason, echoing neither password', (t) => {
      if (!available) return t.skip('clickhouse-server is not installed');
      const wrong = distinct('WrongPw');
      for (const args of [
        ['--store', storeUrl(), '--store-password-file', secretFile(dir, 'wrong', `${wrong}\n`)],
        ['--store', storeUrl(wrong)],
      ]) {
        const r = serve(args);
        assert.equal(r.code, 1, r.all);
        // ClickHouse 18.16: "Code: 193, e.displayText() = DB::Exception: Wrong password for user sightline".
        assert.match(r.stderr.trim(), /^sightline: cannot open the ClickHouse store at clickhouse:\/\/sightline(:\*\*\*)?@127\.0\.0\.1:\d+\/sightline_secrets: .*(Wrong password|Authentication failed)/);
        assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
        for (const secret of [wrong, PASSWORD]) assert.ok(!r.all.includes(secret), r.all);
      }
    });

    it('starts with the password from the file; it is not on the command line, in the logs, or in a failed query\'s log', async (t) => {
      if (!available) return t.skip('clickhouse-server is not installed');
      const file = secretFile(dir, 'right', `${PASSWORD}\n`);
      const s = await startSightline({ args: ['--store', storeUrl(), '--store-password-file', file, '--flush-interval', '100ms'], timeoutMs: 60_000 });
      try {
        assert.match(String(s.logs.find((l) => l.msg === 'store opened')?.engine), /^ClickHouse 18\.16/);
        assert.ok(!readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').includes(PASSWORD), 'ps does not show it');
        const values = await ingestAndQuery(s);
        await s.stop();
        const output = `${JSON.stringify(s.logs)}\n${s.stderr()}`;
        for (const secret of [PASSWORD, ...values]) assert.ok(!output.includes(secret), `${secret} is not in the output:\n${output}`);
      } finally {
        await s.stop();
        s.cleanup();
      }
    });
  });
});

/** Every directory and file under `root` whose mode is not 0700 / 0600, and the symbolic links found. */
function wideModes(root: string): { wide: string[]; links: string[]; files: string[]; dirs: string[] } {
  const wide: string[] = [];
  const links: string[] = [];
  const files: string[] = [];
  const dirs: string[] = [];
  const walk = (p: string) => {
    const st = lstatSync(p);
    const rel = path.relative(root, p) || '.';
    const mode = st.mode & 0o777;
    if (st.isSymbolicLink()) links.push(rel);
    else if (st.isDirectory()) {
      dirs.push(rel);
      if (mode !== 0o700) wide.push(`${rel}/ ${mode.toString(8)}`);
      for (const name of readdirSync(p)) walk(path.join(p, name));
    } else {
      files.push(rel);
      if (mode !== 0o600) wide.push(`${rel} ${mode.toString(8)}`);
    }
  };
  walk(root);
  return { wide, links, files, dirs };
}

/**
 * Ingests a span with a distinctive attribute value, searches for another,
 * and runs a query the engine refuses (a regular expression valid in RE2's
 * syntax that is too large for the engine's RE2 program limit). Returns the distinctive values.
 */
async function ingestAndQuery(s: Sightline): Promise<string[]> {
  const attribute = distinct('PatientAttr');
  const searched = distinct('PatientSearched');
  const failing = distinct('PatientFailing');
  const traceId = randomBytes(16);
  const body = requestJson(request([span({ traceId, name: 'lookup', attributes: [{ key: 'patient.id', value: { stringValue: attribute } }] })], 'secrets-svc'));
  assert.equal((await postOtlp(s.otlpHttp, body)).status, 200);
  await eventually(async () => ((await fetch(`${s.api}/api/v2/traces/${traceId.toString('hex')}`)).status === 200 ? true : undefined), 20_000, 'the span stored');

  const search = (q: string) => fetch(`${s.api}/api/search?q=${encodeURIComponent(q)}`);
  assert.equal((await search(`{ span.patient.id = "${searched}" }`)).status, 200);
  // On the attribute the stored span has, so the engine compiles the regex whatever it short-circuits.
  // RE2 in JavaScript accepts five letter classes of 1,000 each; the engine's RE2
  // refuses to compile them ("pattern too large", code 427).
  const refused = await search(`{ span.patient.id =~ "${failing}${'\\\\pL{1000}'.repeat(5)}" }`);
  // If validation ever refuses this regex itself (400), pick another query the engine refuses.
  assert.equal(refused.status, 500, await refused.text());
  return [attribute, searched, failing];
}

describe('the data directory', () => {
  it('holds only 0700 directories and 0600 files, the engine\'s parts included, and a wider one is narrowed', async (t) => {
    const parent = tempDir('sightline-files-');
    const dataDir = path.join(parent, 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    try {
      const s = await startSightline({ dataDir, args: ['--flush-interval', '100ms'] });
      try {
        const narrowed = s.logs.find((l) => l.msg === 'the data directory was readable by other users; narrowed to 0700');
        assert.deepEqual([narrowed?.was, narrowed?.now], ['0755', '0700']);
        await ingestAndQuery(s);
        // Merges and the audit files' move into the store run meanwhile; let some happen.
        await new Promise((r) => setTimeout(r, 1500));
      } finally {
        assert.equal(await s.stop(), 0);
      }
      const { wide, links, files, dirs } = wideModes(dataDir);
      // Real parts of the engine, its metadata, the WAL and the audit trail were looked at.
      assert.ok(files.some((f) => f.startsWith('store/') && /\/(data\.bin|columns\.txt|checksums\.txt)$/.test(f)), `engine parts present: ${files.join(', ')}`);
      assert.ok(files.some((f) => f.startsWith('store/') && f.endsWith('.sql')), 'engine metadata present');
      for (const d of ['wal', 'audit', 'store']) assert.ok(dirs.includes(d), `${d}/ present`);
      assert.deepEqual(wide, [], `every directory 0700 and every file 0600 (${files.length} files, ${dirs.length} directories)`);
      // Links carry no mode of their own (their targets were walked above).
      t.diagnostic(`${files.length} files, ${dirs.length} directories, ${links.length} symbolic links: ${links.join(', ')}`);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe('logs', () => {
  it('at info, carry no attribute value, no searched value and no failed query; at debug, the failed query\'s URL and the engine\'s message', async () => {
    const dataDir = tempDir();
    try {
      const s = await startSightline({ dataDir, args: ['--flush-interval', '100ms'] });
      let values: string[];
      try {
        values = await ingestAndQuery(s);
      } finally {
        await s.stop();
      }
      const info = `${JSON.stringify(s.logs)}\n${s.stderr()}`;
      for (const v of values) assert.ok(!info.includes(v), `${v} is not in the info logs:\n${info}`);
      const failed = s.logs.find((l) => l.msg === 'query failed') as { method?: string; route?: string; url?: string; err?: { message?: string; engineCode?: number } } | undefined;
      assert.ok(failed, 'the failed query is logged');
      assert.deepEqual([failed.method, failed.route, failed.url], ['GET', '/api/search', undefined]);
      assert.match(String(failed.err?.message), /withheld below --log-level debug/);
      assert.equal(typeof failed.err?.engineCode, 'number');

      // Debug may carry both: the URL with its TraceQL, and the engine's message.
      const d = await startSightline({ dataDir, args: ['--flush-interval', '100ms', '--log-level', 'debug'] });
      let debugValues: string[];
      try {
        debugValues = await ingestAndQuery(d);
      } finally {
        await d.stop();
      }
      const debugFailed = d.logs.find((l) => l.msg === 'query failed') as { url?: string; err?: { message?: string } } | undefined;
      assert.ok(String(debugFailed?.url).includes(debugValues[2]), 'the URL with its query string');
      assert.ok(!String(debugFailed?.err?.message).includes('withheld'), 'the engine\'s own message');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
