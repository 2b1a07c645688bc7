import pino from 'pino';
import { EngineError } from '../store/index.js';
import type { LogLevel } from '../config/index.js';

/**
 * What logs may carry, by level. At info and above (what runs in
 * production) a log line never holds query text or span attribute values:
 * they can hold patient identifiers. Debug and trace may hold both.
 *
 * Sightline's own log calls name what they log; what they cannot vouch for
 * is the message of an error. Two kinds are known to quote their input:
 * - an EngineError: ClickHouse and chDB quote the statement around a syntax
 *   error, the value that failed to parse or convert, a regular expression
 *   they refuse, and sometimes the whole query;
 * - a SyntaxError: JSON.parse quotes the text it could not read.
 * Below debug, their messages and stacks are replaced by their type and
 * code. A network error under an EngineError (connection refused, TLS) is
 * kept: its message names an address, not data.
 */
export function logErrorSerializer(level: LogLevel): (err: unknown) => unknown {
  return logsMayQuoteData(level) ? (err) => (err instanceof Error ? pino.stdSerializers.err(err) : err) : serializeWithoutQuotedInput;
}

/** Levels at which a log line may quote queries and span data. */
export function logsMayQuoteData(level: LogLevel): boolean {
  return level === 'debug' || level === 'trace';
}

/** Node's TLS error codes and OpenSSL's certificate verification codes. */
const TLS_CODE = /^(?:ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$)/;

const WITHHELD = 'withheld below --log-level debug, because it can quote query text and span attribute values';

function serializeWithoutQuotedInput(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const chain = causes(err);
  const quoting = chain.find((e) => e instanceof EngineError || e instanceof SyntaxError);
  if (!quoting) return pino.stdSerializers.err(err);
  const engineCode = chain.find((e): e is EngineError => e instanceof EngineError)?.code;
  // Errors of the operating system (ECONNREFUSED, ETIMEDOUT: they name a
  // syscall) and of TLS (certificate checks) carry an address and a reason,
  // never a statement.
  const system = chain.find((e) => typeof (e as NodeJS.ErrnoException).syscall === 'string' || TLS_CODE.test(String((e as NodeJS.ErrnoException).code ?? '')));
  return {
    type: err.name,
    message: `${quoting.name}${engineCode !== undefined ? ` (engine code ${engineCode})` : ''}: message ${WITHHELD}${system ? `; underlying: ${system.message}` : ''}`,
    ...(engineCode !== undefined ? { engineCode } : {}),
    ...(system ? { code: (system as NodeJS.ErrnoException).code } : {}),
    stack: framesOnly(err),
  };
}

/** The error and its causes, outermost first. */
function causes(err: Error): Error[] {
  const out: Error[] = [];
  let e: unknown = err;
  while (e instanceof Error && !out.includes(e) && out.length < 10) {
    out.push(e);
    e = e.cause;
  }
  return out;
}

/**
 * The stack without the message it starts with. (Its first word is the
 * name the error had when constructed: `Error` for subclasses that set
 * `name` as a field.) Without the message where expected, no stack at all.
 */
function framesOnly(err: Error): string | undefined {
  const stack = err.stack ?? '';
  if (err.message === '') return stack || undefined;
  const at = stack.indexOf(`: ${err.message}`);
  if (at < 0 || at > 100 || stack.slice(0, at).includes('\n')) return undefined;
  return stack.slice(0, at) + stack.slice(at + 2 + err.message.length);
}
