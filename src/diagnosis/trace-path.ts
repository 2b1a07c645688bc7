import { isRootSpan, type SpanRecord } from '../model/span-record.js';
import { criticalPath, type PathSpan } from './critical-path.js';

/** The JSON of GET /api/sightline/traces/{id}/critical-path (see docs/api.md). */
export interface CriticalPathJson {
  traceId: string;
  rootSpanId: string;
  /** Trace start, Unix ns as a decimal string (beyond 2^53). */
  startNs: string;
  durationNs: number;
  segments: { spanId: string; service: string; name: string; start: string; end: string; selfTimeOnPathNs: number }[];
  spans: { spanId: string; selfTimeNs: number; onPathNs: number }[];
  skew: { spanId: string; parentSpanId: string; shiftNs: number }[];
  orphans: string[];
}

/** Spans as the critical path wants them: hex ids, offsets from the earliest start. */
export function toPathSpans(spans: readonly SpanRecord[]): { base: bigint; path: PathSpan[] } {
  let base = spans.length > 0 ? spans[0].startNs : 0n;
  for (const s of spans) if (s.startNs < base) base = s.startNs;
  const path = spans.map((s) => {
    const start = Number(s.startNs - base);
    return {
      spanId: s.spanId.toString('hex'),
      parentId: isRootSpan(s) ? '' : s.parentSpanId.toString('hex'),
      service: s.serviceName,
      name: s.name,
      start,
      end: start + Number(s.durationNs),
    };
  });
  return { base, path };
}

export function traceCriticalPath(traceId: Buffer, spans: readonly SpanRecord[]): CriticalPathJson {
  const { base, path } = toPathSpans(spans);
  const cp = criticalPath(path);
  const abs = (offset: number) => (base + BigInt(Math.round(offset))).toString();
  return {
    traceId: traceId.toString('hex'),
    rootSpanId: cp.root >= 0 ? path[cp.root].spanId : '',
    startNs: base.toString(),
    durationNs: cp.root >= 0 ? cp.end[cp.root] - cp.start[cp.root] : 0,
    segments: cp.segments.map((s) => ({
      spanId: path[s.span].spanId,
      service: path[s.span].service,
      name: path[s.span].name,
      start: abs(s.start),
      end: abs(s.end),
      selfTimeOnPathNs: s.end - s.start,
    })),
    spans: path.map((p, i) => ({ spanId: p.spanId, selfTimeNs: cp.selfTimeNs[i], onPathNs: cp.onPathNs[i] })),
    skew: cp.skew.map((k) => ({ spanId: path[k.span].spanId, parentSpanId: path[k.parent].spanId, shiftNs: k.shiftNs })),
    orphans: cp.orphans.map((i) => path[i].spanId),
  };
}
