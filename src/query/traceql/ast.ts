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

export type SpansetExpr = SpansetFilter | SpansetBinary;

export type AggregateName = 'count' | 'avg' | 'min' | 'max' | 'sum';

export interface Aggregate {
  kind: 'aggregate';
  fn: AggregateName;
  /** Absent for count(). */
  field: FieldExpr | null;
  pos: Pos;
}

/** `| count() > 2`, `| avg(duration) >= 1s`. */
export interface ScalarFilter {
  kind: 'scalarFilter';
  op: ComparisonOp;
  left: Aggregate | Static;
  right: Aggregate | Static;
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

export type Stage = SpansetExpr | ScalarFilter | ByStage | SelectStage | CoalesceStage | MetricsStage | CompareStage | TopkStage;

/** A whole query: a spanset expression and the pipeline after it. */
export interface Query {
  kind: 'query';
  /** The first element is a spanset expression; the rest are stages. */
  pipeline: Stage[];
  pos: Pos;
}
