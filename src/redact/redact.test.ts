import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { otlp, encode } from '../../testkit/otlp-schema.js';
import { ByteWriter } from '../model/byte-writer.js';
import { ResourceBatchBuilder, SpanBatchBuilder, type ArrayGroup, type AttributeColumns } from '../model/span-batch.js';
import { ProtobufSpanDecoder } from '../receivers/decode-protobuf.js';
import { JsonSpanDecoder } from '../receivers/decode-json.js';
import { ResourceRows } from '../receivers/row-templates.js';
import { parseConfigFile } from '../config/file.js';
import { parseDuration } from '../config/index.js';
import { compileRedaction, RedactionConfigError, RedactionPolicy, type SpanRedactor } from './index.js';

/**
 * Rule sets at work on real decoder output: requests decoded by both
 * decoders into Native columns, redacted as the receiver does, then read
 * back column by column.
 */

const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-redact-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const KEY = path.join(dir, 'redaction.key');
writeFileSync(KEY, 'k'.repeat(48));
const OTHER_KEY = path.join(dir, 'other.key');
writeFileSync(OTHER_KEY, 'z'.repeat(48));

function policyFrom(yaml: string, configDir = dir): RedactionPolicy {
  const file = parseConfigFile(yaml, path.join(configDir, 'sightline.yaml'), parseDuration);
  return new RedactionPolicy(compileRedaction(file.redaction, configDir));
}

const T = '0102030405060708090a0b0c0d0e0f10';
const str = (v: string) => ({ stringValue: v });
const kv = (key: string, value: unknown) => ({ key, value });

/** A request with a value of each kind in each place rules apply to (OTLP/JSON form). */
function request(spans: Record<string, unknown>[], resourceAttrs: unknown[] = []): Record<string, unknown> {
  return {
    resourceSpans: [
      {
        resource: { attributes: [kv('service.name', str('clinic-api')), ...resourceAttrs] },
        scopeSpans: [{ scope: { name: 'lib', version: '1', attributes: [kv('scope.owner', str('jane@clinic.example'))] }, spans }],
      },
    ],
  };
}

let spanN = 0;
function span(fields: Record<string, unknown> = {}): Record<string, unknown> {
  spanN++;
  return {
    traceId: T,
    spanId: (0x1000 + spanN).toString(16).padStart(16, '0'),
    name: 'op',
    kind: 2,
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000001000000000',
    ...fields,
  };
}

/** OTLP/JSON object to protobuf bytes (hex ids to bytes). */
function toProtobuf(req: Record<string, unknown>): Buffer {
  const fix = (v: unknown, k = ''): unknown => {
    if (Array.isArray(v)) return v.map((x) => fix(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([kk, vv]) => [kk, fix(vv, kk)]));
    if (typeof v === 'string' && /^(traceId|spanId|parentSpanId)$/.test(k)) return Buffer.from(v, 'hex');
    return v;
  };
  return encode(otlp.ExportTraceServiceRequest, fix(req) as Record<string, unknown>);
}

interface DecodedSpan {
  name: string;
  status: string;
  service: string;
  resourceId: string;
  attrs: Record<string, unknown>;
  events: { name: string; attrs: string }[];
  links: string[];
}

interface Decoded {
  spans: DecodedSpan[];
  resources: { id: string; service: string; attrs: Record<string, unknown>; scopeAttrs: string }[];
  /** Every byte of both Native blocks, as the WAL would get them. */
  bytes: Buffer;
}

function decode(req: Record<string, unknown>, redaction: SpanRedactor | null, encoding: 'protobuf' | 'json' = 'protobuf'): Decoded {
  const spans = new SpanBatchBuilder();
  const resources = new ResourceBatchBuilder();
  const rows = new ResourceRows(resources, () => false, 1_700_000_000_000_000_000n);
  const opts = { minStartNs: 0, retentionText: '7d', redaction };
  if (encoding === 'protobuf') new ProtobufSpanDecoder().decode(toProtobuf(req), spans, rows, opts);
  else new JsonSpanDecoder().decode(Buffer.from(JSON.stringify(req)), spans, rows, opts);
  redaction?.redactSpans(spans);
  spans.fillTenant('t');
  resources.fillTenant('t');
  const out: Decoded = { spans: [], resources: [], bytes: Buffer.concat([spans.toBuffer(), resources.toBuffer()]) };
  const names = strings(spans.name.data);
  const status = strings(spans.statusMessage.data);
  const services = strings(spans.serviceName.data);
  const attrs = attributeRows(spans.attrs, spans.rows, true);
  const eventNames = strings(spans.events.data(1));
  const eventAttrs = strings(spans.events.data(2));
  const linkAttrs = strings(spans.links.data(2));
  const eventEnds = offsets(spans.events, spans.rows);
  const linkEnds = offsets(spans.links, spans.rows);
  for (let r = 0; r < spans.rows; r++) {
    const e0 = r === 0 ? 0 : eventEnds[r - 1];
    const l0 = r === 0 ? 0 : linkEnds[r - 1];
    out.spans.push({
      name: names[r],
      status: status[r],
      service: services[r],
      resourceId: spans.resourceId.data.buf.toString('hex', r * 8, r * 8 + 8),
      attrs: attrs[r],
      events: eventNames.slice(e0, eventEnds[r]).map((name, i) => ({ name, attrs: eventAttrs[e0 + i] })),
      links: linkAttrs.slice(l0, linkEnds[r]),
    });
  }
  const resAttrs = attributeRows(resources.attrs, resources.rows, true);
  const resServices = strings(resources.serviceName.data);
  const scopeAttrs = strings(resources.scopeAttrs.data);
  for (let r = 0; r < resources.rows; r++)
    out.resources.push({ id: resources.resourceId.data.buf.toString('hex', r * 8, r * 8 + 8), service: resServices[r], attrs: resAttrs[r], scopeAttrs: scopeAttrs[r] });
  return out;
}

function strings(w: ByteWriter): string[] {
  const out: string[] = [];
  let pos = 0;
  while (pos < w.len) {
    let len = 0;
    let mul = 1;
    for (;;) {
      const b = w.buf[pos++];
      len += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 0x80;
    }
    out.push(w.buf.toString('utf8', pos, pos + len));
    pos += len;
  }
  return out;
}

function offsets(g: ArrayGroup, rows: number): number[] {
  return Array.from({ length: rows }, (_, r) => Number(g.offsets.buf.readBigUInt64LE(r * 8)));
}

function attributeRows(a: AttributeColumns, rows: number, withOffsets: boolean): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = Array.from({ length: rows }, () => ({}));
  const groups = a.groups();
  groups.forEach((g, gi) => {
    const keys = strings(g.data(0));
    const ends = withOffsets ? offsets(g, rows) : [g.count];
    const values: unknown[] = [];
    const v = g.data(1);
    if (gi === 0 || gi === 4) values.push(...strings(v));
    else for (let i = 0; i < keys.length; i++) values.push(gi === 1 ? v.buf.readBigInt64LE(i * 8) : gi === 2 ? v.buf.readDoubleLE(i * 8) : v.buf[i] === 1);
    let e = 0;
    for (let r = 0; r < rows; r++) for (; e < ends[r]; e++) out[r][keys[e]] = values[e];
  });
  return out;
}

const HMAC = /^hmac:[0-9a-f]{32}$/;

describe('redaction rules on decoded spans', () => {
  const policy = policyFrom(`
redaction:
  hashKeyFile: redaction.key
  default:
    drop: ["http.request.header.*", "*.password"]
    hash: [patient.id, enduser.id]
    mask:
      - pattern: "ACCT-[0-9]+"
        replacement: "[ACCOUNT]"
      - pattern: "secret-[a-z]+"
        keys: [note.*]
`);
  const r = policy.forTenant('any')!;

  it('drops keys by glob from span, resource, scope, event and link attributes, and inside kvlists', () => {
    const req = request(
      [
        span({
          attributes: [kv('http.request.header.authorization', str('Bearer abc')), kv('db.password', str('hunter2')), kv('http.method', str('GET')), kv('count', { intValue: '3' }),
            kv('nested', { kvlistValue: { values: [kv('password', str('pass-p1')), kv('ok', str('yes'))] } })],
          events: [{ timeUnixNano: '1700000000500000000', name: 'login', attributes: [kv('user.password', str('pw')), kv('step', { intValue: '2' })] }],
          links: [{ traceId: T, spanId: '0000000000000009', attributes: [kv('http.request.header.cookie', str('sid=1')), kv('why', str('retry'))] }],
        }),
      ],
      [kv('http.request.header.x-api-key', str('key-k1-secret')), kv('host.name', str('node-1'))],
    );
    for (const encoding of ['protobuf', 'json'] as const) {
      const d = decode(req, r, encoding);
      assert.deepEqual(d.spans[0].attrs, { 'http.method': 'GET', count: 3n, nested: '{"kvlistValue":{"values":[{"key":"ok","value":{"stringValue":"yes"}}]}}' }, encoding);
      assert.deepEqual(d.spans[0].events[0].attrs, '[{"key":"step","value":{"intValue":"2"}}]');
      assert.deepEqual(d.spans[0].links[0], '[{"key":"why","value":{"stringValue":"retry"}}]');
      assert.deepEqual(d.resources[0].attrs, { 'service.name': 'clinic-api', 'host.name': 'node-1' });
      for (const secret of ['Bearer abc', 'hunter2', 'pass-p1', '"pw"', 'sid=1', 'key-k1-secret']) assert.ok(!d.bytes.includes(secret), `${secret} left in the ${encoding} block`);
    }
  });

  it('hashes values with HMAC: equal in, equal out, whatever their type or place', () => {
    const req = request([
      span({ attributes: [kv('patient.id', str('P-1001'))] }),
      span({ attributes: [kv('patient.id', str('P-1001')), kv('enduser.id', { intValue: '1001' })] }),
      span({ attributes: [kv('patient.id', str('P-2002'))], events: [{ name: 'e', attributes: [kv('enduser.id', str('1001'))] }] }),
    ]);
    const d = decode(req, r);
    const [a, b, c] = d.spans;
    assert.match(a.attrs['patient.id'] as string, HMAC);
    assert.equal(a.attrs['patient.id'], b.attrs['patient.id'], 'same patient, same hash');
    assert.notEqual(a.attrs['patient.id'], c.attrs['patient.id'], 'another patient, another hash');
    // An int hashes as its decimal text, so 1001 and "1001" group together.
    assert.equal(b.attrs['enduser.id'], JSON.parse(c.events[0].attrs)[0].value.stringValue);
    assert.ok(!d.bytes.includes('P-1001') && !d.bytes.includes('P-2002'));
    // The JSON decoder gives the same hashes.
    const j = decode(req, r, 'json');
    assert.deepEqual(j.spans.map((s) => s.attrs), d.spans.map((s) => s.attrs));
  });

  it('hashes under the configured key only: another key, other hashes', () => {
    const other = policyFrom(`
redaction:
  hashKeyFile: ${OTHER_KEY}
  default: { hash: [patient.id] }
`).forTenant('t')!;
    const req = request([span({ attributes: [kv('patient.id', str('P-1001'))] })]);
    const mine = decode(req, r).spans[0].attrs['patient.id'];
    const theirs = decode(req, other).spans[0].attrs['patient.id'];
    assert.match(theirs as string, HMAC);
    assert.notEqual(mine, theirs);
    // And it is the HMAC-SHA-256 of the value, cut to 16 bytes, for keys shorter and longer than SHA-256's block.
    assert.equal(theirs, 'hmac:' + createHmac('sha256', 'z'.repeat(48)).update('P-1001').digest('hex').slice(0, 32));
    for (const length of [32, 63, 64, 65, 200]) {
      const key = Buffer.from(Array.from({ length }, (_, i) => (i * 37 + length) % 256));
      writeFileSync(path.join(dir, `len${length}.key`), key);
      const red = policyFrom(`redaction:\n  hashKeyFile: len${length}.key\n  default: { hash: [patient.id] }\n`).forTenant('t')!;
      for (const value of ['P-1001', 'żółć 🙂', 'x'.repeat(300)]) {
        const got = decode(request([span({ attributes: [kv('patient.id', str(value))] })]), red).spans[0].attrs['patient.id'];
        assert.equal(got, 'hmac:' + createHmac('sha256', key).update(value).digest('hex').slice(0, 32), `key of ${length} bytes, value ${value.slice(0, 10)}`);
      }
    }
  });

  it('masks pattern matches: unscoped masks everywhere, scoped masks in their keys only', () => {
    const req = request([
      span({
        name: 'charge ACCT-12345',
        status: { code: 2, message: 'declined for ACCT-999' },
        attributes: [kv('note.text', str('secret-abc and ACCT-1')), kv('other.text', str('secret-abc')), kv('list', { arrayValue: { values: [str('ACCT-7'), { intValue: '7' }] } })],
        events: [{ name: 'retry ACCT-5', attributes: [kv('note.x', str('secret-xyz'))] }],
      }),
    ]);
    const d = decode(req, r);
    const s = d.spans[0];
    assert.equal(s.name, 'charge [ACCOUNT]');
    assert.equal(s.status, 'declined for [ACCOUNT]');
    assert.equal(s.attrs['note.text'], '[REDACTED] and [ACCOUNT]');
    assert.equal(s.attrs['other.text'], 'secret-abc', 'the scoped mask is limited to note.*');
    assert.equal(s.attrs.list, '{"arrayValue":{"values":[{"stringValue":"[ACCOUNT]"},{"intValue":"7"}]}}');
    assert.equal(s.events[0].name, 'retry [ACCOUNT]');
    assert.equal(s.events[0].attrs, '[{"key":"note.x","value":{"stringValue":"[REDACTED]"}}]');
  });

  it('replaces SQL literals in db.statement and db.query.text only', () => {
    const q = "SELECT * FROM patients WHERE mrn = 'A-778' AND age > 40";
    const d = decode(request([span({ attributes: [kv('db.statement', str(q)), kv('db.query.text', str(q)), kv('app.query', str(q))] })]), r);
    assert.equal(d.spans[0].attrs['db.statement'], 'SELECT * FROM patients WHERE mrn = ? AND age > ?');
    assert.equal(d.spans[0].attrs['db.query.text'], 'SELECT * FROM patients WHERE mrn = ? AND age > ?');
    assert.equal(d.spans[0].attrs['app.query'], q);
  });

  it('counts per rule: values changed and spans touched, never the values', () => {
    const p = policyFrom(`
redaction:
  hashKeyFile: redaction.key
  default:
    drop: [secret]
    hash: [patient.id]
    mask: [{ pattern: "X[0-9]+" }]
`);
    const red = p.forTenant('t')!;
    decode(request([
      span({ name: 'X1 X2', attributes: [kv('secret', str('s')), kv('patient.id', str('p'))] }),
      span({ attributes: [kv('patient.id', str('p')), kv('note', str('X3'))], events: [{ name: 'X4', attributes: [kv('secret', str('s'))] }] }),
      span({ attributes: [kv('ok', str('fine'))] }),
    ]), red);
    const rules = Object.fromEntries(p.stats().ruleSets[0].rules.map((x) => [x.rule, [x.values, x.spans]]));
    assert.deepEqual(rules, { 'drop secret': [2, 2], 'hash patient.id': [2, 2], 'mask X[0-9]+': [4, 2], 'sql db.query.text, db.statement': [0, 0] });
    assert.ok(!JSON.stringify(p.stats()).includes('"s"'));
  });

  it('redacts resources before their row id is hashed, and the service name copied into spans', () => {
    const p = policyFrom(`
redaction:
  default: { preset: healthcare }
`);
    const red = p.forTenant('t')!;
    const a = decode(request([span()], [kv('patient.email', str('jane@x.example'))]), red);
    const b = decode(request([span()], [kv('patient.email', str('john@y.example'))]), red);
    assert.equal(a.resources[0].attrs['patient.email'], '[REDACTED:email]');
    assert.equal(a.resources[0].id, b.resources[0].id, 'the id is of the redacted resource: it says nothing of the address');
    assert.equal(a.spans[0].resourceId, a.resources[0].id);
    assert.equal(a.resources[0].scopeAttrs, '[{"key":"scope.owner","value":{"stringValue":"[REDACTED:email]"}}]');
    const svc = decode({ resourceSpans: [{ resource: { attributes: [kv('service.name', str('intake-555-123-4567'))] }, scopeSpans: [{ spans: [span()] }] }] }, red);
    assert.equal(svc.spans[0].service, 'intake-[REDACTED:phone]');
    assert.equal(svc.resources[0].service, 'intake-[REDACTED:phone]');
    assert.ok(!svc.bytes.includes('555-123-4567'));
  });

  it('keeps nothing of a planted identifier in any field, in either encoding', () => {
    const p = policyFrom(`
redaction:
  hashKeyFile: redaction.key
  default:
    preset: healthcare
    mrnPatterns: ["MRN-[0-9]{6,10}"]
    hash: [patient.id]
`);
    const red = p.forTenant('t')!;
    const digits = (n: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((d) => d.join(''));
    const planted = fc.oneof(
      fc.tuple(digits(3), digits(2), digits(4)).map(([a, b, c]) => `${a}-${b}-${c}`),
      digits(8).map((d) => `MRN-${d}`),
      fc.stringMatching(/^[a-z]{3,8}$/).map((u) => `${u}@clinic.example`),
    );
    const place = fc.constantFrom('name', 'status', 'attr', 'resource', 'event-name', 'event-attr', 'link-attr', 'kvlist', 'sql', 'hashed');
    fc.assert(
      fc.property(planted, place, fc.constantFrom('protobuf', 'json') as fc.Arbitrary<'protobuf' | 'json'>, (value, where, encoding) => {
        const text = `seen ${value} today`;
        const s: Record<string, unknown> = {};
        const res: unknown[] = [];
        if (where === 'name') s.name = text;
        if (where === 'status') s.status = { code: 2, message: text };
        if (where === 'attr') s.attributes = [kv('note', str(text))];
        if (where === 'resource') res.push(kv('note', str(text)));
        if (where === 'event-name') s.events = [{ name: text }];
        if (where === 'event-attr') s.events = [{ name: 'e', attributes: [kv('exception.message', str(text))] }];
        if (where === 'link-attr') s.links = [{ traceId: T, spanId: '0000000000000009', attributes: [kv('why', str(text))] }];
        if (where === 'kvlist') s.attributes = [kv('form', { kvlistValue: { values: [kv('field', { arrayValue: { values: [str(text)] } })] } })];
        if (where === 'sql') s.attributes = [kv('db.statement', str(`SELECT 1 FROM t WHERE x = '${value}'`))];
        if (where === 'hashed') s.attributes = [kv('patient.id', str(value))];
        const d = decode(request([span(s)], res), red, encoding);
        assert.ok(!d.bytes.includes(value), `${value} in ${where} (${encoding})`);
      }),
      { numRuns: 400 },
    );
  });
});

describe('redaction per tenant', () => {
  const policy = policyFrom(`
redaction:
  default:
    mask: [{ pattern: "A[0-9]+" }]
  tenants:
    research: { extends: default, mask: [{ pattern: "B[0-9]+" }] }
    lab: { mask: [{ pattern: "C[0-9]+" }], sql: false }
    ops: { enabled: false }
`);

  const run = (tenant: string) => {
    const red = policy.forTenant(tenant);
    return decode(request([span({ name: 'A1 B2 C3', attributes: [kv('db.statement', str('SELECT 5'))] })]), red).spans[0];
  };

  it('gives tenants without rules of their own the default set', () => {
    assert.equal(run('anyone').name, '[REDACTED] B2 C3');
    assert.equal(run('anyone').attrs['db.statement'], 'SELECT ?', 'SQL is normalised unless turned off');
  });

  it('adds to the default set with extends: default, and replaces it otherwise', () => {
    assert.equal(run('research').name, '[REDACTED] [REDACTED] C3');
    assert.equal(run('lab').name, 'A1 B2 [REDACTED]');
    assert.equal(run('lab').attrs['db.statement'], 'SELECT 5');
  });

  it('costs nothing for a tenant with redaction off, or without any configured', () => {
    assert.equal(policy.forTenant('ops'), null);
    assert.equal(run('ops').name, 'A1 B2 C3');
    assert.equal(new RedactionPolicy().forTenant('anyone'), null);
    assert.equal(policyFrom('tenants:\n  a: { retention: 2d }\n').forTenant('a'), null);
    assert.equal(policyFrom('redaction:\n  default: { sql: false }\n').forTenant('a'), null, 'an empty rule set is no rule set');
  });

  it('reports rule sets, their tenants and the tenants left out', () => {
    const s = policy.stats();
    assert.equal(s.enabled, true);
    assert.deepEqual(s.ruleSets.map((x) => [x.name, x.tenants]), [['default', ['*']], ['research', ['research']], ['lab', ['lab']]]);
    assert.deepEqual(s.off, ['ops']);
  });

  it('keeps counting across a reload', () => {
    const p = policyFrom('redaction:\n  default: { mask: [{ pattern: "A[0-9]+" }] }\n');
    decode(request([span({ name: 'A1' })]), p.forTenant('t'));
    p.replace(compileRedaction(parseConfigFile('redaction:\n  default: { mask: [{ pattern: "A[0-9]+" }, { pattern: "Z[0-9]+" }] }\n', 'x.yaml', parseDuration).redaction, dir));
    decode(request([span({ name: 'A2 Z3' })]), p.forTenant('t'));
    const rules = Object.fromEntries(p.stats().ruleSets[0].rules.map((x) => [x.rule, x.values]));
    assert.equal(rules['mask A[0-9]+'], 2);
    assert.equal(rules['mask Z[0-9]+'], 1);
  });
});

describe('docs/redaction.md', () => {
  it('shows a config that loads, and rules that do what it says', () => {
    const doc = readFileSync(new URL('../../../docs/redaction.md', import.meta.url), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(doc)![1];
    const policy = policyFrom(yaml);
    assert.deepEqual(policy.stats().ruleSets.map((r) => r.name), ['default', 'research', 'lab']);
    assert.deepEqual(policy.stats().off, ['ops']);
    const d = decode(request([span({ name: 'ACCT-1 for MRN-1234567', attributes: [kv('insurance.member', str('AB123456')), kv('other', str('AB123456')), kv('patient.id', str('P-9'))] })]), policy.forTenant('anyone'));
    assert.equal(d.spans[0].name, '[ACCOUNT] for [REDACTED:mrn]');
    assert.equal(d.spans[0].attrs['insurance.member'], '[REDACTED]');
    assert.equal(d.spans[0].attrs.other, 'AB123456');
    assert.match(d.spans[0].attrs['patient.id'] as string, HMAC);
  });
});

describe('redaction config errors', () => {
  const fails = (yaml: string, pattern: RegExp) =>
    assert.throws(() => policyFrom(yaml), (e: Error) => pattern.test(e.message), yaml);

  it('names the line and column of a bad pattern, glob or key', () => {
    fails('redaction:\n  default:\n    mask:\n      - pattern: "(unclosed"\n', /sightline\.yaml:4:18: not a valid RE2 pattern/);
    fails('redaction:\n  default:\n    mask:\n      - pattern: "(?<=x)y"\n', /sightline\.yaml:4:18: not a valid RE2 pattern/);
    fails('redaction:\n  default:\n    mask:\n      - pattern: "a*"\n', /4:18: the pattern matches the empty string/);
    fails('redaction:\n  default:\n    preset: healthcare\n    mrnPatterns: ["MRN-[0-9"]\n', /4:19: not a valid RE2 pattern/);
    fails('redaction:\n  default:\n    drop: [""]\n', /3:12: redaction\.default\.drop\.0 must be a non-empty string/);
    fails('redaction:\n  default:\n    preset: hipaa\n', /3:13: the only preset is healthcare/);
    fails('redaction:\n  default:\n    preset: healthcare\n    presetExcept: [ssn, fax]\n', /4:25: unknown preset part "fax"/);
    fails('redaction:\n  default:\n    masks: []\n', /3:5: unknown key "masks"/);
    fails('redaction:\n  tenants:\n    "a/b": { sql: false }\n', /3:5: "a\/b" is not a tenant id/);
    fails('redaction:\n  tenants:\n    a: { enabled: false, sql: true }\n', /3:8: enabled: false turns redaction off/);
    fails('redaction:\n  default:\n    sql: yes please\n', /3:10: redaction\.default\.sql must be true or false/);
  });

  it('refuses hash rules without a key file, a short key, an unreadable one, and extends without a default', () => {
    fails('redaction:\n  default:\n    hash: [patient.id]\n', /3:12: hash rules need redaction\.hashKeyFile/);
    writeFileSync(path.join(dir, 'short.key'), 'too short');
    fails('redaction:\n  hashKeyFile: short.key\n  default:\n    hash: [patient.id]\n', /2:16: redaction\.hashKeyFile .*short\.key holds 9 bytes; it needs at least 32/);
    fails('redaction:\n  hashKeyFile: missing.key\n  default:\n    hash: [patient.id]\n', /2:16: redaction\.hashKeyFile .*missing\.key cannot be read: ENOENT/);
    fails('redaction:\n  tenants:\n    a: { extends: default, sql: true }\n', /3:8: tenant a extends the default rules, but redaction\.default is not set/);
    assert.throws(() => policyFrom('redaction:\n  default:\n    hash: [x]\n'), RedactionConfigError);
  });
});
