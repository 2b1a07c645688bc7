import type { DestinationStream } from 'pino';
import { endpointUrls, isWildcard, type BoundListeners } from '../api/index.js';
import type { LogFormat } from '../config/index.js';

/**
 * Logs for a person at a terminal. The lines are pino's own, after its
 * redaction and serializers (log-safety.ts) ran: this only lays out what
 * would have been written as JSON, so it can show nothing the JSON would
 * not. Control characters are escaped as JSON escapes them, so a value that
 * came from a client cannot move the cursor or recolour the terminal.
 */

/** `auto` is pretty at a terminal and JSON lines everywhere else (files, pipes, journald, collectors). */
export function resolveLogFormat(format: LogFormat, stdoutIsTty: boolean): 'json' | 'pretty' {
  return format === 'auto' ? (stdoutIsTty ? 'pretty' : 'json') : format;
}

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '90' },
  20: { name: 'DEBUG', color: '36' },
  30: { name: 'INFO', color: '32' },
  40: { name: 'WARN', color: '33' },
  50: { name: 'ERROR', color: '31' },
  60: { name: 'FATAL', color: '41;97' },
};

/** Fields every line carries, shown in the line's head (or not at all) rather than as key=value. */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname', 'component', 'err']);

/** Control characters (C0, DEL, C1) escaped as JSON escapes them (`\n`, `\u001b`); everything else as is. */
export function visible(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    const escaped = JSON.stringify(c).slice(1, -1);
    return escaped.length > 1 ? escaped : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

function fieldValue(v: unknown): string {
  // Bare when it reads unambiguously; quoted (and escaped) when it has spaces, quotes, = or control characters.
  // eslint-disable-next-line no-control-regex
  if (typeof v === 'string') return /^[^\s"=\u0000-\u001f\u007f-\u009f]+$/.test(v) ? v : visible(JSON.stringify(v));
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return visible(JSON.stringify(v) ?? String(v));
}

/**
 * One log object as a line: local time, level, component, message, then
 * the other fields as key=value; an error's type and message follow, with
 * its stack (as the serializer left it) indented below.
 */
export function prettyLine(entry: Record<string, unknown>, opts: { color: boolean }): string {
  const paint = (code: string, s: string) => (opts.color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const level = LEVELS[Number(entry.level)] ?? { name: String(entry.level), color: '0' };
  const time = typeof entry.time === 'number' ? new Date(entry.time) : new Date();
  const clock = `${String(time.getHours()).padStart(2, '0')}:${String(time.getMinutes()).padStart(2, '0')}:${String(time.getSeconds()).padStart(2, '0')}.${String(time.getMilliseconds()).padStart(3, '0')}`;
  const parts = [paint('90', clock), paint(level.color, level.name.padEnd(5))];
  if (typeof entry.component === 'string') parts.push(paint('90', `[${visible(entry.component)}]`));
  parts.push(visible(String(entry.msg ?? '')));
  const fields = Object.entries(entry)
    .filter(([k]) => !HEAD_FIELDS.has(k))
    .map(([k, v]) => `${paint('90', `${visible(k)}=`)}${fieldValue(v)}`);
  let line = fields.length > 0 ? `${parts.join(' ')}  ${fields.join(' ')}` : parts.join(' ');
  const err = entry.err;
  if (err !== undefined) {
    if (typeof err === 'object' && err !== null) {
      const e = err as { type?: unknown; message?: unknown; stack?: unknown };
      line += `\n    ${paint(level.color, visible(`${String(e.type ?? 'Error')}: ${String(e.message ?? '')}`))}`;
      if (typeof e.stack === 'string') {
        const frames = e.stack.split('\n').filter((l) => /^\s+at /.test(l));
        if (frames.length > 0) line += `\n${frames.map((f) => paint('90', `      ${visible(f.trim())}`)).join('\n')}`;
      }
    } else line += `  err=${fieldValue(err)}`;
  }
  return `${line}\n`;
}

/**
 * A pino destination that writes each line laid out by prettyLine. pino
 * writes one whole JSON line per call, synchronously; a line that is not
 * JSON (none should be) passes through escaped.
 */
export function prettyDestination(out: { write(s: string): unknown }, opts: { color: boolean }): DestinationStream {
  return {
    write(chunk: string) {
      for (const raw of chunk.split('\n')) {
        if (raw === '') continue;
        let entry: unknown;
        try {
          entry = JSON.parse(raw);
        } catch {
          out.write(`${visible(raw)}\n`);
          continue;
        }
        out.write(typeof entry === 'object' && entry !== null ? prettyLine(entry as Record<string, unknown>, opts) : `${visible(raw)}\n`);
      }
    },
  };
}

export interface StartupInfo {
  version: string;
  listeners: BoundListeners;
  /** The store, described without secrets: `embedded, in /path` or a ClickHouse URL without its password. */
  store: string;
  retention: string;
  /** OTLP exporters need a token (an identity source is configured). */
  tokenRequired: boolean;
  /** This machine's name, shown for a wildcard listen address. */
  hostname: string;
}

/**
 * What a person starting Sightline at a terminal needs first: where the UI
 * and both OTLP listeners are (the bound addresses, so `--http-port 0`
 * shows the port it got), how to point an SDK at them, and the demo.
 */
export function startupSummary(info: StartupInfo): string {
  const urls = endpointUrls(info.listeners, info.hostname);
  const wildcard = isWildcard(info.listeners.http.address);
  const lines = [
    '',
    `Sightline ${info.version} is ready.`,
    '',
    `  Web UI      ${urls.ui}`,
    `  OTLP/gRPC   ${urls.otlpGrpc}`,
    `  OTLP/HTTP   ${urls.otlpHttp}  (traces: POST ${new URL(urls.otlpHttpTraces).pathname})`,
    ...(urls.zipkinSpans ? [`  Zipkin v2   ${urls.zipkinSpans}`] : []),
    `  Store       ${info.store}; spans kept ${info.retention}`,
  ];
  if (wildcard) lines.push(`  Listening on every interface (${info.listeners.http.address}); ${info.hostname} stands for this machine.`);
  lines.push(
    '',
    'Send traces from an OpenTelemetry SDK:',
    `  export OTEL_EXPORTER_OTLP_ENDPOINT=${urls.otlpHttp}`,
    '  export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf',
    '  export OTEL_SERVICE_NAME=my-service',
  );
  if (info.tokenRequired) lines.push('  export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <token>"   # from: npx sightline token create --role ingester');
  lines.push(
    `  (or gRPC: OTEL_EXPORTER_OTLP_ENDPOINT=${urls.otlpGrpc} with OTEL_EXPORTER_OTLP_PROTOCOL=grpc)`,
    '',
    `Or fill it with the clinic lab, from a checkout: npm run demo -- --fault b --otlp ${urls.otlpHttpTraces} --api ${urls.ui.replace(/\/$/, '')}`,
    'Ctrl-C stops Sightline.',
    '',
  );
  return lines.join('\n');
}
