import type { KeyValueJson } from '../../model/any-value.js';
import type { Condition, EvalSpan, Field, SearchPort, SearchResult, TenantScope, TimeRange, TraceCondition, TraceSummary } from '../../store/index.js';
import type { FieldExpr, Query, ScalarFilter, SpansetExpr, SpansetFilter, Stage, Static } from './ast.js';
import { TraceQLUnsupportedError, unlessUnsupported } from './errors.js';
import { filterRequest, numberField, requestKey, textField } from './request.js';
import { compilePredicate, type SpanPredicate, type TraceValues, type ValueRegistry } from './residual.js';
import { printField } from './printer.js';

/**
 * Runs a TraceQL search. A lone spanset filter is answered by SQL alone.
 * Spanset operators (&&, ||, structural relations) and pipelines are
 * evaluated here over candidate traces: SQL picks traces that can match
 * and computes, per span, each filter's condition and the values stages
 * need; the tree relations and the pipeline run in process.
 */
export interface SearchOptions {
  range: TimeRange;
  limit: number;
  spss: number;
  /** Most candidate traces examined before giving up on finding `limit`. */
  maxCandidates?: number;
}

export async function searchTraceQL(q: Query, store: SearchPort, scope: TenantScope, opts: SearchOptions): Promise<SearchResult> {
  const [first, ...rest] = q.pipeline;
  if (rest.length === 0 && first.kind === 'filter') {
    const request = unlessUnsupported(() => filterRequest(q));
    if (request) return store.searchSpans(scope, { ...request, range: opts.range, limit: opts.limit, spss: opts.spss });
  }
  return new Evaluator(q, opts).run(store, scope);
}

/**
 * Every trace that `q` matches in the range, however many, as a search
 * would find them with no limit: traces with a matching span that starts
 * in the range. For erasure, so never cut short: past `max` traces (or,
 * for a query evaluated here, `max` candidate traces) it answers
 * `overLimit` and no ids.
 */
export async function matchingTraceIds(
  q: Query,
  store: SearchPort,
  scope: TenantScope,
  range: TimeRange,
  max: number,
): Promise<{ traceIds: Buffer[]; overLimit: boolean }> {
  const [first, ...rest] = q.pipeline;
  if (rest.length === 0 && first.kind === 'filter') {
    const request = unlessUnsupported(() => filterRequest(q));
    if (request) {
      // All of them at once: paging by offset could skip a trace whose order changes as spans arrive.
      const ids = await store.candidateTraces(scope, { range, anySpan: request.where, having: { op: 'and', terms: [] }, limit: max + 1, offset: 0 });
      return ids.length > max ? { traceIds: [], overLimit: true } : { traceIds: ids, overLimit: false };
    }
  }
  return new Evaluator(q, { range, limit: max, spss: 1 }).allMatches(store, scope, max);
}

type SpanSet = { spans: number[]; attributes: KeyValueJson[] };

/** Candidate traces read per query when every match is wanted; their ids travel in the SQL text. */
const EVAL_BATCH = 1000;

/** Exported for tests: construction refuses what cannot be compiled. */
export class Evaluator {
  /** Leaf filters, and their predicates in the same order. */
  private readonly leaves: SpansetFilter[] = [];
  private readonly predicates: SpanPredicate[] = [];
  /** What is fetched per span, de-duplicated. */
  private readonly flags = new Requests<Condition>();
  private readonly numbers = new Requests<Field>();
  private readonly texts = new Requests<Field>();
  private readonly values = new Requests<Field>();
  /** Fields whose text is shown on matched spans (select(), and the query's attributes). */
  private readonly shown: { key: string; text: FieldText }[] = [];
  private readonly registry: ValueRegistry = {
    flag: (c) => this.flags.add(c),
    values: (f) => this.values.add(f),
  };

  constructor(
    private readonly q: Query,
    private readonly opts: SearchOptions,
  ) {
    const [first, ...stages] = q.pipeline;
    this.collect(first as SpansetExpr);
    for (const s of stages) this.prepare(s);
  }

  private addLeaf(f: SpansetFilter, show: boolean): void {
    this.leaves.push(f);
    this.predicates.push(compilePredicate(f.expr, this.registry));
    if (show && f.expr) this.collectShown(f.expr);
  }

  private collect(e: SpansetExpr): void {
    if (e.kind === 'filter') this.addLeaf(e, true);
    else {
      this.collect(e.left);
      this.collect(e.right);
    }
  }

  private collectShown(e: FieldExpr): void {
    if (e.kind === 'binary') {
      this.collectShown(e.left);
      this.collectShown(e.right);
    } else if (e.kind === 'unary') this.collectShown(e.operand);
    else if ((e.kind === 'attribute' && (e.scope === 'span' || e.scope === 'any') && !e.parent) || (e.kind === 'intrinsic' && ['status', 'span:status', 'kind', 'span:kind', 'statusMessage'].includes(e.name))) {
      const key = e.kind === 'attribute' ? e.name : e.name.replace(/^span:/, '');
      if (!this.shown.some((s) => s.key === key)) this.shown.push({ key, text: this.fieldText(e) });
    }
  }

  /** Index of a field's text among the fetched values (refuses what cannot be read). */
  text(e: FieldExpr): number {
    return this.texts.add(textField(e));
  }

  /**
   * Where a field's text is among the fetched values; `parent.` attributes
   * read the parent span's (by() and select()).
   */
  fieldText(e: FieldExpr): FieldText {
    if (e.kind === 'attribute' && e.parent) return { index: this.text({ ...e, parent: false }), parent: true };
    return { index: this.text(e), parent: false };
  }

  /** Index of a field's number among the fetched values. */
  number(e: FieldExpr): number {
    return this.numbers.add(numberField(e));
  }

  private prepare(s: Stage): void {
    switch (s.kind) {
      case 'filter':
        this.addLeaf(s, false);
        return;
      case 'spansetOp':
        this.collect(s);
        return;
      case 'scalarFilter':
        for (const side of [s.left, s.right]) if (side.kind === 'aggregate' && side.field) this.number(side.field);
        return;
      case 'by':
      case 'select':
        for (const f of s.fields) {
          const i = this.fieldText(f);
          if (s.kind === 'select') {
            const key = f.kind === 'attribute' ? f.name : printField(f);
            if (!this.shown.some((x) => x.key === key)) this.shown.push({ key, text: i });
          }
        }
        return;
      case 'coalesce':
        return;
      default:
        throw new TraceQLUnsupportedError(`${s.kind} in a search (metrics are served by /api/metrics/query_range)`, s.pos);
    }
  }

  async run(store: SearchPort, scope: TenantScope): Promise<SearchResult> {
    const traces: TraceSummary[] = [];
    const inspected = await this.scan(store, scope, this.opts.maxCandidates ?? 20_000, Math.max(this.opts.limit * 4, 100), (id, spans, sets, tree) => {
      traces.push(this.summary(id, spans, sets, tree));
      return traces.length < this.opts.limit;
    });
    traces.sort((a, b) => (a.startNs > b.startNs ? -1 : a.startNs < b.startNs ? 1 : 0));
    return { traces, inspectedSpans: 0, inspectedBytes: 0, inspectedTraces: inspected.traces };
  }

  /** Every matching trace (see matchingTraceIds): candidates taken at once, then evaluated in batches. */
  async allMatches(store: SearchPort, scope: TenantScope, max: number): Promise<{ traceIds: Buffer[]; overLimit: boolean }> {
    const ids = await store.candidateTraces(scope, { range: this.opts.range, anySpan: this.anySpan(), having: this.necessary(this.q.pipeline[0] as SpansetExpr), limit: max + 1, offset: 0 });
    if (ids.length > max) return { traceIds: [], overLimit: true };
    const traceIds: Buffer[] = [];
    for (let i = 0; i < ids.length; i += EVAL_BATCH) await this.evaluateBatch(store, scope, ids.slice(i, i + EVAL_BATCH), (id) => void traceIds.push(id));
    return { traceIds, overLimit: false };
  }

  /**
   * Visits every matched span that starts in the range, once, over at most
   * `maxTraces` candidate traces (metrics over spanset operators and
   * pipelines). `truncated` says whether candidates were left unexamined.
   */
  async forEachMatchedSpan(
    store: SearchPort,
    scope: TenantScope,
    maxTraces: number,
    visit: (span: EvalSpan, text: (f: FieldText) => string) => void,
  ): Promise<{ traces: number; truncated: boolean }> {
    const { startNs, endNs } = this.opts.range;
    return this.scan(store, scope, maxTraces, 1000, (_id, spans, sets, tree) => {
      for (const i of union(...sets.map((s) => s.spans))) if (spans[i].startNs >= startNs && spans[i].startNs < endNs) visit(spans[i], (f) => textOf(spans, tree, i, f));
      return true;
    });
  }

  /** Candidate traces, newest first, in batches; `onMatch` returns false to stop. */
  private async scan(
    store: SearchPort,
    scope: TenantScope,
    maxCandidates: number,
    batch: number,
    onMatch: (id: Buffer, spans: EvalSpan[], sets: SpanSet[], tree: Tree) => boolean,
  ): Promise<{ traces: number; truncated: boolean }> {
    const anySpan = this.anySpan();
    const having = this.necessary(this.q.pipeline[0] as SpansetExpr);
    let inspected = 0;
    for (let offset = 0; offset < maxCandidates; offset += batch) {
      const ids = await store.candidateTraces(scope, { range: this.opts.range, anySpan, having, limit: Math.min(batch, maxCandidates - offset), offset });
      if (ids.length === 0) return { traces: inspected, truncated: false };
      inspected += ids.length;
      if (!(await this.evaluateBatch(store, scope, ids, onMatch))) return { traces: inspected, truncated: false };
      if (ids.length < batch) return { traces: inspected, truncated: false };
    }
    return { traces: inspected, truncated: true };
  }

  /** Some span may match some leaf filter. */
  private anySpan(): Condition {
    return this.predicates.length > 0 ? { op: 'or', terms: this.predicates.map((p) => p.superset) } : { op: 'const', value: true };
  }

  /** Reads and evaluates a batch of candidate traces; false once `onMatch` asks to stop. */
  private async evaluateBatch(store: SearchPort, scope: TenantScope, ids: Buffer[], onMatch: (id: Buffer, spans: EvalSpan[], sets: SpanSet[], tree: Tree) => boolean | void): Promise<boolean> {
    const spansByTrace = await store.traceSpans(scope, {
      traceIds: ids,
      range: this.opts.range,
      flags: this.flags.list,
      numbers: this.numbers.list,
      texts: this.texts.list,
      values: this.values.list,
    });
    for (const id of ids) {
      const spans = spansByTrace.get(id.toString('hex')) ?? [];
      const tree = new Tree(spans);
      const sets = this.evaluate(spans, tree);
      if (sets.length > 0 && onMatch(id, spans, sets, tree) === false) return false;
    }
    return true;
  }

  /** A condition every matching trace meets: some span meets each leaf's superset. */
  private necessary(e: SpansetExpr): TraceCondition {
    if (e.kind === 'filter') {
      const p = this.predicates[this.leaves.indexOf(e)];
      return { op: 'and', terms: [p.superset, ...p.inTrace].map((where): TraceCondition => ({ op: 'someSpan', where })) };
    }
    const l = this.necessary(e.left);
    const r = this.necessary(e.right);
    if (e.op === '||') return { op: 'or', terms: [l, r] };
    if (e.op.startsWith('!')) return r; // right-hand spans without the relation
    return { op: 'and', terms: [l, r] };
  }

  // ---- in-process evaluation ---------------------------------------------------

  private evaluate(spans: EvalSpan[], tree: Tree): SpanSet[] {
    let trace: ReturnType<TraceValues['trace']> | null = null;
    const values: TraceValues = {
      flags: (i) => spans[i].flags,
      values: (i) => spans[i].values,
      parent: (i) => tree.parent(i),
      trace: () => {
        if (!trace) {
          const { start, end, root } = extent(spans);
          trace = { durationNs: end - start, rootName: root?.name ?? null, rootService: root?.serviceName ?? null };
        }
        return trace;
      },
    };
    const matches = this.predicates.map((p) => spans.map((_, i) => p.test(i, values)));
    const [first, ...stages] = this.q.pipeline;
    let sets: SpanSet[] = [{ spans: this.spanset(first as SpansetExpr, matches, tree), attributes: [] }].filter((s) => s.spans.length > 0);
    for (const s of stages) {
      if (sets.length === 0) break;
      sets = this.stage(s, sets, spans, matches, tree);
    }
    return sets.filter((s) => s.spans.length > 0);
  }

  /**
   * The spans an expression selects. Inside a pipeline (`within` given) the
   * filters see only the input spanset's spans, and relations are still
   * those of the whole trace, as in Tempo.
   */
  private spanset(e: SpansetExpr, matches: boolean[][], tree: Tree, within?: Set<number>): number[] {
    if (e.kind === 'filter') {
      const m = matches[this.leaves.indexOf(e)];
      const out: number[] = [];
      for (let i = 0; i < m.length; i++) if (m[i] && (!within || within.has(i))) out.push(i);
      return out;
    }
    const l = this.spanset(e.left, matches, tree, within);
    const r = this.spanset(e.right, matches, tree, within);
    const L = new Set(l);
    const R = new Set(r);
    switch (e.op) {
      case '&&':
        return l.length > 0 && r.length > 0 ? union(l, r) : [];
      case '||':
        return union(l, r);
      case '>':
        return r.filter((b) => L.has(tree.parent(b)));
      case '!>':
        return r.filter((b) => !L.has(tree.parent(b)));
      case '<':
        return r.filter((b) => tree.children(b).some((a) => L.has(a)));
      case '!<':
        return r.filter((b) => !tree.children(b).some((a) => L.has(a)));
      case '>>':
        return r.filter((b) => tree.ancestors(b).some((a) => L.has(a)));
      case '!>>':
        return r.filter((b) => !tree.ancestors(b).some((a) => L.has(a)));
      case '<<':
        return r.filter((b) => tree.descendants(b).some((a) => L.has(a)));
      case '!<<':
        return r.filter((b) => !tree.descendants(b).some((a) => L.has(a)));
      case '~':
        return r.filter((b) => tree.siblings(b).some((a) => L.has(a)));
      case '!~':
        return r.filter((b) => !tree.siblings(b).some((a) => L.has(a)));
      case '&>':
        return union(l.filter((a) => tree.children(a).some((b) => R.has(b))), r.filter((b) => L.has(tree.parent(b))));
      case '&<':
        return union(l.filter((a) => R.has(tree.parent(a))), r.filter((b) => tree.children(b).some((a) => L.has(a))));
      case '&>>':
        return union(l.filter((a) => tree.descendants(a).some((b) => R.has(b))), r.filter((b) => tree.ancestors(b).some((a) => L.has(a))));
      case '&<<':
        return union(l.filter((a) => tree.ancestors(a).some((b) => R.has(b))), r.filter((b) => tree.descendants(b).some((a) => L.has(a))));
      case '&~':
        return union(l.filter((a) => tree.siblings(a).some((b) => R.has(b))), r.filter((b) => tree.siblings(b).some((a) => L.has(a))));
    }
  }

  private stage(s: Stage, sets: SpanSet[], spans: EvalSpan[], matches: boolean[][], tree: Tree): SpanSet[] {
    switch (s.kind) {
      case 'filter': {
        const m = matches[this.leaves.indexOf(s)];
        return sets.map((set) => ({ ...set, spans: set.spans.filter((i) => m[i]) }));
      }
      case 'spansetOp':
        return sets.map((set) => ({ ...set, spans: this.spanset(s, matches, tree, new Set(set.spans)) }));
      case 'scalarFilter':
        return sets.filter((set) => this.scalar(s, set, spans));
      case 'by': {
        const out: SpanSet[] = [];
        for (const set of sets) {
          const groups = new Map<string, number[]>();
          for (const i of set.spans) {
            const key = JSON.stringify(s.fields.map((f) => textOf(spans, tree, i, this.fieldText(f))));
            const g = groups.get(key);
            if (g) g.push(i);
            else groups.set(key, [i]);
          }
          for (const [key, members] of groups) {
            const values = JSON.parse(key) as string[];
            out.push({
              spans: members,
              attributes: [...set.attributes, ...s.fields.map((f, j): KeyValueJson => ({ key: `by(${printField(f)})`, value: { stringValue: values[j] } }))],
            });
          }
        }
        return out;
      }
      case 'coalesce':
        return [{ spans: union(...sets.map((x) => x.spans)), attributes: [] }];
      case 'select':
        return sets;
      default:
        throw new TraceQLUnsupportedError(`${s.kind} in a search`, s.pos);
    }
  }

  private scalar(s: ScalarFilter, set: SpanSet, spans: EvalSpan[]): boolean {
    const value = (side: ScalarFilter['left']): number => {
      if (side.kind === 'static') return staticNumber(side);
      if (side.fn === 'count') return set.spans.length;
      const k = this.number(side.field!);
      const xs = set.spans.map((i) => spans[i].numbers[k]).filter((x) => !Number.isNaN(x));
      if (xs.length === 0) return NaN;
      switch (side.fn) {
        case 'sum':
          return xs.reduce((a, b) => a + b, 0);
        case 'avg':
          return xs.reduce((a, b) => a + b, 0) / xs.length;
        case 'min':
          return Math.min(...xs);
        case 'max':
          return Math.max(...xs);
      }
    };
    const a = value(s.left);
    const b = value(s.right);
    switch (s.op) {
      case '=':
        return a === b;
      case '!=':
        return a !== b;
      case '>':
        return a > b;
      case '>=':
        return a >= b;
      case '<':
        return a < b;
      case '<=':
        return a <= b;
      default:
        throw new TraceQLUnsupportedError(`'${s.op}' between aggregates`, s.pos);
    }
  }

  private summary(id: Buffer, spans: EvalSpan[], sets: SpanSet[], tree: Tree): TraceSummary {
    const { start, end, root } = extent(spans);
    const spanSets = sets.map((set) => {
      const ordered = [...set.spans].sort((a, b) => (spans[a].startNs < spans[b].startNs ? -1 : 1));
      return {
        matched: set.spans.length,
        attributes: set.attributes,
        spans: ordered.slice(0, this.opts.spss).map((i) => {
          const s = spans[i];
          const attributes: KeyValueJson[] = [{ key: 'service.name', value: { stringValue: s.serviceName } }];
          for (const sh of this.shown) {
            const text = textOf(spans, tree, i, sh.text);
            if (text !== '') attributes.push({ key: sh.key, value: { stringValue: text } });
          }
          return { spanId: Buffer.from(s.spanId, 'hex'), name: s.name, startNs: s.startNs, durationNs: s.durationNs, attributes };
        }),
      };
    });
    return {
      traceId: id,
      rootServiceName: root?.serviceName ?? '',
      rootTraceName: root?.name ?? '',
      startNs: start,
      durationNs: end - start,
      spanSet: spanSets[0],
      spanSets,
    };
  }
}

function staticNumber(s: Static): number {
  if (s.type === 'int' || s.type === 'duration') return Number(s.value);
  if (s.type === 'float') return s.value;
  throw new TraceQLUnsupportedError(`a ${s.type} in an aggregate comparison`, s.pos);
}

/** A trace's first start, last end and root span, as the trace index derives them. */
function extent(spans: EvalSpan[]): { start: bigint; end: bigint; root: EvalSpan | undefined } {
  let start = spans[0]?.startNs ?? 0n;
  let end = start;
  let root: EvalSpan | undefined;
  for (const s of spans) {
    if (s.startNs < start) start = s.startNs;
    if (s.startNs + s.durationNs > end) end = s.startNs + s.durationNs;
    if (s.parentId === '' && !root) root = s;
  }
  return { start, end, root };
}

/** A fetched text of a span, or of its parent. */
export interface FieldText {
  index: number;
  parent: boolean;
}

function textOf(spans: EvalSpan[], tree: Tree, i: number, f: FieldText): string {
  const at = f.parent ? tree.parent(i) : i;
  return at < 0 ? '' : spans[at].texts[f.index];
}

/** Values requested per span, each once; add() gives its index. */
class Requests<T> {
  readonly list: T[] = [];
  private readonly index = new Map<string, number>();

  add(x: T): number {
    const key = requestKey(x);
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(x);
      this.index.set(key, i);
    }
    return i;
  }
}

function union(...lists: number[][]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}

/** Parent and child relations of one trace's spans, by index. */
class Tree {
  private readonly parentOf: number[];
  private readonly childrenOf: number[][];

  constructor(spans: EvalSpan[]) {
    const index = new Map(spans.map((s, i) => [s.spanId, i]));
    this.parentOf = spans.map((s) => (s.parentId === '' ? -1 : (index.get(s.parentId) ?? -1)));
    this.childrenOf = spans.map(() => []);
    this.parentOf.forEach((p, i) => {
      if (p >= 0) this.childrenOf[p].push(i);
    });
  }

  parent(i: number): number {
    return this.parentOf[i];
  }

  children(i: number): number[] {
    return this.childrenOf[i];
  }

  siblings(i: number): number[] {
    const p = this.parentOf[i];
    return p < 0 ? [] : this.childrenOf[p].filter((c) => c !== i);
  }

  ancestors(i: number): number[] {
    const out: number[] = [];
    const seen = new Set<number>();
    for (let p = this.parentOf[i]; p >= 0 && !seen.has(p); p = this.parentOf[p]) {
      seen.add(p);
      out.push(p);
    }
    return out;
  }

  descendants(i: number): number[] {
    const out: number[] = [];
    const stack = [...this.childrenOf[i]];
    const seen = new Set<number>([i]);
    while (stack.length > 0) {
      const c = stack.pop()!;
      if (seen.has(c)) continue;
      seen.add(c);
      out.push(c);
      stack.push(...this.childrenOf[c]);
    }
    return out;
  }
}
