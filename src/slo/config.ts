import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { compileQuery, printField, TraceQLParseError, TraceQLUnsupportedError, TraceQLValidationError, type FieldExpr } from '../query/traceql/index.js';
import { tenantIdProblem } from '../store/index.js';

/**
 * SLO definitions (`--slo-config`, YAML), kept by teams in their own
 * repositories. Read at start and on SIGHUP; every error names the file,
 * line and column, and what is wrong there, TraceQL errors included.
 *
 * ```yaml
 * externalUrl: https://sightline.example      # links in notifications
 * receivers:
 *   oncall: { url: https://alertmanager.example/api/v2/..., format: alertmanager }
 *   team-chat: { url: https://hooks.slack.com/services/..., format: slack }
 * slos:
 *   - tenant: clinic
 *     name: gateway-latency
 *     valid: '{ resource.service.name = "gateway" && kind = server }'
 *     good: '{ duration < 300ms && status != error }'
 *     objective: 99.5
 *     window: 28d
 *     receivers: [oncall, team-chat]
 *     alerts:                                  # optional: the SRE workbook's four pairs
 *       - { long: 1h, short: 5m, burnRate: 14.4, severity: page }
 * ```
 */

export type ReceiverFormat = 'alertmanager' | 'slack';

export interface Receiver {
  name: string;
  /** Never logged: a Slack webhook URL is itself a credential. */
  url: string;
  format: ReceiverFormat;
}

/** A multiwindow burn-rate condition: both windows burn at least `burnRate` times the sustainable rate. */
export interface AlertWindow {
  longMs: number;
  shortMs: number;
  burnRate: number;
  severity: string;
}

export interface SloDefinition {
  tenant: string;
  name: string;
  /** Valid events: spans matching this one spanset filter. */
  valid: string;
  /** Good events: valid spans that also match this one spanset filter. */
  good: string;
  /** TraceQL of the valid spans that are good, and of those that are bad. */
  goodQuery: string;
  badQuery: string;
  validQuery: string;
  /** Percent, e.g. 99.5. */
  objective: number;
  windowMs: number;
  alerts: AlertWindow[];
  receivers: string[];
  description?: string;
}

/** How notifications are retried: exponential backoff from `initialBackoffMs`, doubling up to `maxBackoffMs`, given up after `giveUpAfterMs`. */
export interface DeliveryPolicy {
  initialBackoffMs: number;
  maxBackoffMs: number;
  giveUpAfterMs: number;
  /** Each HTTP attempt's deadline. */
  timeoutMs: number;
}

export const DEFAULT_DELIVERY: DeliveryPolicy = { initialBackoffMs: 5_000, maxBackoffMs: 300_000, giveUpAfterMs: 86_400_000, timeoutMs: 10_000 };

export interface SloConfig {
  path: string;
  externalUrl?: string;
  delivery: DeliveryPolicy;
  receivers: Map<string, Receiver>;
  slos: SloDefinition[];
}

/** Google's SRE workbook, chapter 5, "Multiwindow, Multi-Burn-Rate Alerts". */
export const DEFAULT_ALERT_WINDOWS: readonly AlertWindow[] = [
  { longMs: 3600_000, shortMs: 300_000, burnRate: 14.4, severity: 'page' },
  { longMs: 6 * 3600_000, shortMs: 1800_000, burnRate: 6, severity: 'page' },
  { longMs: 86400_000, shortMs: 7200_000, burnRate: 3, severity: 'ticket' },
  { longMs: 3 * 86400_000, shortMs: 6 * 3600_000, burnRate: 1, severity: 'ticket' },
];

export class SloConfigError extends Error {
  override readonly name = 'SloConfigError';
}

const UNITS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** Durations like 28d, 1h, 5m, 30s, 1h30m. */
export function parseSloDuration(text: string): number | undefined {
  const re = /(\d+)(ms|s|m|h|d|w)/y;
  const s = text.trim();
  if (s === '') return undefined;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * UNITS[m[2]];
    pos = re.lastIndex;
  }
  return total;
}

export function loadSloConfig(path: string): SloConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SloConfigError(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return parseSloConfig(text, path);
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export function parseSloConfig(text: string, path: string): SloConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (node: YamlNode | null | undefined, offset = 0): string => {
    const start = node?.range?.[0];
    if (start === undefined) return path;
    const { line, col } = lines.linePos(start + offset);
    return `${path}:${line}:${col}`;
  };
  const fail = (node: YamlNode | null | undefined, problem: string): never => {
    throw new SloConfigError(`${at(node)}: ${problem}`);
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const { line, col } = lines.linePos(e.pos[0]);
    throw new SloConfigError(`${path}:${line}:${col}: ${e.message.split('\n')[0]}`);
  }
  const root = doc.contents as YamlNode | null;
  if (!isMap(root)) return fail(root, 'the file must be a mapping with `slos:` (and optionally `receivers:` and `externalUrl:`)');

  const entries = (map: YamlNode, allowed: string[], what: string): Map<string, { key: YamlNode; value: YamlNode | null }> => {
    if (!isMap(map)) return fail(map, `${what} must be a mapping`);
    const out = new Map<string, { key: YamlNode; value: YamlNode | null }>();
    for (const pair of map.items) {
      const key = pair.key as YamlNode;
      const name = isScalar(key) ? String(key.value) : '';
      if (!allowed.includes(name)) fail(key, `unknown key ${JSON.stringify(name)} in ${what} (expected one of ${allowed.join(', ')})`);
      out.set(name, { key, value: (pair.value as YamlNode | null) ?? null });
    }
    return out;
  };
  const str = (node: YamlNode | null, what: string): string => {
    if (!isScalar(node) || typeof node.value !== 'string' || node.value.trim() === '') return fail(node, `${what} must be a non-empty string`);
    return node.value;
  };
  const num = (node: YamlNode | null, what: string): number => {
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isFinite(node.value)) return fail(node, `${what} must be a number`);
    return node.value;
  };
  const duration = (node: YamlNode | null, what: string): number => {
    const text = isScalar(node) ? String(node.value) : '';
    const ms = parseSloDuration(text);
    if (ms === undefined || ms < 1000) return fail(node, `${what} must be a duration of at least 1s (e.g. 30s, 5m, 1h, 28d); got ${JSON.stringify(text)}`);
    return ms;
  };

  const top = entries(root, ['externalUrl', 'delivery', 'receivers', 'slos'], 'the file');
  const out: SloConfig = { path, delivery: { ...DEFAULT_DELIVERY }, receivers: new Map(), slos: [] };
  const delivery = top.get('delivery');
  if (delivery) {
    const d = entries(delivery.value as YamlNode, ['initialBackoff', 'maxBackoff', 'giveUpAfter', 'timeout'], 'delivery');
    const set = (k: string, field: keyof DeliveryPolicy) => {
      const v = d.get(k);
      if (v) out.delivery[field] = duration(v.value, k);
    };
    set('initialBackoff', 'initialBackoffMs');
    set('maxBackoff', 'maxBackoffMs');
    set('giveUpAfter', 'giveUpAfterMs');
    set('timeout', 'timeoutMs');
  }
  const ext = top.get('externalUrl');
  if (ext) {
    const url = str(ext.value, 'externalUrl');
    if (!/^https?:\/\/[^\s]+$/.test(url)) fail(ext.value, 'externalUrl must be an http:// or https:// URL');
    out.externalUrl = url.replace(/\/+$/, '');
  }

  const receivers = top.get('receivers');
  if (receivers) {
    if (!isMap(receivers.value)) fail(receivers.value, 'receivers must be a mapping of name to { url, format }');
    for (const pair of (receivers.value as { items: { key: unknown; value: unknown }[] }).items) {
      const key = pair.key as YamlNode;
      const name = isScalar(key) ? String(key.value) : '';
      if (!NAME.test(name)) fail(key, `${JSON.stringify(name)} is not a receiver name (letters, digits, . _ -)`);
      const r = entries(pair.value as YamlNode, ['url', 'format'], `receiver ${name}`);
      const urlNode = r.get('url')?.value ?? null;
      if (!r.get('url')) fail(key, `receiver ${name} needs a url`);
      const url = str(urlNode, `the url of receiver ${name}`);
      if (!/^https?:\/\/[^\s]+$/.test(url)) fail(urlNode, `the url of receiver ${name} must be http:// or https://`);
      const formatNode = r.get('format')?.value ?? null;
      const format = formatNode ? str(formatNode, `the format of receiver ${name}`) : 'alertmanager';
      if (format !== 'alertmanager' && format !== 'slack') fail(formatNode, `the format of receiver ${name} must be alertmanager or slack`);
      out.receivers.set(name, { name, url, format: format as ReceiverFormat });
    }
  }

  const slos = top.get('slos');
  if (!slos) return fail(root, 'the file has no `slos:` list');
  if (!isSeq(slos.value)) return fail(slos.value, 'slos must be a list');
  const seen = new Set<string>();
  for (const item of slos.value.items as YamlNode[]) {
    const e = entries(item, ['tenant', 'name', 'description', 'valid', 'good', 'objective', 'window', 'alerts', 'receivers'], 'an SLO');
    const need = (k: string): YamlNode | null => {
      const v = e.get(k);
      if (!v) return fail(item, `an SLO needs ${k}`);
      return v.value;
    };
    const tenantNode = need('tenant');
    const tenant = str(tenantNode, 'tenant');
    const problem = tenantIdProblem(tenant);
    if (problem) fail(tenantNode, `${JSON.stringify(tenant)} is not a tenant id: ${problem}`);
    const nameNode = need('name');
    const name = str(nameNode, 'name');
    if (!NAME.test(name)) fail(nameNode, `${JSON.stringify(name)} is not an SLO name (letters, digits, . _ -; at most 100)`);
    if (seen.has(`${tenant}/${name}`)) fail(nameNode, `tenant ${tenant} has two SLOs named ${name}`);
    seen.add(`${tenant}/${name}`);
    const validNode = need('valid');
    const goodNode = need('good');
    const valid = str(validNode, 'valid');
    const good = str(goodNode, 'good');
    const validExpr = filterExpr(valid, validNode, 'valid', at, fail);
    const goodExpr = filterExpr(good, goodNode, 'good', at, fail);
    const objectiveNode = need('objective');
    const objective = num(objectiveNode, 'objective');
    if (!(objective > 0 && objective < 100)) fail(objectiveNode, 'objective must be a percentage above 0 and below 100 (e.g. 99.5)');
    const windowMs = duration(need('window'), 'window');
    let alerts = DEFAULT_ALERT_WINDOWS.map((a) => ({ ...a }));
    const alertsNode = e.get('alerts');
    if (alertsNode) {
      if (!isSeq(alertsNode.value) || alertsNode.value.items.length === 0) fail(alertsNode.value, 'alerts must be a non-empty list of { long, short, burnRate }');
      alerts = (alertsNode.value as { items: YamlNode[] }).items.map((a) => {
        const w = entries(a, ['long', 'short', 'burnRate', 'severity'], 'an alert window');
        for (const k of ['long', 'short', 'burnRate']) if (!w.get(k)) fail(a, `an alert window needs ${k}`);
        const longMs = duration(w.get('long')!.value, 'long');
        const shortNode = w.get('short')!.value;
        const shortMs = duration(shortNode, 'short');
        if (shortMs >= longMs) fail(shortNode, 'the short window must be shorter than the long one');
        const burnNode = w.get('burnRate')!.value;
        const burnRate = num(burnNode, 'burnRate');
        if (!(burnRate > 0)) fail(burnNode, 'burnRate must be above 0');
        const sev = w.get('severity');
        return { longMs, shortMs, burnRate, severity: sev ? str(sev.value, 'severity') : burnRate >= 6 ? 'page' : 'ticket' };
      });
    }
    const receiverNames: string[] = [];
    const rs = e.get('receivers');
    if (rs) {
      if (!isSeq(rs.value)) fail(rs.value, 'receivers must be a list of receiver names');
      for (const r of (rs.value as { items: YamlNode[] }).items) {
        const rn = str(r, 'a receiver');
        if (!out.receivers.has(rn)) fail(r, `no receiver named ${JSON.stringify(rn)} under receivers:`);
        receiverNames.push(rn);
      }
    }
    const desc = e.get('description');
    const v = printField(validExpr);
    const g = printField(goodExpr);
    out.slos.push({
      tenant,
      name,
      valid,
      good,
      validQuery: `{ ${v} }`,
      goodQuery: `{ (${v}) && (${g}) }`,
      badQuery: `{ (${v}) && !(${g}) }`,
      objective,
      windowMs,
      alerts,
      receivers: receiverNames,
      ...(desc ? { description: str(desc.value, 'description') } : {}),
    });
  }
  return out;
}

/**
 * The one spanset filter a valid or good query must be: bad events are
 * `valid && !good`, which TraceQL can say of two filters' expressions but
 * not of two pipelines. TraceQL errors are placed at their own position
 * inside the YAML string.
 */
function filterExpr(
  text: string,
  node: YamlNode | null,
  what: string,
  at: (node: YamlNode | null | undefined, offset?: number) => string,
  fail: (node: YamlNode | null | undefined, problem: string) => never,
): FieldExpr {
  let q;
  try {
    q = compileQuery(text);
  } catch (e) {
    if (e instanceof TraceQLParseError || e instanceof TraceQLValidationError || e instanceof TraceQLUnsupportedError) {
      // Plain and quoted scalars start their text one character in for quotes; block scalars vary, so only the node is exact there.
      const pos = (e as { pos?: { offset: number } }).pos;
      const quoted = isScalar(node) && (node.type === 'QUOTE_SINGLE' || node.type === 'QUOTE_DOUBLE');
      const plain = isScalar(node) && node.type === 'PLAIN';
      const where = pos && (quoted || plain) ? at(node, pos.offset + (quoted ? 1 : 0)) : at(node);
      throw new SloConfigError(`${where}: ${what} is not valid TraceQL: ${withoutStringLiterals((e as { detail: string }).detail)}`);
    }
    throw e;
  }
  const stage = q.pipeline[0];
  if (q.pipeline.length !== 1 || stage.kind !== 'filter') return fail(node, `${what} must be one spanset filter such as { resource.service.name = "gateway" && kind = server }`);
  if (stage.expr === null) return { kind: 'static', type: 'bool', value: true, pos: stage.pos };
  return stage.expr;
}

/**
 * A TraceQL error's detail without the string literals it quotes (`found
 * "\"Ada Lovelace\""`): the message is logged on a SIGHUP reload, and a
 * query's strings are span values, which may be a patient's. Its line and
 * column still point at the token.
 */
function withoutStringLiterals(detail: string): string {
  return detail.replace(/"(?:[^"\\]|\\.)*"/g, (quoted) => {
    let text: unknown;
    try {
      text = JSON.parse(quoted);
    } catch {
      return quoted;
    }
    return typeof text === 'string' && /^["'`]/.test(text) ? 'a string' : quoted;
  });
}
