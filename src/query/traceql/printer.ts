import type { FieldExpr, Hint, MathExpr, Query, Root, ScalarExpr, SpansetExpr, Stage, Static } from './ast.js';

/**
 * Prints a query in canonical TraceQL. Parsing the output gives the same
 * tree (positions aside): parentheses appear only where precedence needs
 * them, literals print in a form the lexer reads back exactly.
 */
export function print(q: Root): string {
  const text = q.kind === 'math' ? `${printMath(q.expr, 0)}${printStages(q.after, true)}` : printPipeline(q.pipeline);
  return `${text}${printHints(q.hints)}`;
}

/** Stages joined by ` | `, a metrics filter written after the stage it filters (`rate() > 10`). */
function printPipeline(stages: Stage[]): string {
  return printStages(stages, false);
}

function printStages(stages: Stage[], continued: boolean): string {
  let out = '';
  stages.forEach((s, i) => {
    if (s.kind === 'metricsFilter') out += ` ${s.op} ${printNumber(s.value)}`;
    else out += `${i > 0 || continued ? ' | ' : ''}${printStage(s)}`;
  });
  return out;
}

function printHints(hints: Hint[]): string {
  return hints.length === 0 ? '' : ` with(${hints.map((h) => `${h.name}=${printStatic(h.value)}`).join(', ')})`;
}

/** A number as the lexer reads it back: negative after a '-', NaN and infinities as arithmetic that gives them. */
function printNumber(v: number): string {
  if (Number.isNaN(v)) return '(0 / 0)';
  if (!Number.isFinite(v)) return v > 0 ? '(1 / 0)' : '(-1 / 0)';
  return String(v);
}

const MATH_PREC: Record<string, number> = { '+': 1, '-': 1, '*': 2, '/': 2 };

function printMath(e: MathExpr, parentPrec: number, right = false): string {
  switch (e.kind) {
    case 'mathNumber':
      return printNumber(e.value);
    case 'mathQuery':
      return `(${print(e.query)})`;
    case 'mathBinary': {
      const p = MATH_PREC[e.op];
      const text = `${printMath(e.left, p)} ${e.op} ${printMath(e.right, p, true)}`;
      // Left-associative: a right operand of equal precedence keeps its parentheses.
      return p < parentPrec || (p === parentPrec && right) ? `(${text})` : text;
    }
  }
}

const FIELD_PREC: Record<string, number> = {
  '||': 1, '&&': 2,
  '=': 3, '!=': 3, '>': 3, '>=': 3, '<': 3, '<=': 3, '=~': 3, '!~': 3,
  '+': 4, '-': 4, '*': 5, '/': 5, '%': 5, '^': 6,
};

export function printField(e: FieldExpr): string {
  switch (e.kind) {
    case 'static':
      return printStatic(e);
    case 'attribute':
      return `${e.parent ? 'parent.' : ''}${e.scope === 'any' ? '.' : `${e.scope}.`}${printName(e.name)}`;
    case 'intrinsic':
      return e.name;
    case 'unary': {
      const inner = printField(e.operand);
      return `${e.op}${e.operand.kind === 'binary' || (e.operand.kind === 'unary') ? `(${inner})` : inner}`;
    }
    case 'binary': {
      const p = FIELD_PREC[e.op];
      const rightAssoc = e.op === '^';
      const side = (child: FieldExpr, right: boolean) => {
        const text = printField(child);
        if (child.kind !== 'binary') return text;
        const cp = FIELD_PREC[child.op];
        const needs = cp < p || (cp === p && (right ? !rightAssoc : rightAssoc));
        return needs ? `(${text})` : text;
      };
      return `${side(e.left, false)} ${e.op} ${side(e.right, true)}`;
    }
  }
}

function printStatic(s: Static): string {
  switch (s.type) {
    case 'string':
      return printString(s.value);
    case 'int':
      return s.value.toString();
    case 'float': {
      const t = s.value.toString();
      return /[.eE]/.test(t) ? t : `${t}.0`;
    }
    case 'duration':
      return printDuration(s.value);
    case 'bool':
      return String(s.value);
    case 'nil':
      return 'nil';
    case 'status':
    case 'kind':
      return s.value;
  }
}

const DURATION_UNITS: [string, bigint][] = [
  ['h', 3_600_000_000_000n],
  ['m', 60_000_000_000n],
  ['s', 1_000_000_000n],
  ['ms', 1_000_000n],
  ['us', 1_000n],
  ['ns', 1n],
];

function printDuration(ns: bigint): string {
  const sign = ns < 0n ? '-' : '';
  const v = ns < 0n ? -ns : ns;
  for (const [unit, size] of DURATION_UNITS) if (v !== 0n && v % size === 0n) return `${sign}${v / size}${unit}`;
  return `${sign}0ns`;
}

export function printString(s: string): string {
  return `"${s.replace(/[\\"\n\t\r\0]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t', '\r': '\\r', '\0': '\\0' })[c]!)}"`;
}

/** Attribute names print bare when the lexer would read them back whole. */
export function printName(name: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_.:/-]*$/.test(name) && !name.endsWith('.')) return name;
  return `"${name.replace(/[\\"\n\t]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t' })[c]!)}"`;
}

function printSpanset(e: SpansetExpr, parentPrec = 0): string {
  if (e.kind === 'filter') return e.expr ? `{ ${printField(e.expr)} }` : '{ }';
  if (e.kind === 'spansetPipeline') return `(${printPipeline(e.pipeline)})`;
  const prec = e.op === '&&' || e.op === '||' ? 1 : 2;
  const text = `${printSpanset(e.left, prec)} ${e.op} ${printSpanset(e.right, prec + 1)}`;
  return prec < parentPrec ? `(${text})` : text;
}

const SCALAR_PREC: Record<string, number> = { '+': 1, '-': 1, '*': 2, '/': 2, '%': 2, '^': 3 };

function printScalar(e: ScalarExpr, parentPrec = 0, right = false): string {
  switch (e.kind) {
    case 'static':
      return printStatic(e);
    case 'aggregate':
      return `${e.fn}(${e.field ? printField(e.field) : ''})`;
    case 'scalarNegate':
      return `-${e.operand.kind === 'scalarBinary' || e.operand.kind === 'scalarNegate' ? `(${printScalar(e.operand)})` : printScalar(e.operand)}`;
    case 'scalarBinary': {
      const p = SCALAR_PREC[e.op];
      const rightAssoc = e.op === '^';
      const text = `${printScalar(e.left, p, false)} ${e.op} ${printScalar(e.right, p, true)}`;
      const needs = p < parentPrec || (p === parentPrec && (right ? !rightAssoc : rightAssoc));
      return needs ? `(${text})` : text;
    }
  }
}

function printStage(s: Stage): string {
  switch (s.kind) {
    case 'filter':
    case 'spansetOp':
    case 'spansetPipeline':
      return printSpanset(s);
    case 'scalarFilter':
      return `${printScalar(s.left)} ${s.op} ${printScalar(s.right)}`;
    case 'by':
    case 'select':
      return `${s.kind}(${s.fields.map(printField).join(', ')})`;
    case 'coalesce':
      return 'coalesce()';
    case 'metrics': {
      const args = [s.field ? printField(s.field) : null, ...s.quantiles.map((q) => String(q))].filter((x) => x !== null);
      return `${s.fn}(${args.join(', ')})${s.by.length > 0 ? ` by(${s.by.map(printField).join(', ')})` : ''}`;
    }
    case 'topk':
    case 'bottomk':
      return `${s.kind}(${s.n})`;
    case 'metricsFilter':
      return `${s.op} ${printNumber(s.value)}`;
    case 'compare':
      return `compare(${printSpanset(s.selection)}${s.topN !== null ? `, ${s.topN}` : ''}${s.window ? `, ${s.window.start}, ${s.window.end}` : ''})`;
  }
}
