import { createHash, hash as sha256 } from 'node:crypto';
import { canonicalAnyValue, canonicalKeyValueList, type AnyValueJson, type KeyValueJson } from '../model/any-value.js';
import type { RangeFinder } from './finders.js';
import { normalizeSql } from './sql.js';
import { BytesCache } from './bytes-cache.js';
import type { CompiledMask, CompiledRuleSet, RuleId, RuleKind } from './compile.js';

/**
 * How often one rule changed something. `values` counts dropped keys,
 * hashed values, masked matches or normalised statements; `spans` counts
 * the span rows with at least one of them in their own fields (resource
 * and scope attributes count in `values` only). Counts, never the values.
 */
export class RuleCounter {
  values = 0;
  spans = 0;
  private lastSpan = 0;

  constructor(
    readonly ruleSet: string,
    readonly kind: RuleKind,
    readonly rule: string,
  ) {}

  /** `span` is the running number of the span row being redacted, 0 outside span rows. */
  hit(n: number, span: number): void {
    this.values += n;
    if (span !== 0 && span !== this.lastSpan) {
      this.spans++;
      this.lastSpan = span;
    }
  }
}

/** What happens to the value of one attribute key. */
export interface KeyDecision {
  readonly drop: RuleCounter | null;
  readonly hash: RuleCounter | null;
  readonly sql: RuleCounter | null;
  readonly masks: MaskChain | null;
}

/** Distinct keys (and mask results) remembered before a cache starts over. */
const CACHE_ENTRIES = 8192;
/** Longer values are rarely repeated; caching them would only hold memory. */
const CACHE_MAX_VALUE = 256;

interface MaskResult {
  out: string;
  /** Matches per rule; null when nothing matched (out is the value itself). */
  hits: Int32Array | null;
}

/**
 * The mask rules that apply to a value, in order. Results of short values
 * are remembered: within a batch most values repeat (routes, methods, host
 * names), and a remembered value costs one lookup instead of a pass of
 * every pattern. The counts remembered with it keep the counters exact.
 */
export class MaskChain {
  private readonly cache = new Map<string, MaskResult>();
  private readonly byBytes = new BytesCache<MaskResult>(CACHE_ENTRIES);
  private readonly ranges: number[] = [];
  /** Whether any rule's prefilter needs the value's digits counted, or its @ found. */
  private readonly countDigits: boolean;
  private readonly findAt: boolean;

  constructor(private readonly rules: readonly { finder: RangeFinder; replacement: string; counter: RuleCounter }[]) {
    this.countDigits = rules.some((r) => r.finder.prefilter.minDigits > 0);
    this.findAt = rules.some((r) => r.finder.prefilter.needsAt);
  }

  apply(value: string, span: number): string {
    if (value === '') return value;
    const cacheable = value.length <= CACHE_MAX_VALUE;
    let entry = cacheable ? this.cache.get(value) : undefined;
    if (!entry) {
      entry = this.compute(value);
      if (cacheable) {
        if (this.cache.size >= CACHE_ENTRIES) this.cache.clear();
        this.cache.set(value, entry);
      }
    }
    this.count(entry, span);
    return entry.out;
  }

  /**
   * The UTF-8 value buf[start, end) masked, or null when no rule changes
   * it: a repeated value is found by its bytes, never decoded.
   */
  applyBytes(buf: Buffer, start: number, end: number, span: number): string | null {
    if (end === start) return null;
    let entry: MaskResult | undefined;
    if (end - start <= CACHE_MAX_VALUE) {
      entry = this.byBytes.find(buf, start, end);
      if (!entry) {
        entry = this.compute(buf.toString('utf8', start, end));
        this.byBytes.put(entry);
      }
    } else entry = this.compute(buf.toString('utf8', start, end));
    this.count(entry, span);
    return entry.hits ? entry.out : null;
  }

  private count(entry: MaskResult, span: number): void {
    const hits = entry.hits;
    if (hits) for (let i = 0; i < hits.length; i++) if (hits[i] > 0) this.rules[i].counter.hit(hits[i], span);
  }

  private compute(value: string): MaskResult {
    // Counted on the original value only: a replacement may add a digit
    // or an @, but a later rule masking part of a replacement hides
    // nothing that was sent, and masking only removes digits sent.
    let digits = 0;
    let at = false;
    if (this.countDigits || this.findAt) {
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x30 && c <= 0x39) digits++;
        else if (c === 0x40) at = true;
      }
    }
    let out = value;
    let hits: Int32Array | null = null;
    const ranges = this.ranges;
    for (let r = 0; r < this.rules.length; r++) {
      const rule = this.rules[r];
      const pre = rule.finder.prefilter;
      if (digits < pre.minDigits || (pre.needsAt && !at)) continue;
      ranges.length = 0;
      rule.finder.find(out, ranges);
      if (ranges.length === 0) continue;
      let next = '';
      let from = 0;
      for (let i = 0; i < ranges.length; i += 2) {
        next += out.slice(from, ranges[i]) + rule.replacement;
        from = ranges[i + 1];
      }
      out = next + out.slice(from);
      (hits ??= new Int32Array(this.rules.length))[r] = ranges.length / 2;
    }
    return { out, hits };
  }
}

const KEEP: KeyDecision = { drop: null, hash: null, sql: null, masks: null };

/**
 * One rule set at work on values: which rule a key falls under (cached per
 * key), and what a value becomes. Used by the column passes (columns.ts)
 * for span, resource, scope, event and link attributes alike.
 */
export class ValueRedactor {
  /** The masks of span names, status messages and event names: those not limited to keys. */
  readonly names: MaskChain | null;
  private readonly decisions = new Map<string, KeyDecision>();
  private readonly decisionsByBytes = new BytesCache<KeyDecision>(1024);
  /** Hashes of repeated values (a patient's id on every span of a trace). */
  private readonly hashes = new BytesCache<string>(CACHE_ENTRIES);
  private readonly keyedHash: KeyedHash | null;
  private readonly chains = new Map<string, MaskChain>();
  private readonly masks: { mask: CompiledMask; counter: RuleCounter }[];
  private readonly drop: { rule: RuleId & { glob: { matches(k: string): boolean } }; counter: RuleCounter }[];
  private readonly hashRules: { rule: RuleId & { glob: { matches(k: string): boolean } }; counter: RuleCounter }[];
  private readonly sqlCounter: RuleCounter | null;

  constructor(
    private readonly set: CompiledRuleSet,
    counter: (rule: RuleId) => RuleCounter,
  ) {
    this.masks = set.masks.map((mask) => ({ mask, counter: counter(mask) }));
    this.drop = set.drop.map((rule) => ({ rule, counter: counter(rule) }));
    this.hashRules = set.hash.map((rule) => ({ rule, counter: counter(rule) }));
    this.sqlCounter = set.sql ? counter(set.sql) : null;
    this.keyedHash = set.hashKey ? new KeyedHash(set.hashKey) : null;
    const global = this.masks.filter((m) => m.mask.keys === null);
    this.names = global.length > 0 ? this.chain(global) : null;
  }

  /** decide() for a key given as UTF-8 bytes: a known key is found without decoding it. */
  decideBytes(buf: Buffer, start: number, end: number): KeyDecision {
    let d = this.decisionsByBytes.find(buf, start, end);
    if (d === undefined) {
      d = this.decide(buf.toString('utf8', start, end));
      this.decisionsByBytes.put(d);
    }
    return d;
  }

  decide(key: string): KeyDecision {
    let d = this.decisions.get(key);
    if (d === undefined) {
      d = this.decideUncached(key);
      if (this.decisions.size >= CACHE_ENTRIES) this.decisions.clear();
      this.decisions.set(key, d);
    }
    return d;
  }

  private decideUncached(key: string): KeyDecision {
    const drop = this.drop.find((r) => r.rule.glob.matches(key));
    if (drop) return { ...KEEP, drop: drop.counter };
    const hash = this.hashRules.find((r) => r.rule.glob.matches(key));
    if (hash) return { ...KEEP, hash: hash.counter };
    const sql = this.sqlCounter && this.set.sql!.keys.has(key) ? this.sqlCounter : null;
    const masks = this.masks.filter((m) => m.mask.keys === null || m.mask.keys.some((g) => g.matches(key)));
    if (!sql && masks.length === 0) return KEEP;
    return { drop: null, hash: null, sql, masks: masks.length > 0 ? this.chain(masks) : null };
  }

  /** Chains are shared by keys with the same masks, and so are their caches. */
  private chain(masks: { mask: CompiledMask; counter: RuleCounter }[]): MaskChain {
    const id = masks.map((m) => this.masks.indexOf(m)).join(',');
    let c = this.chains.get(id);
    if (!c) {
      c = new MaskChain(masks.map((m) => ({ finder: m.mask.finder, replacement: m.mask.replacement, counter: m.counter })));
      this.chains.set(id, c);
    }
    return c;
  }

  /** A string value of a kept key: SQL literals replaced, then masks. */
  text(d: KeyDecision, value: string, span: number): string {
    let out = value;
    if (d.sql) {
      out = normalizeSql(value);
      if (out !== value) d.sql.hit(1, span);
    }
    return d.masks ? d.masks.apply(out, span) : out;
  }

  /**
   * `hmac:` and the first 16 bytes (hex) of HMAC-SHA-256 of the value's
   * text under the configured key: equal values stay equal (a patient's
   * spans still group and compare) and unreadable without the key.
   */
  hash(counter: RuleCounter, text: string, span: number): string {
    counter.hit(1, span);
    return this.keyedHash!.digest(text);
  }

  /** hash() of a UTF-8 string value buf[start, end); repeated values are hashed once. */
  hashBytes(counter: RuleCounter, buf: Buffer, start: number, end: number, span: number): string {
    counter.hit(1, span);
    if (end - start > CACHE_MAX_VALUE) return this.keyedHash!.digest(buf.toString('utf8', start, end));
    let h = this.hashes.find(buf, start, end);
    if (h === undefined) {
      h = this.keyedHash!.digest(buf.toString('utf8', start, end));
      this.hashes.put(h);
    }
    return h;
  }

  /** A canonical JSON KeyValue list (event, link and scope attributes); '' stays ''. */
  keyValueList(json: string, span: number): string {
    if (json === '') return json;
    const list = JSON.parse(json) as KeyValueJson[];
    const out = this.keyValues(list, '', span);
    return out === list ? json : canonicalKeyValueList(out);
  }

  /** A canonical JSON AnyValue (arrays, kvlists, bytes) of a kept key. */
  anyValue(json: string, d: KeyDecision, key: string, span: number): string {
    const v = JSON.parse(json) as AnyValueJson;
    const out = this.walk(v, d, key, span);
    return out === v ? json : canonicalAnyValue(out);
  }

  /**
   * A log body that is not a plain string (canonical AnyValue JSON): the
   * entries of a key-value list body are attributes (a nested key is the
   * dotted path from the body: `patient.id` in `{"patient": {"id": …}}`),
   * and its strings elsewhere are free text, masked as span names are.
   */
  logBody(json: string, span: number): string {
    const v = JSON.parse(json) as AnyValueJson;
    const out = this.bodyValue(v, span);
    return out === v ? json : canonicalAnyValue(out);
  }

  private bodyValue(v: AnyValueJson, span: number): AnyValueJson {
    if ('kvlistValue' in v) {
      const values = v.kvlistValue?.values ?? [];
      const out = this.keyValues(values, '', span);
      return out === values ? v : { kvlistValue: { values: out } };
    }
    if ('arrayValue' in v) {
      const values = v.arrayValue?.values ?? [];
      let changed = false;
      const out = values.map((x) => {
        const y = this.bodyValue(x, span);
        if (y !== x) changed = true;
        return y;
      });
      return changed ? { arrayValue: { values: out } } : v;
    }
    if ('stringValue' in v && this.names) {
      const s = this.names.apply(v.stringValue, span);
      return s === v.stringValue ? v : { stringValue: s };
    }
    return v;
  }

  /** The list with rules applied; the same array when nothing changed. Nested keys are dotted paths. */
  private keyValues(list: KeyValueJson[], prefix: string, span: number): KeyValueJson[] {
    let out: KeyValueJson[] | null = null;
    for (let i = 0; i < list.length; i++) {
      const kv = list[i];
      const key = prefix + kv.key;
      const d = this.decide(key);
      let next: KeyValueJson | null = kv;
      if (d.drop) {
        d.drop.hit(1, span);
        next = null;
      } else if (d.hash) {
        next = { key: kv.key, value: { stringValue: this.hash(d.hash, hashText(kv.value ?? {}), span) } };
      } else {
        const value = kv.value ?? {};
        const v = this.walk(value, d, key, span);
        if (v !== value) next = { key: kv.key, value: v };
      }
      if (next !== kv && !out) out = list.slice(0, i);
      if (out && next) out.push(next);
    }
    return out ?? list;
  }

  private walk(v: AnyValueJson, d: KeyDecision, key: string, span: number): AnyValueJson {
    if ('stringValue' in v) {
      const s = this.text(d, v.stringValue, span);
      return s === v.stringValue ? v : { stringValue: s };
    }
    if ('arrayValue' in v) {
      const values = v.arrayValue?.values ?? [];
      let changed = false;
      const out = values.map((x) => {
        const y = this.walk(x, d, key, span);
        if (y !== x) changed = true;
        return y;
      });
      return changed ? { arrayValue: { values: out } } : v;
    }
    if ('kvlistValue' in v) {
      const values = v.kvlistValue?.values ?? [];
      const out = this.keyValues(values, key + '.', span);
      return out === values ? v : { kvlistValue: { values: out } };
    }
    return v;
  }
}

/** The text a value is hashed as: the same for a number sent as int, double or string. */
export function hashText(v: AnyValueJson): string {
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return String(v.intValue);
  if ('doubleValue' in v) return String(v.doubleValue);
  if ('boolValue' in v) return String(v.boolValue);
  return canonicalAnyValue(v);
}

/**
 * HMAC-SHA-256 (RFC 2104) with the key's pads computed once, over two
 * one-shot hashes: no Hmac object per value, a third less time per value
 * than createHmac here.
 */
class KeyedHash {
  private inner = Buffer.alloc(64 + 256);
  private readonly outer = Buffer.alloc(64 + 32);

  constructor(key: Buffer) {
    const k = key.length > 64 ? createHash('sha256').update(key).digest() : key;
    for (let i = 0; i < 64; i++) {
      const b = i < k.length ? k[i] : 0;
      this.inner[i] = b ^ 0x36;
      this.outer[i] = b ^ 0x5c;
    }
  }

  /** `hmac:` and the first 16 bytes of the MAC of `text` (UTF-8), in hex. */
  digest(text: string): string {
    const n = Buffer.byteLength(text, 'utf8');
    if (64 + n > this.inner.length) {
      const grown = Buffer.alloc(64 + n);
      this.inner.copy(grown, 0, 0, 64);
      this.inner = grown;
    }
    this.inner.write(text, 64, 'utf8');
    (sha256('sha256', this.inner.subarray(0, 64 + n), 'buffer') as unknown as Buffer).copy(this.outer, 64);
    return 'hmac:' + (sha256('sha256', this.outer, 'hex') as string).slice(0, 32);
  }
}
