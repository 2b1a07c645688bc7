/**
 * The TraceQL syntax tree: plain, immutable data with a source position on
 * every node. The parser builds it, the validator checks it, the printer
 * prints it back (printing and re-parsing gives the same tree), and the
 * planner turns it into SQL plus in-process steps.
 */

export interface Pos {
  /** 0-based character offset. */
  offset: number;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

export type AttributeScope = 'span' | 'resource' | 'event' | 'link' | 'instrumentation' | 'any';

export const STATUS_VALUES = ['error', 'ok', 'unset'] as const;
export type StatusValue = (typeof STATUS_VALUES)[number];
export const KIND_VALUES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
export type KindValue = (typeof KIND_VALUES)[number];

export type Static =
  | { kind: 'static'; type: 'string'; value: string; pos: Pos }
  | { kind: 'static'; type: 'int'; value: bigint; pos: Pos }
  | { kind: 'static'; type: 'float'; value: number; pos: Pos }
  | { kind: 'static'; type: 'bool'; value: boolean; pos: Pos }
  /** Nanoseconds. */
  | { kind: 'static'; type: 'duration'; value: bigint; pos: Pos }
  | { kind: 'static'; type: 'status'; value: StatusValue; pos: Pos }
  | { kind: 'static'; type: 'kind'; value: KindValue; pos: Pos }
  | { kind: 'static'; type: 'nil'; pos: Pos };

export interface Attribute {
  kind: 'attribute';
  scope: AttributeScope;
  /** `parent.` prefix: the attribute of the span's parent. */
  parent: boolean;
  name: string;
  pos: Pos;
}

/** Span and trace fields that are not attributes. */
export const INTRINSICS = {
  name: 'string',
  status: 'status',
  statusMessage: 'string',
  kind: 'kind',
  duration: 'duration',
  traceDuration: 'duration',
  rootName: 'string',
  rootServiceName: 'string',
  'span:name': 'string',
  'span:status': 'status',
  'span:statusMessage': 'string',
  'span:kind': 'kind',
  'span:duration': 'duration',
  'span:id': 'string',
  'span:parentID': 'string',
  'trace:id': 'string',
  'trace:rootName': 'string',
  'trace:rootService': 'string',
  'trace:duration': 'duration',
  'event:name': 'string',
  'event:timeSinceStart': 'duration',
  'link:traceID': 'string',
  'link:spanID': 'string',
  'instrumentation:name': 'string',
  'instrumentation:version': 'string',
  /** Children of the span in its trace, computed from the trace's spans. */
  'span:childCount': 'int',
  /**
   * The span's place in its trace's nested set model, as Tempo numbers it:
   * one counter from 1, a span's left taken on the way down and its right
   * on the way up; the parent's left for a child, -1 for a root; 0 for a
   * span that no root reaches (its parent was never received).
   */
  nestedSetLeft: 'int',
  nestedSetRight: 'int',
  nestedSetParent: 'int',
} as const;
export type IntrinsicName = keyof typeof INTRINSICS;

export interface Intrinsic {
  kind: 'intrinsic';
  name: IntrinsicName;
  pos: Pos;
}

export type ComparisonOp = '=' | '!=' | '>' | '>=' | '<' | '<=' | '=~' | '!~';
export type ArithmeticOp = '+' | '-' | '*' | '/' | '%' | '^';
export type LogicalOp = '&&' | '||';

export interface Binary {
  kind: 'binary';
  op: ComparisonOp | ArithmeticOp | LogicalOp;
  left: FieldExpr;
  right: FieldExpr;
  pos: Pos;
}

export interface Unary {
  kind: 'unary';
  op: '!' | '-';
  operand: FieldExpr;
  pos: Pos;
}

export type FieldExpr = Static | Attribute | Intrinsic | Binary | Unary;

/** `{ ... }`; `{}` has no expression and matches every span. */
export interface SpansetFilter {
  kind: 'filter';
  expr: FieldExpr | null;
  pos: Pos;
}

export type StructuralOp = '>' | '>>' | '<' | '<<' | '~' | '!>' | '!>>' | '!<' | '!<<' | '!~' | '&>' | '&>>' | '&<' | '&<<' | '&~';
export type SpansetOp = '&&' | '||' | StructuralOp;

export interface SpansetBinary {
  kind: 'spansetOp';
  op: SpansetOp;
  left: SpansetExpr;
  right: SpansetExpr;
  pos: Pos;
}

/**
 * A pipeline in parentheses as an operand of a spanset operator:
 * `({ } | count() > 1) >> ({ .a } | by(name))`. Its spans are those of
 * every spanset it yields.
 */
export interface SpansetPipeline {
  kind: 'spansetPipeline';
  /** At least two elements, shaped as Query.pipeline. */
  pipeline: Stage[];
  pos: Pos;
}

export type SpansetExpr = SpansetFilter | SpansetBinary | SpansetPipeline;

export type AggregateName = 'count' | 'avg' | 'min' | 'max' | 'sum';

export interface Aggregate {
  kind: 'aggregate';
  fn: AggregateName;
  /** Absent for count(). */
  field: FieldExpr | null;
  pos: Pos;
}

/** Aggregates and numbers in arithmetic: `max(duration) - min(duration)`, `count() * 2`. */
export type ScalarExpr =
  | Aggregate
  | Static
  | { kind: 'scalarBinary'; op: ArithmeticOp; left: ScalarExpr; right: ScalarExpr; pos: Pos }
  | { kind: 'scalarNegate'; operand: ScalarExpr; pos: Pos };

/** `| count() > 2`, `| avg(duration) >= 1s`, `| max(duration) > 2 * avg(duration)`. */
export interface ScalarFilter {
  kind: 'scalarFilter';
  op: ComparisonOp;
  left: ScalarExpr;
  right: ScalarExpr;
  pos: Pos;
}

export interface ByStage {
  kind: 'by';
  fields: FieldExpr[];
  pos: Pos;
}

export interface SelectStage {
  kind: 'select';
  fields: FieldExpr[];
  pos: Pos;
}

export interface CoalesceStage {
  kind: 'coalesce';
  pos: Pos;
}

export const METRIC_FUNCTIONS = [
  'rate',
  'count_over_time',
  'min_over_time',
  'max_over_time',
  'avg_over_time',
  'sum_over_time',
  'quantile_over_time',
  'histogram_over_time',
] as const;
export type MetricFunction = (typeof METRIC_FUNCTIONS)[number];

/** A metrics function, optionally `by(...)`, optionally followed by topk/bottomk. */
export interface MetricsStage {
  kind: 'metrics';
  fn: MetricFunction;
  /** The field aggregated (all but rate and count_over_time). */
  field: FieldExpr | null;
  /** quantile_over_time's quantiles. */
  quantiles: number[];
  by: FieldExpr[];
  pos: Pos;
}

/**
 * `compare({selection}, topN, start, end)`: for every attribute value, span
 * counts in the selection and in the baseline (the other spans).
 */
export interface CompareStage {
  kind: 'compare';
  selection: SpansetFilter;
  topN: number | null;
  /** The selection's own time window (Unix ns); spans outside it are baseline. */
  window: { start: bigint; end: bigint } | null;
  pos: Pos;
}

export interface TopkStage {
  kind: 'topk' | 'bottomk';
  n: number;
  pos: Pos;
}

/**
 * `| rate() > 10`, `| topk(5) <= 3`: keeps the samples of the series before
 * it whose value compares true, and the series left with any.
 */
export interface MetricsFilterStage {
  kind: 'metricsFilter';
  op: Exclude<ComparisonOp, '=~' | '!~'>;
  /** Constant arithmetic is folded by the parser (`> 1 / 2` is `> 0.5`). */
  value: number;
  pos: Pos;
}

export type Stage = SpansetExpr | ScalarFilter | ByStage | SelectStage | CoalesceStage | MetricsStage | CompareStage | TopkStage | MetricsFilterStage;

/** `with(sample=0.1, most_recent=true)`: query hints, which never change an answer here (docs/traceql.md). */
export interface Hint {
  name: string;
  value: Static;
  pos: Pos;
}

/** A whole query: a spanset expression and the pipeline after it. */
export interface Query {
  kind: 'query';
  /**
   * The first element is a spanset expression, or a scalar filter, by() or
   * select() over all of a trace's spans (`count() > 2 | { .a }`); the rest
   * are stages.
   */
  pipeline: Stage[];
  hints: Hint[];
  pos: Pos;
}

export type MathOp = '+' | '-' | '*' | '/';

/**
 * Arithmetic over metrics queries' series, as Tempo computes it:
 * `({ status = error } | rate()) / ({ } | rate())`, `({ } | rate()) * 100`.
 */
export type MathExpr =
  | { kind: 'mathBinary'; op: MathOp; left: MathExpr; right: MathExpr; pos: Pos }
  /** A metrics query in parentheses (its own filters and topk/bottomk included). */
  | { kind: 'mathQuery'; query: Query; pos: Pos }
  | { kind: 'mathNumber'; value: number; pos: Pos };

/** A metrics arithmetic expression, then topk/bottomk and filters over its series. */
export interface MathQuery {
  kind: 'math';
  expr: MathExpr;
  after: (TopkStage | MetricsFilterStage)[];
  hints: Hint[];
  pos: Pos;
}

/** Anything the parser accepts. */
export type Root = Query | MathQuery;
