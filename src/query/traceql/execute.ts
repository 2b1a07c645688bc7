import type { KeyValueJson } from '../../model/any-value.js';
import type { EvalSpan, SearchResult, TimeRange, TraceReader, TraceSummary } from '../../store/index.js';
import { sql, join, type Sql } from '../sql/index.js';
import type { FieldExpr, Query, ScalarFilter, SpansetExpr, SpansetFilter, Stage, Static } from './ast.js';
import { TraceQLUnsupportedError } from './errors.js';
import { compileCondition, compileNumber, compileText, planSearch } from './plan.js';
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

export async function searchTraceQL(q: Query, reader: TraceReader, opts: SearchOptions): Promise<SearchResult> {
  const [first, ...rest] = q.pipeline;
  if (rest.length === 0 && first.kind === 'filter') {
    const plan = planSearch(q, { range: opts.range });
    return reader.searchSpans({ ...plan, range: opts.range, limit: opts.limit, spss: opts.spss });
  }
  return new Evaluator(q, opts).run(reader);
}

type SpanSet = { spans: number[]; attributes: KeyValueJson[] };

const ctxOf = (range: TimeRange) => ({ range });

/** Exported for tests: construction refuses what cannot be compiled. */
export class Evaluator {
  /** Leaf filters, in the order their flags are computed. */
  private readonly leaves: SpansetFilter[] = [];
  private readonly numbers: FieldExpr[] = [];
  private readonly texts: FieldExpr[] = [];
  /** Fields whose text is shown on matched spans (select(), and the query's attributes). */
  private readonly shown: { key: string; text: number }[] = [];

  constructor(
    private readonly q: Query,
    private readonly opts: SearchOptions,
  ) {
    const [first, ...stages] = q.pipeline;
    this.collect(first as SpansetExpr);
    for (const s of stages) this.prepare(s);
  }

  private collect(e: SpansetExpr): void {
    if (e.kind === 'filter') {
      this.leaves.push(e);
      if (e.expr) this.collectShown(e.expr);
    } else {
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
      if (!this.shown.some((s) => s.key === key)) this.shown.push({ key, text: this.text(e) });
    }
  }

  private text(e: FieldExpr): number {
    const key = printField(e);
    const i = this.texts.findIndex((t) => printField(t) === key);
    if (i >= 0) return i;
    compileText(e); // refuses what it cannot compile, before any query runs
    this.texts.push(e);
    return this.texts.length - 1;
  }

  private number(e: FieldExpr): number {
    const key = printField(e);
    const i = this.numbers.findIndex((t) => printField(t) === key);
    if (i >= 0) return i;
    compileNumber(e);
    this.numbers.push(e);
    return this.numbers.length - 1;
  }

  private prepare(s: Stage): void {
    switch (s.kind) {
      case 'filter':
        this.leaves.push(s);
        return;
      case 'scalarFilter':
        for (const side of [s.left, s.right]) if (side.kind === 'aggregate' && side.field) this.number(side.field);
        return;
      case 'by':
      case 'select':
        for (const f of s.fields) {
          const i = this.text(f);
          if (s.kind === 'select') {
            const key = f.kind === 'attribute' ? f.name : printField(f);
            if (!this.shown.some((x) => x.key === key)) this.shown.push({ key, text: i });
          }
        }
        return;
      case 'coalesce':
        return;
      case 'spansetOp':
        throw new TraceQLUnsupportedError('a spanset operator after a pipe', s.pos);
      default:
        throw new TraceQLUnsupportedError(`${s.kind} in a search (metrics are served by /api/metrics/query_range)`, s.pos);
    }
  }

  async run(reader: TraceReader): Promise<SearchResult> {
    const ctx = ctxOf(this.opts.range);
    const flags = this.leaves.map((l) => compileCondition(l.expr, ctx));
    const anySpan = flags.length > 0 ? join(flags.map((f) => sql`(${f})`), ' OR ') : sql`1`;
    const having = this.necessary(this.q.pipeline[0] as SpansetExpr, flags);
    const numbers = this.numbers.map((n) => compileNumber(n));
    const texts = this.texts.map((t) => compileText(t));
    const traces: TraceSummary[] = [];
    const batch = Math.max(this.opts.limit * 4, 100);
    const maxCandidates = this.opts.maxCandidates ?? 20_000;
    let inspected = 0;
    for (let offset = 0; traces.length < this.opts.limit && offset < maxCandidates; offset += batch) {
      const ids = await reader.candidateTraces({ range: this.opts.range, anySpan, having, limit: batch, offset });
      if (ids.length === 0) break;
      inspected += ids.length;
      const spansByTrace = await reader.traceSpans({ traceIds: ids, range: this.opts.range, flags, numbers, texts });
      for (const id of ids) {
        const spans = spansByTrace.get(id.toString('hex').toUpperCase()) ?? spansByTrace.get(id.toString('hex')) ?? [];
        const sets = this.evaluate(spans);
        if (sets.length > 0) traces.push(this.summary(id, spans, sets));
        if (traces.length === this.opts.limit) break;
      }
      if (ids.length < batch) break;
    }
    traces.sort((a, b) => (a.startNs > b.startNs ? -1 : a.startNs < b.startNs ? 1 : 0));
    return { traces, inspectedSpans: 0, inspectedBytes: 0, inspectedTraces: inspected };
  }

  /** A condition every matching trace meets, over countIf() of the leaf conditions. */
  private necessary(e: SpansetExpr, flags: Sql[]): Sql {
    if (e.kind === 'filter') return sql`countIf(${flags[this.leaves.indexOf(e)]}) > 0`;
    const l = this.necessary(e.left, flags);
    const r = this.necessary(e.right, flags);
    if (e.op === '||') return sql`(${l} OR ${r})`;
    if (e.op.startsWith('!')) return r; // right-hand spans without the relation
    return sql`(${l} AND ${r})`;
  }

  // ---- in-process evaluation ---------------------------------------------------

  private evaluate(spans: EvalSpan[]): SpanSet[] {
    const tree = new Tree(spans);
    const [first, ...stages] = this.q.pipeline;
    let sets: SpanSet[] = [{ spans: this.spanset(first as SpansetExpr, spans, tree), attributes: [] }].filter((s) => s.spans.length > 0);
    for (const s of stages) {
      if (sets.length === 0) break;
      sets = this.stage(s, sets, spans);
    }
    return sets.filter((s) => s.spans.length > 0);
  }

  private spanset(e: SpansetExpr, spans: EvalSpan[], tree: Tree): number[] {
    if (e.kind === 'filter') {
      const k = this.leaves.indexOf(e);
      const out: number[] = [];
      for (let i = 0; i < spans.length; i++) if (spans[i].flags[k]) out.push(i);
      return out;
    }
    const l = this.spanset(e.left, spans, tree);
    const r = this.spanset(e.right, spans, tree);
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

  private stage(s: Stage, sets: SpanSet[], spans: EvalSpan[]): SpanSet[] {
    switch (s.kind) {
      case 'filter': {
        const k = this.leaves.indexOf(s);
        return sets.map((set) => ({ ...set, spans: set.spans.filter((i) => spans[i].flags[k]) }));
      }
      case 'scalarFilter':
        return sets.filter((set) => this.scalar(s, set, spans));
      case 'by': {
        const out: SpanSet[] = [];
        for (const set of sets) {
          const groups = new Map<string, number[]>();
          for (const i of set.spans) {
            const key = JSON.stringify(s.fields.map((f) => spans[i].texts[this.text(f)]));
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

  private summary(id: Buffer, spans: EvalSpan[], sets: SpanSet[]): TraceSummary {
    let start = spans[0]?.startNs ?? 0n;
    let end = start;
    let root: EvalSpan | undefined;
    for (const s of spans) {
      if (s.startNs < start) start = s.startNs;
      if (s.startNs + s.durationNs > end) end = s.startNs + s.durationNs;
      if (s.parentId === '' && !root) root = s;
    }
    const spanSets = sets.map((set) => {
      const ordered = [...set.spans].sort((a, b) => (spans[a].startNs < spans[b].startNs ? -1 : 1));
      return {
        matched: set.spans.length,
        attributes: set.attributes,
        spans: ordered.slice(0, this.opts.spss).map((i) => {
          const s = spans[i];
          const attributes: KeyValueJson[] = [{ key: 'service.name', value: { stringValue: s.serviceName } }];
          for (const sh of this.shown) if (s.texts[sh.text] !== '') attributes.push({ key: sh.key, value: { stringValue: s.texts[sh.text] } });
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
