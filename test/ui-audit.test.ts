import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page, type Response } from 'playwright-core';
import { startSightline, eventually, tempDir, REPO_ROOT, type Sightline } from '../testkit/sightline.js';
import { createToken } from '../src/auth/tokens.js';
import type { Role } from '../src/auth/index.js';
import { nowNs, postOtlp, request, requestJson, span } from '../testkit/fixtures.js';

/**
 * The audit trail page in Debian's chromium. Sightline runs as the CLI with
 * a --config of tokens: an admin of clinic-a, two viewers of clinic-a, a
 * viewer of clinic-b and a collector. The viewers read traces over the API;
 * then the browser, its credentials added to every request as a reverse
 * proxy would (Authorization), opens /audit. The rows must be exactly the
 * reads done, with the counts the viewers were answered, newest first; the
 * who and route filters narrow them; a viewer is told only admins may read
 * the trail.
 */

const CHROMIUM = '/usr/bin/chromium';
const TRACE_1 = randomBytes(16).toString('hex');
const TRACE_2 = randomBytes(16).toString('hex');
const TRACE_B = randomBytes(16).toString('hex');
const MISSING = randomBytes(16).toString('hex');

interface Tok {
  name: string;
  token: string;
  /** As the audit trail names it. */
  identity: string;
}

/** What a read returned, as the audit trail should record it. */
interface Read {
  identity: string;
  route: string;
  status: number;
  results: number;
  /** A `key=value` the record's detail must show. */
  asked: string;
}

interface Row {
  time: number;
  identity: string;
  route: string;
  status: number;
  results: string;
  timeText: string;
  expectedTimeText: string;
  tenants: string;
  asked: string;
  peer: string;
}

interface AuditAnswer {
  records: { time: number; identity: string; action: string; status: number; results: number; tenants: string[] }[];
}

/** Spans of one trace, as OTLP/HTTP JSON, into `tenant` with the collector's token. */
async function ingest(s: Sightline, token: string, tenant: string, service: string, traceId: string, ward: string, spans: number): Promise<void> {
  const end = nowNs();
  const body = requestJson(
    request(
      Array.from({ length: spans }, (_, i) =>
        span({
          traceId: Buffer.from(traceId, 'hex'),
          name: i === 0 ? 'GET /patients' : `SELECT ward ${i}`,
          kind: i === 0 ? 2 : 3,
          startNs: end - 20_000_000n + BigInt(i) * 1_000_000n,
          endNs: end - BigInt(i) * 1_000_000n,
          attributes: [{ key: 'ward.id', value: { stringValue: ward } }],
        }),
      ),
      service,
    ),
  );
  const r = await postOtlp(s.otlpHttp, body, { authorization: `Bearer ${token}`, 'x-scope-orgid': tenant });
  assert.equal(r.status, 200, r.body.toString());
}

/** Spans in a Tempo trace answer (v1 `batches`, v2 `trace.resourceSpans`): every `spans` array, summed. */
function countSpans(json: unknown): number {
  if (Array.isArray(json)) return json.reduce((n: number, x) => n + countSpans(x), 0);
  if (!json || typeof json !== 'object') return 0;
  return Object.entries(json).reduce((n, [k, v]) => n + (k === 'spans' && Array.isArray(v) ? v.length : countSpans(v)), 0);
}

describe('audit trail page in chromium', { timeout: 180_000 }, () => {
  const dir = tempDir('sightline-ui-audit-');
  let s: Sightline;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  const tok: Record<'ops' | 'grafana' | 'nurse' | 'billing' | 'collector', Tok> = {} as never;
  /** The viewers' reads of clinic-a, in the order they were made. */
  const reads: Read[] = [];

  const make = (name: keyof typeof tok, roles: Role[], tenants: string[]) => {
    const t = createToken(name, roles, tenants);
    tok[name] = { name, token: t.token, identity: `token:${name}` };
    return `  - { name: ${name}, id: ${t.entry.id}, hash: "${t.entry.hash}", roles: [${roles.join(', ')}], tenants: [${tenants.join(', ')}] }\n`;
  };

  /** A read as `who`, recorded with what it answered (trace reads count spans, searches traces, tag values values). */
  async function read(who: Tok, url: string, kind: 'trace' | 'search' | 'values', route: string, asked: string, expect: { status: number; results?: number }): Promise<void> {
    const r = await fetch(`${s.api}${url}`, { headers: { authorization: `Bearer ${who.token}` } });
    assert.equal(r.status, expect.status, `${who.name} ${url}: ${r.status}`);
    let results = 0;
    if (r.status === 200) {
      const json = (await r.json()) as { traces?: unknown[]; tagValues?: unknown[] };
      results = kind === 'trace' ? countSpans(json) : kind === 'search' ? (json.traces?.length ?? -1) : (json.tagValues?.length ?? -1);
    } else await r.text();
    if (expect.results !== undefined) assert.equal(results, expect.results, `${who.name} ${url}: results`);
    if (who !== tok.billing) reads.push({ identity: who.identity, route, status: r.status, results, asked });
  }

  async function newPage(token: string): Promise<Page> {
    // Credentials on every request, as a reverse proxy in front of Sightline would add them.
    const ctx = await browser.newContext({ extraHTTPHeaders: { Authorization: `Bearer ${token}` }, viewport: { width: 1400, height: 900 } });
    ctx.setDefaultTimeout(20_000);
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    return page;
  }

  const isAuditCall = (r: Response) => new URL(r.url()).pathname === '/api/sightline/audit';

  /** The rows the page shows, with what each cell says (evaluated in the page, with its time zone). */
  async function rows(page: Page): Promise<Row[]> {
    return page.evaluate<Row[]>(`[...document.querySelectorAll('[data-testid=audit-table] tbody tr')].map((tr) => {
      const cells = [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '');
      const time = Number(tr.dataset.time);
      const d = new Date(time);
      const p = (n, w = 2) => String(n).padStart(w, '0');
      return {
        time,
        identity: tr.dataset.identity ?? '',
        route: tr.dataset.route ?? '',
        status: Number(tr.dataset.status),
        results: tr.dataset.results ?? '',
        timeText: cells[0],
        expectedTimeText: d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.' + p(d.getMilliseconds(), 3),
        tenants: cells[2],
        asked: cells[4],
        peer: cells[7],
      };
    })`);
  }

  /** Loads `url` (or runs `act`) and waits for the page's audit call and the table it leads to. */
  async function auditView(page: Page, act: () => Promise<unknown>): Promise<{ answer: AuditAnswer; response: Response; shown: Row[] }> {
    const responded = page.waitForResponse(isAuditCall);
    await act();
    const response = await responded;
    assert.equal(response.status(), 200, await response.text());
    const answer = (await response.json()) as AuditAnswer;
    await page.waitForFunction(`document.querySelectorAll('[data-testid=audit-table] tbody tr').length === ${answer.records.length} && !document.querySelector('.state-loading')`);
    return { answer, response, shown: await rows(page) };
  }

  const viewerRows = (shown: Row[]) => shown.filter((r) => r.identity !== tok.ops.identity);
  const asRead = (r: Row): Omit<Read, 'asked'> => ({ identity: r.identity, route: r.route, status: r.status, results: Number(r.results) });
  const withoutAsked = (r: Read): Omit<Read, 'asked'> => ({ identity: r.identity, route: r.route, status: r.status, results: r.results });

  before(async () => {
    if (!existsSync(CHROMIUM)) execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'chromium.mjs')], { stdio: 'inherit' });
    const config = path.join(dir, 'sightline.yaml');
    writeFileSync(
      config,
      'tokens:\n' +
        make('ops', ['admin'], ['clinic-a']) +
        make('grafana', ['viewer'], ['clinic-a']) +
        make('nurse', ['viewer'], ['clinic-a']) +
        make('billing', ['viewer'], ['clinic-b']) +
        make('collector', ['ingester'], ['clinic-a', 'clinic-b']),
      { mode: 0o600 },
    );
    s = await startSightline({ dataDir: path.join(dir, 'data'), args: ['--config', config, '--flush-interval', '200ms'] });
    await ingest(s, tok.collector.token, 'clinic-a', 'frontdesk', TRACE_1, 'W-1', 3);
    await ingest(s, tok.collector.token, 'clinic-a', 'frontdesk', TRACE_2, 'W-3', 2);
    await ingest(s, tok.collector.token, 'clinic-b', 'frontdesk', TRACE_B, 'W-9', 4);
    // Tag names are not span data: asking them is not audited, so waiting leaves no records.
    for (const t of [tok.grafana, tok.billing])
      await eventually(
        async () => {
          const r = await fetch(`${s.api}/api/search/tags`, { headers: { authorization: `Bearer ${t.token}` } });
          return r.status === 200 && ((await r.json()) as { tagNames: string[] }).tagNames.includes('ward.id') ? true : undefined;
        },
        15_000,
        `spans of ${t.name}'s tenant to be stored`,
      );

    const search = (q: string) => `/api/search?q=${encodeURIComponent(q)}&limit=20`;
    await read(tok.grafana, search('{ resource.service.name = "frontdesk" }'), 'search', 'GET /api/search', 'q={ resource.service.name = "frontdesk" }', { status: 200, results: 2 });
    await read(tok.grafana, `/api/traces/${TRACE_1}`, 'trace', 'GET /api/traces/:traceId', `traceId=${TRACE_1}`, { status: 200, results: 3 });
    await read(tok.nurse, `/api/v2/traces/${TRACE_2}`, 'trace', 'GET /api/v2/traces/:traceId', `traceId=${TRACE_2}`, { status: 200, results: 2 });
    // Another tenant's read, which clinic-a's admin must not see.
    await read(tok.billing, search('{ }'), 'search', 'GET /api/search', 'q={ }', { status: 200, results: 1 });
    await read(tok.nurse, search('{ span.ward.id = "W-3" }'), 'search', 'GET /api/search', 'q={ span.ward.id = "W-3" }', { status: 200, results: 1 });
    await read(tok.grafana, `/api/v2/traces/${MISSING}`, 'trace', 'GET /api/v2/traces/:traceId', `traceId=${MISSING}`, { status: 404 });
    await read(tok.grafana, '/api/v2/search/tag/resource.service.name/values', 'values', 'GET /api/v2/search/tag/:tagName/values', 'tagName=resource.service.name', { status: 200, results: 1 });
    assert.equal(reads.length, 6);

    // The records reach the audit table from the fsynced file every 2 s.
    await eventually(
      async () => {
        const r = await fetch(`${s.api}/api/sightline/audit`, { headers: { authorization: `Bearer ${tok.ops.token}` } });
        const j = (await r.json()) as AuditAnswer;
        return j.records.filter((x) => x.identity !== tok.ops.identity).length === reads.length ? true : undefined;
      },
      20_000,
      'the viewers’ reads in the audit trail',
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'], timeout: 60_000 });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await s?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  let admin: Page;

  it('shows an admin exactly the reads done in their tenant, newest first, with what each returned', async () => {
    admin = await newPage(tok.ops.token);
    const { answer, response, shown } = await auditView(admin, () => admin.goto(`${s.api}/audit`));
    // Every tenant the admin holds, whatever the picker says; the default range (24h) and limit.
    assert.equal(response.request().headers()['x-scope-orgid'], 'clinic-a');
    const asked = new URL(response.url()).searchParams;
    assert.equal(Number(asked.get('end')) - Number(asked.get('start')), 86_400);
    assert.equal(asked.get('limit'), '100');
    assert.equal(asked.get('identity'), null);

    // The table is the API's answer, row for row.
    assert.deepEqual(
      shown.map((r) => [r.time, r.identity, r.route, r.status, r.results]),
      answer.records.map((r) => [r.time, r.identity, r.action, r.status, r.results >= 0 ? String(r.results) : '']),
    );
    // Newest first: times really descend, and each is shown as recorded.
    for (let i = 1; i < shown.length; i++) assert.ok(shown[i - 1].time >= shown[i].time, `row ${i} is newer than the row above it`);
    for (const r of shown) assert.equal(r.timeText, r.expectedTimeText);
    // The viewers' rows are the reads done, in reverse order, with the counts they were answered.
    assert.deepEqual(viewerRows(shown).map(asRead), [...reads].reverse().map(withoutAsked));
    viewerRows(shown).forEach((r, i) => assert.ok(r.asked.includes([...reads].reverse()[i].asked), `row ${i} says what was asked: ${r.asked}`));
    // The rest are the admin's own reads of the trail (the waits above); none of clinic-b.
    for (const r of shown.filter((x) => x.identity === tok.ops.identity)) assert.equal(r.route, 'GET /api/sightline/audit');
    assert.equal(shown.filter((r) => r.identity === tok.billing.identity).length, 0);
    for (const r of shown) {
      assert.equal(r.tenants, 'clinic-a');
      assert.equal(r.peer, '127.0.0.1');
    }
    assert.match(await admin.locator('[data-testid=audit-scope]').innerText(), /Tenants: clinic-a/);
    // The nav link is there for an admin, and marks this page.
    const nav = admin.locator('[data-testid=nav-audit]');
    assert.equal(await nav.getAttribute('href'), '/audit');
    assert.match((await nav.getAttribute('class')) ?? '', /active/);
  });

  it('narrows to one identity with the who filter, in the URL and asked of the API', async () => {
    const { response, shown } = await auditView(admin, async () => {
      await admin.locator('[data-testid=audit-who]').fill(tok.nurse.identity);
      await admin.locator('[data-testid=audit-apply]').click();
    });
    assert.equal(new URL(admin.url()).pathname + new URL(admin.url()).search, '/audit?who=token%3Anurse');
    assert.equal(new URL(response.url()).searchParams.get('identity'), tok.nurse.identity);
    const nurse = reads.filter((r) => r.identity === tok.nurse.identity);
    assert.equal(nurse.length, 2);
    assert.deepEqual(shown.map(asRead), [...nurse].reverse().map(withoutAsked));
    // Reload: the filter lives in the URL.
    const again = await auditView(admin, () => admin.reload());
    assert.deepEqual(again.shown.map(asRead), [...nurse].reverse().map(withoutAsked));
    assert.equal(await admin.locator('[data-testid=audit-who]').inputValue(), tok.nurse.identity);
  });

  it('narrows by route, and by a clicked identity, and clears', async () => {
    const byRoute = await auditView(admin, () => admin.goto(`${s.api}/audit?route=${encodeURIComponent('GET /api/search')}`));
    assert.equal(new URL(byRoute.response.url()).searchParams.get('action'), 'GET /api/search');
    assert.deepEqual(
      byRoute.shown.map(asRead),
      reads
        .filter((r) => r.route === 'GET /api/search')
        .reverse()
        .map(withoutAsked),
    );
    // A click on an identity keeps the route filter and adds that identity.
    const clicked = await auditView(admin, () => admin.locator('[data-testid=audit-table] tbody tr[data-identity="token:grafana"] td:nth-child(2) a').click());
    assert.equal(new URL(admin.url()).search, `?who=token%3Agrafana&route=${encodeURIComponent('GET /api/search').replace(/%20/g, '+')}`);
    assert.deepEqual(
      clicked.shown.map(asRead),
      reads
        .filter((r) => r.route === 'GET /api/search' && r.identity === tok.grafana.identity)
        .reverse()
        .map(withoutAsked),
    );
    const cleared = await auditView(admin, () => admin.locator('[data-testid=audit-clear]').click());
    assert.equal(new URL(admin.url()).search, '');
    assert.deepEqual(viewerRows(cleared.shown).map(asRead), [...reads].reverse().map(withoutAsked));
  });

  it('tells a viewer that only admins can read the trail, and shows no rows nor the nav link', async () => {
    const viewer = await newPage(tok.grafana.token);
    const responded = viewer.waitForResponse(isAuditCall);
    await viewer.goto(`${s.api}/audit`);
    assert.equal((await responded).status(), 403);
    const message = viewer.locator('[data-testid=audit-forbidden]');
    await message.waitFor();
    assert.match(await message.innerText(), /Only admins can read the audit trail/);
    assert.equal(await viewer.locator('[data-testid=audit-table] tbody tr').count(), 0);
    assert.equal(await viewer.locator('[data-testid=audit-who]').count(), 0, 'no filters to offer');
    assert.equal(await viewer.locator('[data-testid=nav-audit]').count(), 0);
    // The rest of the UI is the viewer's as usual.
    await viewer.goto(`${s.api}/search`);
    await viewer.locator('[data-testid=results]').waitFor();
    assert.equal(await viewer.locator('[data-testid=nav-audit]').count(), 0);
  });

  it('threw no errors in the pages', () => {
    assert.deepEqual(pageErrors, []);
  });
});
