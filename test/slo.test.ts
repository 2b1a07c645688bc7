import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnSync } from 'node:child_process';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { CLI, REPO_ROOT, eventually, startSightline, tempDir, type Sightline } from '../testkit/sightline.js';
import { noticeOf, startWebhookReceiver as startReceiver } from '../testkit/webhook-receiver.js';

/**
 * SLO alerting end to end: spans from the real OpenTelemetry SDK, a
 * planted cause (slow database calls on shard 7), a webhook receiver on
 * loopback. The alert fires within its fast window, names the cause,
 * resolves after the fault stops; a SIGKILL between the recorded intent
 * and the delivery neither loses nor repeats a notification; two
 * processes on one ClickHouse evaluate the SLO once.
 */

function sloFile(dir: string, receiverUrl: string): string {
  const file = path.join(dir, 'slos.yaml');
  writeFileSync(
    file,
    `delivery: { initialBackoff: 1s, maxBackoff: 2s, timeout: 2s }
receivers:
  hook: { url: ${receiverUrl}/alertmanager, format: alertmanager }
  chat: { url: ${receiverUrl}/slack, format: slack }
slos:
  - tenant: single-tenant
    name: gateway-latency
    valid: '{ resource.service.name = "gateway" && kind = server }'
    good: '{ duration < 300ms && status != error }'
    objective: 99
    window: 1h
    alerts:
      - { long: 60s, short: 10s, burnRate: 5, severity: page }
    receivers: [hook, chat]
`,
  );
  return file;
}

/**
 * The gateway's traffic through the SDK: a server span calling the
 * database on a shard. With `fault`, every third request goes to shard 7,
 * whose calls take 600 ms; the others take 20 ms.
 */
class Traffic {
  private provider: BasicTracerProvider;
  private timer: NodeJS.Timeout | null = null;
  fault = false;
  private n = 0;

  constructor(s: Sightline) {
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'gateway' }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${s.otlpHttp}/v1/traces` }), { scheduledDelayMillis: 200 })],
    });
  }

  start(): void {
    const tracer = this.provider.getTracer('slo-test');
    const beat = () => {
      const now = Date.now();
      for (let i = 0; i < 10; i++) {
        this.n++;
        const shard = this.fault && this.n % 3 === 0 ? '7' : String(1 + (this.n % 5));
        const dbMs = shard === '7' ? 600 : 20;
        const start = now - dbMs - 10;
        const root = tracer.startSpan('GET /visits', { kind: SpanKind.SERVER, startTime: start, attributes: { 'http.route': '/visits' } });
        const db = tracer.startSpan('SELECT visits', { kind: SpanKind.CLIENT, startTime: start + 5, attributes: { 'db.shard': shard, 'db.system': 'postgresql' } }, trace.setSpan(context.active(), root));
        db.end(start + 5 + dbMs);
        root.setStatus({ code: SpanStatusCode.OK });
        root.end(start + dbMs + 10);
      }
      this.timer = setTimeout(beat, 250);
    };
    beat();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.provider.shutdown();
  }
}

/** An SLO file for the reload test: one receiver whose URL carries a credential (as a Slack webhook's does), and SLOs on the gateway with 10 s / 3 s windows at 2x. */
function reloadYaml(receiverUrl: string, slos: { name: string; objective: number; good?: string }[]): string {
  const each = slos.map(
    (s) => `  - tenant: single-tenant
    name: ${s.name}
    valid: '{ resource.service.name = "gateway" && kind = server }'
    good: '${s.good ?? '{ duration < 300ms && status != error }'}'
    objective: ${s.objective}
    window: 1h
    alerts: [{ long: 10s, short: 3s, burnRate: 2, severity: page }]
    receivers: [hook]
`,
  );
  return `delivery: { initialBackoff: 1s, maxBackoff: 2s, timeout: 2s }
receivers:
  hook: { url: ${receiverUrl}/services/T0SECRET/B0SECRET/xoxSECRETTOKEN, format: alertmanager }
slos:
${each.join('')}`;
}

const ARGS = (file: string) => ['--slo-config', file, '--slo-interval', '1s', '--flush-interval', '200ms'];

async function sloDetail(s: Sightline): Promise<Record<string, unknown>> {
  const res = await fetch(`${s.api}/api/sightline/slos/single-tenant/gateway-latency`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Record<string, unknown>;
}

type Alert = { status: string; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string; fingerprint: string; generatorURL: string };

describe('SLO alerts', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  before(async () => {
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.close();
  });

  it('fires within its fast window naming the planted cause, resolves after the fault stops, each notice once', async () => {
    const dir = tempDir();
    const s = await startSightline({ dataDir: dir, args: ARGS(sloFile(dir, receiver.url)) });
    const traffic = new Traffic(s);
    try {
      traffic.start();
      await sleep(3000);
      assert.equal(receiver.got.length, 0, 'no alert on good traffic');
      traffic.fault = true;
      const faultAt = Date.now();
      const firing = await eventually(async () => receiver.got.find((r) => r.path === '/alertmanager' && (r.body.status as string) === 'firing'), 30_000, 'the firing notification');
      const firedAfterMs = Date.now() - faultAt;
      // The 10 s short window with a 30x burn crosses 5x within seconds; allow evaluation, flush and diagnosis time.
      assert.ok(firedAfterMs < 20_000, `fired ${firedAfterMs} ms after the fault began`);
      const body = firing.body;
      assert.equal(body.version, '4');
      assert.equal(body.receiver, 'hook');
      assert.equal(body.truncatedAlerts, 0);
      const [alert] = body.alerts as Alert[];
      assert.equal(alert.status, 'firing');
      assert.equal(alert.endsAt, '0001-01-01T00:00:00Z');
      assert.deepEqual(
        { alertname: alert.labels.alertname, slo: alert.labels.slo, tenant: alert.labels.tenant, severity: alert.labels.severity },
        { alertname: 'SLOErrorBudgetBurn', slo: 'gateway-latency', tenant: 'single-tenant', severity: 'page' },
      );
      assert.match(alert.fingerprint, /^[0-9a-f]{16}$/);
      // The SLO's page in the web UI, on the API listener (no externalUrl configured).
      assert.equal(alert.generatorURL, `${s.api}/slos/single-tenant/gateway-latency`);
      // The diagnosis: the planted attribute leads, and the database call holds the extra time.
      assert.match(alert.annotations.diagnosis_attributes, /^span\.db\.shard = "7" in 100% of bad traces vs 0% of good/, alert.annotations.diagnosis_attributes);
      assert.match(alert.annotations.diagnosis_operation, /^gateway "SELECT visits": \+\d+ ms/, alert.annotations.diagnosis_operation);
      const compare = new URL(alert.annotations.compare_url);
      assert.equal(compare.pathname, '/compare');
      assert.equal(compare.searchParams.get('q'), '{ (resource.service.name = "gateway" && kind = server) && !(duration < 300ms && status != error) }');
      const [start, end] = [Number(compare.searchParams.get('start')), Number(compare.searchParams.get('end'))];
      assert.ok(end - start >= 59 && end - start <= 61 && Math.abs(end * 1000 - Date.parse(alert.startsAt)) < 2000, `${start}..${end} vs ${alert.startsAt}`);
      assert.equal(new URL(alert.annotations.examples_url).pathname, '/search');
      const slack = await eventually(async () => receiver.got.find((r) => r.path === '/slack'), 10_000, 'the Slack message');
      assert.match(String(slack.body.text), /FIRING\* gateway-latency[\s\S]*db\.shard = "7"/);

      traffic.fault = false;
      const resolved = await eventually(async () => receiver.got.find((r) => r.path === '/alertmanager' && r.body.status === 'resolved'), 40_000, 'the resolved notification');
      const [r] = resolved.body.alerts as Alert[];
      assert.equal(r.startsAt, alert.startsAt);
      assert.equal(r.fingerprint, alert.fingerprint);
      assert.ok(Date.parse(r.endsAt) > Date.parse(r.startsAt));
      await sleep(3000);
      for (const p of ['/alertmanager', '/slack']) assert.equal(receiver.got.filter((g) => g.path === p).length, 2, `${p}: one firing and one resolved, no repeat`);

      const detail = await sloDetail(s);
      const history = detail.history as { status: string }[];
      assert.deepEqual(history.map((h) => h.status), ['resolved', 'firing']);
      const deliveries = detail.deliveries as { state: string }[];
      assert.equal(deliveries.length, 4);
      assert.ok(deliveries.every((d) => d.state === 'delivered'), JSON.stringify(deliveries));
      const attempts = detail.attempts as { statusCode: number; receiver: string }[];
      assert.equal(attempts.length, 4);
      assert.ok(attempts.every((a) => a.statusCode === 200));
      assert.equal(detail.state, 'ok');
      assert.ok((detail.budgetRemaining as number) < 1);
      assert.equal(detail.evaluatedHere, true);
      // No span attribute value reaches the logs.
      assert.ok(!JSON.stringify(s.logs).includes('"7"') && !JSON.stringify(s.logs).includes('db.shard'), 'no attribute value in the logs');
    } finally {
      await traffic.stop();
      await s.stop();
      s.cleanup();
      receiver.got.length = 0;
    }
  });

  it('neither loses nor repeats a notification across a SIGKILL between intent and delivery', async () => {
    const dir = tempDir();
    const file = sloFile(dir, receiver.url);
    receiver.failing = true;
    let s = await startSightline({ dataDir: dir, args: ARGS(file) });
    let traffic = new Traffic(s);
    try {
      traffic.start();
      traffic.fault = true;
      // The intent is recorded and delivery refused: at least one 503 per receiver.
      await eventually(async () => (receiver.got.filter((g) => g.answered === 503).length >= 2 ? true : undefined), 30_000, 'refused deliveries');
      await traffic.stop();
      await s.kill();
      receiver.failing = false;
      s = await startSightline({ dataDir: dir, args: ARGS(file) });
      traffic = new Traffic(s);
      traffic.fault = true;
      traffic.start();
      const accepted = () => receiver.got.filter((g) => g.answered === 200);
      await eventually(async () => (accepted().length >= 2 ? true : undefined), 30_000, 'delivery after the restart');
      // The alert still burns: the restarted process must not fire it again.
      await sleep(5000);
      const firingKeys = accepted().filter((g) => g.body.status === 'firing' || String(g.body.text).includes('FIRING')).map((g) => g.key);
      assert.equal(firingKeys.length, 2, JSON.stringify(firingKeys));
      assert.equal(new Set(firingKeys).size, 2, 'one per receiver');
      const refusedKeys = new Set(receiver.got.filter((g) => g.answered === 503).map((g) => g.key));
      assert.deepEqual([...new Set(firingKeys)].sort(), [...refusedKeys].sort(), 'the notices delivered are those refused before the kill');
      const detail = await sloDetail(s);
      assert.deepEqual((detail.history as { status: string }[]).map((h) => h.status), ['firing']);
      const attempts = detail.attempts as { statusCode: number }[];
      assert.ok(attempts.some((a) => a.statusCode === 503) && attempts.filter((a) => a.statusCode === 200).length === 2, JSON.stringify(attempts));
    } finally {
      await traffic.stop();
      await s.stop();
      s.cleanup();
      receiver.got.length = 0;
      receiver.failing = false;
    }
  });

  it('re-reads the SLO file on SIGHUP: an added SLO is evaluated, a removed one falls silent, a changed objective counts, a bad file is refused at its line and column', async () => {
    const dir = tempDir('sightline-slo-');
    const file = path.join(dir, 'slos.yaml');
    writeFileSync(file, reloadYaml(receiver.url, [{ name: 'gateway-latency', objective: 50 }, { name: 'visits-retired', objective: 90 }]));
    const s = await startSightline({ args: ARGS(file) });
    const traffic = new Traffic(s);
    const notices = (slo: string) => receiver.got.flatMap((r) => (noticeOf(r)?.slo === slo ? [noticeOf(r)!.status] : []));
    const listed = async () => {
      const res = await fetch(`${s.api}/api/sightline/slos`);
      assert.equal(res.status, 200);
      return ((await res.json()) as { slos: { name: string; objective: number }[] }).slos.map(({ name, objective }) => ({ name, objective })).sort((a, b) => (a.name < b.name ? -1 : 1));
    };
    const detail = async (name: string) => (await (await fetch(`${s.api}/api/sightline/slos/single-tenant/${name}`)).json()) as { evaluatedHere: boolean; burnRates: { window: string; burnRate: number }[] };
    const logLine = (msg: string) => eventually(async () => s.logs.find((l) => l.msg === msg), 10_000, `the log line "${msg}"`);
    try {
      // A third of the requests are slow throughout: that burns the budget
      // 0.67x at 50%, 3.3x at 90%, 6.7x at 95% and 33x at 99%; alerts fire at 2x.
      traffic.fault = true;
      traffic.start();
      await eventually(async () => (notices('visits-retired').includes('firing') ? true : undefined), 30_000, 'visits-retired firing');
      const latency = await detail('gateway-latency');
      assert.equal(latency.evaluatedHere, true);
      const burn3s = latency.burnRates.find((b) => b.window === '3s')!.burnRate;
      assert.ok(burn3s > 0.3 && burn3s < 2, `gateway-latency at 50% burns ${burn3s}x: evaluated, below its 2x`);
      assert.deepEqual(notices('gateway-latency'), []);
      assert.deepEqual(await listed(), [
        { name: 'gateway-latency', objective: 50 },
        { name: 'visits-retired', objective: 90 },
      ]);

      // Changed, added and removed at once.
      writeFileSync(file, reloadYaml(receiver.url, [{ name: 'gateway-latency', objective: 99 }, { name: 'visits-new', objective: 95 }]));
      process.kill(s.pid, 'SIGHUP');
      const reread = await logLine('SLOs re-read from the SLO file');
      assert.deepEqual(
        { slos: reread.slos, added: reread.added, removed: reread.removed, changed: reread.changed },
        { slos: 2, added: ['single-tenant/visits-new'], removed: ['single-tenant/visits-retired'], changed: ['single-tenant/gateway-latency'] },
      );
      assert.deepEqual(await listed(), [
        { name: 'gateway-latency', objective: 99 },
        { name: 'visits-new', objective: 95 },
      ]);
      assert.equal((await fetch(`${s.api}/api/sightline/slos/single-tenant/visits-retired`)).status, 404);
      const firing = await eventually(
        async () => {
          const latencyFiring = receiver.got.find((r) => noticeOf(r)?.slo === 'gateway-latency');
          return latencyFiring && notices('visits-new').includes('firing') ? latencyFiring : undefined;
        },
        30_000,
        'the changed and the added SLO firing',
      );
      const [alert] = firing.body.alerts as Alert[];
      assert.match(alert.annotations.summary, /as fast as 99% over 1h allows/, 'evaluated with the new objective');
      assert.ok(Number(alert.annotations.burn_rate_long) > 10, alert.annotations.summary);
      assert.equal((await detail('visits-new')).evaluatedHere, true);

      // A file that does not load: the SLOs in use stay, and the log says where and why, without the file's strings or receiver URLs.
      const bad = reloadYaml(receiver.url, [
        { name: 'gateway-latency', objective: 10 },
        { name: 'visits-new', objective: 95, good: '{ duration < 300ms && span.patient.name "Ada Lovelace" }' },
      ]);
      writeFileSync(file, bad);
      process.kill(s.pid, 'SIGHUP');
      const refused = await logLine('SLO file not re-read; the SLOs in use are unchanged');
      const lines = bad.split('\n');
      const line = lines.findIndex((l) => l.includes('"Ada Lovelace"'));
      assert.equal(refused.err, `${file}:${line + 1}:${lines[line].indexOf('"Ada Lovelace"') + 1}: good is not valid TraceQL: expected '}', found a string`);
      assert.equal(refused.level, 50);
      assert.deepEqual(await listed(), [
        { name: 'gateway-latency', objective: 99 },
        { name: 'visits-new', objective: 95 },
      ]);

      // Still evaluated after the refused file: both resolve once the fault stops. The removed
      // SLO, whose short window is as short, would have resolved first: it sends nothing more.
      traffic.fault = false;
      await eventually(async () => (notices('gateway-latency').includes('resolved') && notices('visits-new').includes('resolved') ? true : undefined), 30_000, 'both resolved');
      await sleep(2000);
      assert.deepEqual(
        { latency: notices('gateway-latency'), added: notices('visits-new'), removed: notices('visits-retired') },
        { latency: ['firing', 'resolved'], added: ['firing', 'resolved'], removed: ['firing'] },
      );
      const logged = JSON.stringify(s.logs) + s.stderr();
      for (const secret of ['SECRET', 'Ada Lovelace']) assert.ok(!logged.includes(secret), `${secret} in the logs`);
    } finally {
      await traffic.stop();
      await s.stop();
      s.cleanup();
      rmSync(dir, { recursive: true, force: true });
      receiver.got.length = 0;
    }
  });

  it('refuses a bad SLO file at start with its line and column', () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, `slos:\n  - tenant: t\n    name: x\n    valid: '{ duration > }'\n    good: '{ }'\n    objective: 99\n    window: 1h\n`);
    const res = spawnSync(process.execPath, [CLI, 'serve', '--data', dir, '--slo-config', file], { encoding: 'utf8', cwd: REPO_ROOT });
    assert.equal(res.status, 2);
    assert.match(res.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4:\\d+: valid is not valid TraceQL`));
  });
});

describe('SLO lease on one ClickHouse', () => {
  interface Servers {
    shards: { url: string }[];
    stop(): Promise<void>;
  }
  let servers: Servers;
  before(async () => {
    const mod = (await import(path.join(REPO_ROOT, 'scripts', 'clickhouse-test-servers.mjs'))) as { startClickHouseServers(n: number): Promise<Servers> };
    servers = await mod.startClickHouseServers(1);
  });
  after(async () => {
    await servers?.stop();
  });

  it('two processes: exactly one evaluates the SLO, and the other takes over when it dies', async () => {
    const receiver = await startReceiver();
    const dir = tempDir();
    const file = sloFile(dir, receiver.url);
    const store = `clickhouse://default@${servers.shards[0].url.replace('http://', '')}/slolease`;
    const [a, b] = await Promise.all([startSightline({ args: ['--store', store, ...ARGS(file)] }), startSightline({ args: ['--store', store, ...ARGS(file)] })]);
    try {
      const holders = async () => Promise.all([a, b].map(async (s) => (await sloDetail(s)).evaluatedHere as boolean));
      const settled = await eventually(async () => {
        const h = await holders();
        return h.some(Boolean) ? h : undefined;
      }, 20_000, 'a lease holder');
      for (let i = 0; i < 5; i++) {
        await sleep(1000);
        const h = await holders();
        assert.equal(h.filter(Boolean).length, 1, `exactly one holder: ${JSON.stringify(h)}`);
        assert.deepEqual(h, settled, 'the holder keeps its lease');
      }
      const [holder, other] = settled[0] ? [a, b] : [b, a];
      await holder.kill();
      await eventually(async () => ((await sloDetail(other)).evaluatedHere ? true : undefined), 20_000, 'the other process taking over');
    } finally {
      await a.stop();
      await b.stop();
      a.cleanup();
      b.cleanup();
      await receiver.close();
    }
  });
});
