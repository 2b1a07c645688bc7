import type { KeyValueJson } from '../../model/any-value.js';
import { heatmapCell, type Condition, type EvalSpan, type Field, type Value, type SearchOrder, type SearchPort, type SearchResult, type TenantScope, type TimeRange, type TraceCondition, type TraceHeatmap, type TraceHeatmapRequest, type TraceSummary } from '../../store/index.js';
import type { FieldExpr, Query, ScalarExpr, ScalarFilter, SpansetExpr, SpansetFilter, SpansetOp, Stage, Static } from './ast.js';
import { TraceQLUnsupportedError, unlessUnsupported } from './errors.js';
import { filterRequest, numberField, requestKey, textField } from './request.js';
import { compilePredicate, STRUCTURE_INTRINSICS, type SpanPredicate, type SpanStructure, type TraceValues, type ValueRegistry } from './residual.js';
import { ARITHMETIC, arithmetic } from './values.js';
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
  /** Default `recent` (see SearchOrder). */
  order?: SearchOrder;
  /** Also count every matching trace (SearchResult.total). */
  countTotal?: boolean;
}

/**
 * Candidate traces examined when every match counts (the slowest, a total,
 * a heatmap) for a query evaluated in process; past them the answer says
 * it is not exact.
 */
export const MAX_EVALUATED_CANDIDATES = 20_000;

export async function searchTraceQL(q: Query, store: SearchPort, scope: TenantScope, opts: SearchOptions): Promise<SearchResult> {
  const request = loneFilter(q);
  if (request) return store.searchSpans(scope, { ...request, range: opts.range, limit: opts.limit, spss: opts.spss, order: opts.order, countTotal: opts.countTotal });
  return new Evaluator(q, opts).run(store, scope);
}

/**
 * Every trace `q` matches in the range, counted by start time and duration
 * (TraceHeatmapRequest). A query evaluated in process counts the matches
 * among at most `maxCandidates` candidate traces, and says when it stopped there.
 */
export async function traceHeatmapTraceQL(
  q: Query,
  store: SearchPort,
  scope: TenantScope,
  req: Omit<TraceHeatmapRequest, 'where'> & { maxCandidates?: number },
): Promise<TraceHeatmap> {
  const request = loneFilter(q);
  if (request) return store.traceHeatmap(scope, { where: request.where, range: req.range, stepNs: req.stepNs, durationBoundsNs: req.durationBoundsNs });
  const counts = new Map<string, { column: number; row: number; traces: number }>();
  let matched = 0;
  const evaluator = new Evaluator(q, { range: req.range, limit: 0, spss: 1 });
  const scanned = await evaluator.everyMatch(store, scope, req.maxCandidates ?? MAX_EVALUATED_CANDIDATES, (_id, trace) => {
    const { start, end } = extent(trace.spans);
    const cell = heatmapCell(req, start, end - start);
    const key = `${cell.column}/${cell.row}`;
    const c = counts.get(key);
    if (c) c.traces++;
    else counts.set(key, { ...cell, traces: 1 });
    matched++;
  });
  return { cells: [...counts.values()], total: { count: matched, exact: !scanned.truncated } };
}

/** The store's request for a query that is one spanset filter SQL can answer, else undefined. */
function loneFilter(q: Query): ReturnType<typeof filterRequest> | undefined {
  const [first, ...rest] = q.pipeline;
  if (rest.length > 0 || first.kind !== 'filter') return undefined;
  return unlessUnsupported(() => filterRequest(q)) ?? undefined;
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

/** A span's text for by() and select(), or '' for none. */
export type TextReader = (trace: TraceView, i: number) => string;
/** A span's number for aggregates and metrics, or NaN for none. */
export type NumberReader = (trace: TraceView, i: number) => number;

/** What a visit of a matching trace receives: its id, its spans and the spansets the query selected. */
type MatchVisitor<R> = (id: Buffer, trace: TraceView, sets: SpanSet[]) => R;

/** Candidate traces read per query when every match is wanted; their ids travel in the SQL text. */
const EVAL_BATCH = 1000;

/**
 * One trace's spans as the evaluator reads them, with what is derived from
 * the whole trace computed once, when first asked: the trace-level
 * intrinsics and each span's place in the tree.
 */
export class TraceView implements TraceValues {
  private traceInfo: ReturnType<TraceValues['trace']> | null = null;
  private structures: SpanStructure[] | null = null;

  constructor(
    readonly spans: EvalSpan[],
    readonly tree: SpanTree,
  ) {}

  flags(i: number): boolean[] {
    return this.spans[i].flags;
  }

  values(i: number): Value[][] {
    return this.spans[i].values;
  }

  parent(i: number): number {
    return this.tree.parent(i);
  }

  trace(): ReturnType<TraceValues['trace']> {
    if (!this.traceInfo) {
      const { start, end, root } = extent(this.spans);
      this.traceInfo = { durationNs: end - start, rootName: root?.name ?? null, rootService: root?.serviceName ?? null };
    }
    return this.traceInfo;
  }

  structure(i: number): SpanStructure {
    this.structures ??= nestedSets(this.spans, this.tree);
    return this.structures[i];
  }
}

/** Exported for tests: construction refuses what cannot be compiled. */
export class Evaluator {
  /** Leaf filters, and their predicates in the same order. */
  private readonly leaves: SpansetFilter[] = [];
  private readonly leafIndex = new Map<SpansetFilter, number>();
  private readonly predicates: SpanPredicate[] = [];
  /** What is fetched per span, de-duplicated. */
  private readonly flags = new Requests<Condition>();
  private readonly numbers = new Requests<Field>();
  private readonly texts = new Requests<Field>();
  private readonly values = new Requests<Field>();
  /** Fields whose text is shown on matched spans (select(), and the query's attributes), each key once. */
  private readonly shown = new Map<string, TextReader>();
  /** Readers compiled for stages (by(), aggregates), by the node they read for. */
  private readonly readers = new Map<object, TextReader[] | NumberReader>();
  private readonly registry: ValueRegistry = {
    flag: (c) => this.flags.add(c),
    values: (f) => this.values.add(f),
  };

  constructor(
    private readonly q: Query,
    private readonly opts: SearchOptions,
  ) {
    this.prepareAll(q.pipeline);
  }

  private prepareAll(pipeline: Stage[]): void {
    const [first, ...stages] = pipeline;
    if (isSpanset(first)) this.collect(first);
    else this.prepare(first);
    for (const s of stages) this.prepare(s);
  }

  private addLeaf(f: SpansetFilter, show: boolean): void {
    this.leafIndex.set(f, this.leaves.length);
    this.leaves.push(f);
    this.predicates.push(compilePredicate(f.expr, this.registry));
    if (show && f.expr) this.collectShown(f.expr);
  }

  private collect(e: SpansetExpr): void {
    if (e.kind === 'filter') this.addLeaf(e, true);
    else if (e.kind === 'spansetPipeline') this.prepareAll(e.pipeline);
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
      if (!this.shown.has(key)) this.shown.set(key, this.fieldText(e));
    }
  }

  /**
   * How to read a field's (or an expression's) text on a span: fetched
   * texts, the parent's for `parent.` attributes, the tree's numbers for
   * nested set intrinsics and span:childCount, and the number an arithmetic
   * expression gives (by(.a + 1)); refuses what cannot be read.
   */
  fieldText(e: FieldExpr): TextReader {
    if (e.kind === 'attribute' && e.parent) {
      const k = this.texts.add(textField({ ...e, parent: false }));
      return (t, i) => {
        const p = t.tree.parent(i);
        return p < 0 ? '' : t.spans[p].texts[k];
      };
    }
    const structural = e.kind === 'intrinsic' ? STRUCTURE_INTRINSICS[e.name] : undefined;
    if (structural) return (t, i) => String(t.structure(i)[structural]);
    if (e.kind === 'attribute' || e.kind === 'intrinsic') {
      const k = this.texts.add(textField(e));
      return (t, i) => t.spans[i].texts[k];
    }
    const n = this.number(e);
    return (t, i) => {
      const x = n(t, i);
      return Number.isNaN(x) ? '' : String(x);
    };
  }

  /** How to read an expression's number on a span (NaN where a field it reads is absent). */
  number(e: FieldExpr): NumberReader {
    switch (e.kind) {
      case 'static': {
        const v = e.type === 'int' || e.type === 'duration' ? Number(e.value) : e.type === 'float' ? e.value : NaN;
        if (Number.isNaN(v)) throw new TraceQLUnsupportedError(`a ${e.type} as a number`, e.pos);
        return () => v;
      }
      case 'unary': {
        if (e.op !== '-') throw new TraceQLUnsupportedError(`'${e.op}' in a number`, e.pos);
        const inner = this.number(e.operand);
        return (t, i) => -inner(t, i);
      }
      case 'binary': {
        if (!ARITHMETIC.has(e.op)) throw new TraceQLUnsupportedError(`'${e.op}' in a number`, e.pos);
        const l = this.number(e.left);
        const r = this.number(e.right);
        const op = e.op;
        return (t, i) => arithmetic(op, l(t, i), r(t, i));
      }
      case 'attribute':
        if (e.parent) {
          const k = this.numbers.add(numberField({ ...e, parent: false }));
          return (t, i) => {
            const p = t.tree.parent(i);
            return p < 0 ? NaN : t.spans[p].numbers[k];
          };
        }
        break;
      case 'intrinsic': {
        const structural = STRUCTURE_INTRINSICS[e.name];
        if (structural) return (t, i) => t.structure(i)[structural];
        break;
      }
    }
    const k = this.numbers.add(numberField(e));
    return (t, i) => t.spans[i].numbers[k];
  }

  private prepare(s: Stage): void {
    switch (s.kind) {
      case 'filter':
        this.addLeaf(s, false);
        return;
      case 'spansetOp':
      case 'spansetPipeline':
        this.collect(s);
        return;
      case 'scalarFilter':
        this.prepareScalar(s.left);
        this.prepareScalar(s.right);
        return;
      case 'by':
        this.readers.set(s, s.fields.map((f) => this.fieldText(f)));
        return;
      case 'select':
        for (const f of s.fields) {
          const key = f.kind === 'attribute' ? f.name : printField(f);
          if (!this.shown.has(key)) this.shown.set(key, this.fieldText(f));
        }
        return;
      case 'coalesce':
        return;
      default:
        throw new TraceQLUnsupportedError(`${s.kind} in a search (metrics are served by /api/metrics/query_range)`, s.pos);
    }
  }

  private prepareScalar(e: ScalarExpr): void {
    if (e.kind === 'aggregate') {
      if (e.field) this.readers.set(e, this.number(e.field));
    } else if (e.kind === 'scalarBinary') {
      this.prepareScalar(e.left);
      this.prepareScalar(e.right);
    } else if (e.kind === 'scalarNegate') this.prepareScalar(e.operand);
  }

  async run(store: SearchPort, scope: TenantScope): Promise<SearchResult> {
    const { limit, order = 'recent', countTotal = false } = this.opts;
    const maxCandidates = this.opts.maxCandidates ?? MAX_EVALUATED_CANDIDATES;
    if (order === 'recent' && !countTotal) {
      const traces: TraceSummary[] = [];
      const inspected = await this.scan(store, scope, maxCandidates, Math.max(limit * 4, 100), (id, trace, sets) => {
        traces.push(this.summary(id, trace, sets));
        return traces.length < limit;
      });
      traces.sort(byRecent);
      return { traces, inspectedSpans: 0, inspectedBytes: 0, inspectedTraces: inspected.traces };
    }
    // Every match counts: the total, or the longest. Candidates come newest
    // first, so for `recent` the first `limit` matches are the answer.
    let traces: TraceSummary[] = [];
    let matched = 0;
    const sort = order === 'slowest' ? bySlowest : byRecent;
    const inspected = await this.everyMatch(store, scope, maxCandidates, (id, trace, sets) => {
      matched++;
      if (order === 'recent' && traces.length >= limit) return;
      traces.push(this.summary(id, trace, sets));
      // Keeps memory at a few pages of summaries however many traces match.
      if (traces.length >= limit * 4 + 100) traces = traces.sort(sort).slice(0, limit);
    });
    traces = traces.sort(sort).slice(0, limit);
    const out: SearchResult = { traces, inspectedSpans: 0, inspectedBytes: 0, inspectedTraces: inspected.traces };
    if (countTotal) out.total = { count: matched, exact: !inspected.truncated };
    return out;
  }

  /** Visits every matching trace among at most `maxCandidates` candidates, newest first. */
  everyMatch(store: SearchPort, scope: TenantScope, maxCandidates: number, visit: MatchVisitor<void>): Promise<{ traces: number; truncated: boolean }> {
    return this.scan(store, scope, maxCandidates, 1000, (id, trace, sets) => {
      visit(id, trace, sets);
      return true;
    });
  }

  /** Every matching trace (see matchingTraceIds): candidates taken at once, then evaluated in batches. */
  async allMatches(store: SearchPort, scope: TenantScope, max: number): Promise<{ traceIds: Buffer[]; overLimit: boolean }> {
    const ids = await store.candidateTraces(scope, { range: this.opts.range, anySpan: this.anySpan(), having: this.necessary(this.q.pipeline[0]), limit: max + 1, offset: 0 });
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
    visit: (span: EvalSpan, text: (f: TextReader) => string, number: (f: NumberReader) => number) => void,
  ): Promise<{ traces: number; truncated: boolean }> {
    const { startNs, endNs } = this.opts.range;
    return this.scan(store, scope, maxTraces, 1000, (_id, trace, sets) => {
      const { spans } = trace;
      for (const i of union(sets.map((s) => s.spans), spans.length))
        if (spans[i].startNs >= startNs && spans[i].startNs < endNs)
          visit(
            spans[i],
            (f) => f(trace, i),
            (f) => f(trace, i),
          );
      return true;
    });
  }

  /** Candidate traces, newest first, in batches; `onMatch` returns false to stop. */
  private async scan(store: SearchPort, scope: TenantScope, maxCandidates: number, batch: number, onMatch: MatchVisitor<boolean>): Promise<{ traces: number; truncated: boolean }> {
    const anySpan = this.anySpan();
    const having = this.necessary(this.q.pipeline[0]);
    let inspected = 0;
    for (let offset = 0; offset < maxCandidates; offset += batch) {
      const want = Math.min(batch, maxCandidates - offset);
      const ids = await store.candidateTraces(scope, { range: this.opts.range, anySpan, having, limit: want, offset });
      if (ids.length === 0) return { traces: inspected, truncated: false };
      inspected += ids.length;
      if (!(await this.evaluateBatch(store, scope, ids, onMatch))) return { traces: inspected, truncated: false };
      // Fewer than asked: none are left. (A last batch cut to maxCandidates is not the end.)
      if (ids.length < want) return { traces: inspected, truncated: false };
    }
    return { traces: inspected, truncated: true };
  }

  /** Some span may match some leaf filter; any span when the query starts over every span (`count() > 2`). */
  private anySpan(): Condition {
    if (!isSpanset(this.q.pipeline[0]) || this.predicates.length === 0) return { op: 'const', value: true };
    return { op: 'or', terms: this.predicates.map((p) => p.superset) };
  }

  /** Reads and evaluates a batch of candidate traces; false once `onMatch` asks to stop. */
  private async evaluateBatch(store: SearchPort, scope: TenantScope, ids: Buffer[], onMatch: MatchVisitor<boolean | void>): Promise<boolean> {
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
      const trace = new TraceView(spans, SpanTree.of(spans));
      const sets = this.evaluate(trace);
      if (sets.length > 0 && onMatch(id, trace, sets) === false) return false;
    }
    return true;
  }

  /** A condition every matching trace meets: some span meets each leaf's superset. */
  private necessary(e: Stage): TraceCondition {
    if (e.kind === 'filter') {
      const p = this.predicates[this.leafIndex.get(e)!];
      return { op: 'and', terms: [p.superset, ...p.inTrace].map((where): TraceCondition => ({ op: 'someSpan', where })) };
    }
    // A pipeline's spans are among its first element's.
    if (e.kind === 'spansetPipeline') return this.necessary(e.pipeline[0]);
    if (e.kind !== 'spansetOp') return { op: 'and', terms: [] };
    const l = this.necessary(e.left);
    const r = this.necessary(e.right);
    if (e.op === '||') return { op: 'or', terms: [l, r] };
    if (e.op.startsWith('!')) return r; // right-hand spans without the relation
    return { op: 'and', terms: [l, r] };
  }

  // ---- in-process evaluation ---------------------------------------------------

  private evaluate(trace: TraceView): SpanSet[] {
    const matches = this.predicates.map((p) => trace.spans.map((_, i) => p.test(i, trace)));
    return this.pipeline(this.q.pipeline, trace, matches).filter((s) => s.spans.length > 0);
  }

  /**
   * The spansets a pipeline yields over `within` (every span of the trace
   * when absent). A pipeline that starts with a scalar filter, by() or
   * select() starts from one spanset of every span, as in Tempo.
   */
  private pipeline(pipeline: Stage[], trace: TraceView, matches: boolean[][], within?: number[]): SpanSet[] {
    const [first, ...stages] = pipeline;
    let sets: SpanSet[];
    if (isSpanset(first)) sets = [{ spans: this.spanset(first, trace, matches, within), attributes: [] }];
    else sets = this.stage(first, [{ spans: within ?? trace.spans.map((_, i) => i), attributes: [] }], trace, matches);
    sets = sets.filter((s) => s.spans.length > 0);
    for (const s of stages) {
      if (sets.length === 0) break;
      sets = this.stage(s, sets, trace, matches).filter((x) => x.spans.length > 0);
    }
    return sets;
  }

  /**
   * The spans an expression selects, ascending. Inside a pipeline
   * (`within` given, ascending) the filters see only the input spanset's
   * spans, and relations are still those of the whole trace, as in Tempo.
   * The cost follows the spans selected, not the trace's size, so a
   * pipeline over many small spansets (after by()) stays O(n log n).
   */
  private spanset(e: SpansetExpr, trace: TraceView, matches: boolean[][], within?: number[]): number[] {
    if (e.kind === 'filter') {
      const m = matches[this.leafIndex.get(e)!];
      if (within) return within.filter((i) => m[i]);
      const out: number[] = [];
      for (let i = 0; i < m.length; i++) if (m[i]) out.push(i);
      return out;
    }
    // A pipeline operand: the spans of every spanset it yields.
    if (e.kind === 'spansetPipeline') return union(this.pipeline(e.pipeline, trace, matches, within).map((s) => s.spans), trace.spans.length);
    const l = this.spanset(e.left, trace, matches, within);
    const r = this.spanset(e.right, trace, matches, within);
    return relate(e.op, l, r, trace.tree);
  }

  private stage(s: Stage, sets: SpanSet[], trace: TraceView, matches: boolean[][]): SpanSet[] {
    switch (s.kind) {
      case 'filter': {
        const m = matches[this.leafIndex.get(s)!];
        return sets.map((set) => ({ ...set, spans: set.spans.filter((i) => m[i]) }));
      }
      case 'spansetOp':
      case 'spansetPipeline':
        return sets.map((set) => ({ ...set, spans: this.spanset(s, trace, matches, set.spans) }));
      case 'scalarFilter':
        return sets.filter((set) => this.scalarHolds(s, set, trace));
      case 'by': {
        const texts = this.readers.get(s) as TextReader[];
        const labels = s.fields.map((f) => `by(${printField(f)})`);
        const out: SpanSet[] = [];
        for (const set of sets) {
          const groups = new Map<string, { values: string[]; members: number[] }>();
          for (const i of set.spans) {
            const values = texts.map((read) => read(trace, i));
            const key = groupKey(values);
            const g = groups.get(key);
            if (g) g.members.push(i);
            else groups.set(key, { values, members: [i] });
          }
          for (const { values, members } of groups.values()) {
            out.push({
              spans: members,
              attributes: [...set.attributes, ...labels.map((key, j): KeyValueJson => ({ key, value: { stringValue: values[j] } }))],
            });
          }
        }
        return out;
      }
      case 'coalesce':
        return [{ spans: union(sets.map((x) => x.spans), trace.spans.length), attributes: [] }];
      case 'select':
        return sets;
      default:
        throw new TraceQLUnsupportedError(`${s.kind} in a search`, s.pos);
    }
  }

  private scalarHolds(s: ScalarFilter, set: SpanSet, trace: TraceView): boolean {
    const a = this.scalarValue(s.left, set, trace);
    const b = this.scalarValue(s.right, set, trace);
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

  /** An aggregate over a spanset, with numbers and arithmetic around it; NaN when an aggregate has no value to take. */
  private scalarValue(e: ScalarExpr, set: SpanSet, trace: TraceView): number {
    switch (e.kind) {
      case 'static':
        return staticNumber(e);
      case 'scalarNegate':
        return -this.scalarValue(e.operand, set, trace);
      case 'scalarBinary':
        return arithmetic(e.op, this.scalarValue(e.left, set, trace), this.scalarValue(e.right, set, trace));
      case 'aggregate':
        break;
    }
    if (e.fn === 'count') return set.spans.length;
    const read = this.readers.get(e) as NumberReader;
    // One pass, no spread: Math.min(...xs) throws past ~100k arguments.
    let n = 0;
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const i of set.spans) {
      const x = read(trace, i);
      if (Number.isNaN(x)) continue;
      n++;
      sum += x;
      if (x < min) min = x;
      if (x > max) max = x;
    }
    if (n === 0) return NaN;
    switch (e.fn) {
      case 'sum':
        return sum;
      case 'avg':
        return sum / n;
      case 'min':
        return min;
      case 'max':
        return max;
    }
  }

  private summary(id: Buffer, trace: TraceView, sets: SpanSet[]): TraceSummary {
    const { spans } = trace;
    const { start, end, root } = extent(spans);
    const spanSets = sets.map((set) => {
      const ordered = [...set.spans].sort((a, b) => (spans[a].startNs < spans[b].startNs ? -1 : 1));
      return {
        matched: set.spans.length,
        attributes: set.attributes,
        spans: ordered.slice(0, this.opts.spss).map((i) => {
          const s = spans[i];
          const attributes: KeyValueJson[] = [{ key: 'service.name', value: { stringValue: s.serviceName } }];
          for (const [key, read] of this.shown) {
            const text = read(trace, i);
            if (text !== '') attributes.push({ key, value: { stringValue: text } });
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

function isSpanset(s: Stage): s is SpansetExpr {
  return s.kind === 'filter' || s.kind === 'spansetOp' || s.kind === 'spansetPipeline';
}

function staticNumber(s: Static): number {
  if (s.type === 'int' || s.type === 'duration') return Number(s.value);
  if (s.type === 'float') return s.value;
  throw new TraceQLUnsupportedError(`a ${s.type} in an aggregate comparison`, s.pos);
}

/** A trace's first start, last end and root span, as the trace index derives them. */
const byRecent = (a: TraceSummary, b: TraceSummary) => (a.startNs > b.startNs ? -1 : a.startNs < b.startNs ? 1 : 0);
const bySlowest = (a: TraceSummary, b: TraceSummary) => (a.durationNs > b.durationNs ? -1 : a.durationNs < b.durationNs ? 1 : byRecent(a, b));

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

/**
 * Tempo's nested set model of one trace: a depth-first walk from each root
 * (a span with no parent id) with one counter from 1, a span's left taken
 * on the way down and its right on the way up; nestedSetParent is the
 * parent's left, -1 for a root. Siblings, and roots, are walked by start
 * time then span id, so the numbers do not depend on storage order. A span
 * no root reaches (its parent never arrived) keeps 0s, as in Tempo.
 * childCount counts a span's children. Iterative: traces can be 100,000
 * spans deep.
 */
export function nestedSets(spans: readonly { spanId: string; parentId: string; startNs: bigint }[], tree: SpanTree): SpanStructure[] {
  const n = spans.length;
  const out: SpanStructure[] = spans.map(() => ({ nestedSetLeft: 0, nestedSetRight: 0, nestedSetParent: 0, childCount: 0 }));
  const children: number[][] = spans.map(() => []);
  const roots: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = tree.parent(i);
    if (p >= 0) {
      children[p].push(i);
      out[p].childCount++;
    } else if (spans[i].parentId === '') roots.push(i);
  }
  const order = (a: number, b: number) =>
    spans[a].startNs < spans[b].startNs ? -1 : spans[a].startNs > spans[b].startNs ? 1 : spans[a].spanId < spans[b].spanId ? -1 : spans[a].spanId > spans[b].spanId ? 1 : a - b;
  roots.sort(order);
  for (const c of children) c.sort(order);
  let bound = 1;
  // Each entry: a span, and how many of its children were entered.
  const stack: [number, number][] = [];
  for (const root of roots) {
    out[root].nestedSetLeft = bound++;
    out[root].nestedSetParent = -1;
    stack.push([root, 0]);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const [i, next] = top;
      if (next < children[i].length) {
        top[1]++;
        const c = children[i][next];
        out[c].nestedSetLeft = bound++;
        out[c].nestedSetParent = out[i].nestedSetLeft;
        stack.push([c, 0]);
      } else {
        out[i].nestedSetRight = bound++;
        stack.pop();
      }
    }
  }
  return out;
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

/**
 * A group's key for its values: each value's length, then the value, so
 * that no two different lists of values share a key.
 */
function groupKey(values: string[]): string {
  return values.length === 1 ? values[0] : values.map((v) => `${v.length}:${v}`).join('');
}

/** The span indices in any of `lists` (each within [0, n)), once each, ascending: O(n + total length). */
function union(lists: number[][], n: number): number[] {
  const seen = new Uint8Array(n);
  for (const list of lists) for (const i of list) seen[i] = 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (seen[i]) out.push(i);
  return out;
}

/** Two ascending lists merged, each index once: O(|a| + |b|). */
function merge(a: number[], b: number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i] < b[j])) out.push(a[i++]);
    else if (i >= a.length || b[j] < a[i]) out.push(b[j++]);
    else {
      out.push(a[i++]);
      j++;
    }
  }
  return out;
}

/**
 * The spans a structural operator selects, given the spans its left side
 * (`l`) and right side (`r`) selected (each ascending), as Tempo defines
 * them: `a > b` is b whose parent is in l; `>>` an ancestor; `<` a child;
 * `<<` a descendant; `~` a sibling (same parent, not itself); `!op` the
 * right-hand spans without the relation; `&op` both sides' spans that are
 * in it. O(k log k) for k = |l| + |r|, whatever the tree's shape.
 */
export function relate(op: SpansetOp, l: number[], r: number[], tree: SpanTree): number[] {
  const keep = (spans: number[], has: Uint8Array, want: boolean) => spans.filter((_, k) => (has[k] === 1) === want);
  switch (op) {
    case '&&':
      return l.length > 0 && r.length > 0 ? merge(l, r) : [];
    case '||':
      return merge(l, r);
    case '>':
      return keep(r, tree.withParentIn(r, l), true);
    case '!>':
      return keep(r, tree.withParentIn(r, l), false);
    case '<':
      return keep(r, tree.withChildIn(r, l), true);
    case '!<':
      return keep(r, tree.withChildIn(r, l), false);
    case '>>':
      return keep(r, tree.withAncestorIn(r, l), true);
    case '!>>':
      return keep(r, tree.withAncestorIn(r, l), false);
    case '<<':
      return keep(r, tree.withDescendantIn(r, l), true);
    case '!<<':
      return keep(r, tree.withDescendantIn(r, l), false);
    case '~':
      return keep(r, tree.withSiblingIn(r, l), true);
    case '!~':
      return keep(r, tree.withSiblingIn(r, l), false);
    case '&>':
      return merge(keep(l, tree.withChildIn(l, r), true), keep(r, tree.withParentIn(r, l), true));
    case '&<':
      return merge(keep(l, tree.withParentIn(l, r), true), keep(r, tree.withChildIn(r, l), true));
    case '&>>':
      return merge(keep(l, tree.withDescendantIn(l, r), true), keep(r, tree.withAncestorIn(r, l), true));
    case '&<<':
      return merge(keep(l, tree.withAncestorIn(l, r), true), keep(r, tree.withDescendantIn(r, l), true));
    case '&~':
      return merge(keep(l, tree.withSiblingIn(l, r), true), keep(r, tree.withSiblingIn(r, l), true));
  }
}

/**
 * One trace's spans as a forest, numbered once by an iterative depth-first
 * walk (nested sets): span i's subtree is the pre-order positions
 * left(i)..right(i), so b is below a exactly when left(a) < left(b) <=
 * right(a). Ancestry questions are then interval questions, answered by
 * sorting and sweeping the spans asked about, with no walk up or down the
 * tree and no recursion: a chain of 100,000 spans costs what a flat trace
 * of as many does.
 *
 * Each relation takes the spans asked about and the set they relate to,
 * and answers one flag per span asked about, in its order.
 *
 * Bad data stays finite: a span whose parent is not in the trace is a
 * root; a cycle of parents (a span its own ancestor, possible only in
 * corrupt input) is cut at one of its spans, which becomes a root, so
 * every span is numbered exactly once. With duplicate span ids, children
 * hang under the last span with the id.
 */
export class SpanTree {
  readonly size: number;
  /** Parent index, -1 for a root. */
  private readonly parentOf: Int32Array;
  /** Pre-order position of each span (its `left`), and the last position in its subtree (its `right`). */
  private readonly left: Int32Array;
  private readonly right: Int32Array;

  /** The spans of one trace, by their ids ('' parent for a root). */
  static of(spans: readonly { spanId: string; parentId: string }[]): SpanTree {
    const index = new Map<string, number>();
    spans.forEach((s, i) => index.set(s.spanId, i));
    const parents = new Int32Array(spans.length);
    spans.forEach((s, i) => (parents[i] = s.parentId === '' ? -1 : (index.get(s.parentId) ?? -1)));
    return new SpanTree(parents);
  }

  /** From parent indices (-1 for none); out-of-range parents are roots, cycles are cut as described above. */
  constructor(parents: ArrayLike<number>) {
    const n = parents.length;
    this.size = n;
    const parentOf = Int32Array.from(parents, (p) => (p >= 0 && p < n ? p : -1));
    this.parentOf = parentOf;
    cutCycles(parentOf);

    // Children as one flat array, grouped by parent (counting sort).
    const childStart = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) if (parentOf[i] >= 0) childStart[parentOf[i] + 1]++;
    for (let i = 0; i < n; i++) childStart[i + 1] += childStart[i];
    const children = new Int32Array(childStart[n]);
    const fill = childStart.slice(0, n);
    for (let i = 0; i < n; i++) if (parentOf[i] >= 0) children[fill[parentOf[i]]++] = i;

    const order = new Int32Array(n);
    this.left = new Int32Array(n);
    this.right = new Int32Array(n);
    // An explicit stack instead of recursion: traces can be 100,000 spans deep.
    const stack = new Int32Array(n);
    let pos = 0;
    for (let root = 0; root < n; root++) {
      if (parentOf[root] >= 0) continue;
      let top = 0;
      stack[top++] = root;
      while (top > 0) {
        const i = stack[--top];
        this.left[i] = pos;
        order[pos++] = i;
        // Pushed in reverse so that children are numbered in index order.
        for (let k = childStart[i + 1] - 1; k >= childStart[i]; k--) stack[top++] = children[k];
      }
    }
    // A subtree ends where the last of its descendants is: children (later in pre-order) first.
    for (let k = n - 1; k >= 0; k--) {
      const i = order[k];
      if (this.right[i] < this.left[i]) this.right[i] = this.left[i];
      const p = parentOf[i];
      if (p >= 0 && this.right[i] > this.right[p]) this.right[p] = this.right[i];
    }
  }

  /** Index of the parent span, -1 for a root. */
  parent(i: number): number {
    return this.parentOf[i];
  }

  /** Whether `a` is a proper ancestor of `b`, from their intervals. */
  isAncestor(a: number, b: number): boolean {
    return this.left[a] < this.left[b] && this.left[b] <= this.right[a];
  }

  /** For each of `spans`, whether its parent is in `set`. */
  withParentIn(spans: number[], set: number[]): Uint8Array {
    const inSet = new Set(set);
    return Uint8Array.from(spans, (b) => (inSet.has(this.parentOf[b]) ? 1 : 0));
  }

  /** For each of `spans`, whether it has a child in `set`. */
  withChildIn(spans: number[], set: number[]): Uint8Array {
    const parents = new Set(set.map((a) => this.parentOf[a]));
    return Uint8Array.from(spans, (b) => (parents.has(b) ? 1 : 0));
  }

  /** For each of `spans`, whether another span with its parent is in `set`: `set`'s spans counted per parent. */
  withSiblingIn(spans: number[], set: number[]): Uint8Array {
    const perParent = new Map<number, number>();
    for (const a of set) if (this.parentOf[a] >= 0) perParent.set(this.parentOf[a], (perParent.get(this.parentOf[a]) ?? 0) + 1);
    const inSet = new Set(set);
    return Uint8Array.from(spans, (b) => (this.parentOf[b] >= 0 && (perParent.get(this.parentOf[b]) ?? 0) - (inSet.has(b) ? 1 : 0) > 0 ? 1 : 0));
  }

  /**
   * For each of `spans`, whether a proper ancestor is in `set`. A sweep in
   * pre-order over both, keeping the chain of `set`'s intervals still
   * open: the intervals of a tree are nested or apart, so the innermost
   * open one contains the span exactly when any does.
   */
  withAncestorIn(spans: number[], set: number[]): Uint8Array {
    const out = new Uint8Array(spans.length);
    const starts = this.byLeft(set);
    const open: number[] = []; // rights of the open intervals, innermost last
    let next = 0;
    for (const k of this.byLeft(spans)) {
      const at = this.left[spans[k]];
      for (; next < starts.length && this.left[set[starts[next]]] < at; next++) {
        const a = set[starts[next]];
        while (open.length > 0 && open[open.length - 1] < this.left[a]) open.pop();
        open.push(this.right[a]);
      }
      while (open.length > 0 && open[open.length - 1] < at) open.pop();
      if (open.length > 0) out[k] = 1;
    }
    return out;
  }

  /** For each of `spans`, whether a proper descendant is in `set`: a search for `set`'s positions inside its interval. */
  withDescendantIn(spans: number[], set: number[]): Uint8Array {
    const positions = Int32Array.from(set, (a) => this.left[a]).sort();
    return Uint8Array.from(spans, (b) => {
      // The first position after b's own.
      let lo = 0;
      let hi = positions.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (positions[mid] <= this.left[b]) lo = mid + 1;
        else hi = mid;
      }
      return lo < positions.length && positions[lo] <= this.right[b] ? 1 : 0;
    });
  }

  /** Positions 0..spans.length-1, ordered by their span's pre-order position. */
  private byLeft(spans: number[]): Int32Array {
    return Int32Array.from(spans.keys()).sort((x, y) => this.left[spans[x]] - this.left[spans[y]]);
  }
}

/**
 * Makes `parentOf` a forest: walks up from each span not yet known to
 * reach a root, and where a walk meets itself (a cycle), makes the span it
 * met a root. Each span is walked over once: O(n).
 */
function cutCycles(parentOf: Int32Array): void {
  const n = parentOf.length;
  // 0: not seen; 1: on the current walk; 2: reaches a root.
  const state = new Uint8Array(n);
  const path: number[] = [];
  for (let start = 0; start < n; start++) {
    let i = start;
    while (i >= 0 && state[i] === 0) {
      state[i] = 1;
      path.push(i);
      i = parentOf[i];
    }
    if (i >= 0 && state[i] === 1) parentOf[i] = -1; // the walk came back to itself
    for (const j of path) state[j] = 2;
    path.length = 0;
  }
}
