/**
 * SQL text for ClickHouse, built only from fragments and escaped values.
 *
 * Every value enters SQL through {@link sql} interpolation or {@link literal},
 * which escape it for a ClickHouse literal; identifiers enter through
 * {@link ident}. ClickHouse 18.16 has no query parameters, so this one tested
 * escaping function is the injection boundary for both engines.
 */
export class Sql {
  /** Use the tagged template or the helpers; text here is trusted. */
  private constructor(readonly text: string) {}

  /** @internal For this module's helpers only. */
  static trusted(text: string): Sql {
    return new Sql(text);
  }

  toString(): string {
    return this.text;
  }
}

export type SqlValue = Sql | string | number | bigint | boolean | Buffer | readonly SqlValue[];

/** Interpolates fragments and values; values become escaped literals. */
export function sql(strings: TemplateStringsArray, ...values: SqlValue[]): Sql {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return Sql.trusted(out);
}

/**
 * SQL text that this module built in another thread of this process and
 * that arrives over the store's own MessagePort (store/remote.ts). Nothing
 * else may call it: text from outside the process is never SQL.
 */
export function relayedFromStoreThread(text: string): Sql {
  return Sql.trusted(text);
}

/** Joins fragments with a separator fragment (default ', '). */
export function join(parts: readonly SqlValue[], separator = ', '): Sql {
  if (!/^[\s,()A-Za-z]*$/.test(separator)) throw new Error(`unsafe SQL separator ${JSON.stringify(separator)}`);
  return Sql.trusted(parts.map(render).join(separator));
}

export function literal(v: SqlValue): Sql {
  return Sql.trusted(render(v));
}

/** A quoted identifier: a table, column or alias name. */
export function ident(name: string): Sql {
  return Sql.trusted('`' + escapeChars(name, '`') + '`');
}

/**
 * A column type from our own schema. Type names cannot be escaped, so they
 * are checked against the grammar of the types we use.
 */
export function typeName(t: string): Sql {
  if (!/^[A-Za-z0-9]+(\((?:[A-Za-z0-9 ,()]|'[a-z_]+')*\))?$/.test(t)) throw new Error(`unexpected column type ${t}`);
  return Sql.trusted(t);
}

function render(v: SqlValue): string {
  if (v instanceof Sql) return v.text;
  if (typeof v === 'string') return quoteString(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return v.toString();
    if (Number.isNaN(v)) return 'nan';
    if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
    return v.toString();
  }
  if (Buffer.isBuffer(v)) return `unhex('${v.toString('hex')}')`;
  if (Array.isArray(v)) return v.map(render).join(', ');
  throw new Error(`cannot render ${typeof v} as SQL`);
}

/** A ClickHouse single-quoted string literal. */
export function quoteString(s: string): string {
  return "'" + escapeChars(s, "'") + "'";
}

function escapeChars(s: string, quote: string): string {
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | null = null;
    if (c === 0x5c) rep = '\\\\';
    else if (c === quote.charCodeAt(0)) rep = '\\' + quote;
    else if (c < 0x20) rep = c === 0 ? '\\0' : c === 0x0a ? '\\n' : c === 0x0d ? '\\r' : c === 0x09 ? '\\t' : '\\x' + c.toString(16).padStart(2, '0');
    if (rep !== null) {
      out += s.slice(last, i) + rep;
      last = i + 1;
    }
  }
  return last === 0 ? s : out + s.slice(last);
}
