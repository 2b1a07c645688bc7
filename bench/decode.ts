import { otlp } from '../testkit/otlp-schema.js';
import { ProtobufSpanDecoder } from '../src/receivers/decode-protobuf.js';
import { ResourceBatchBuilder, SpanBatchBuilder } from '../src/model/span-batch.js';
import { ResourceRows } from '../src/receivers/row-templates.js';
import { buildTemplates, instantiate } from './otlp-gen.js';

/**
 * Decode-only rates on one core: our column decoder (to a finished Native
 * block) against protobufjs decoding the same bytes into objects.
 */

const FULL = otlp.ExportTraceServiceRequest;

export interface DecodeBench {
  oursSpansPerSec: number;
  protobufjsSpansPerSec: number;
  bytesPerSpanOnWire: number;
  nativeBytesPerSpan: number;
}

function rate(seconds: number, bodies: Buffer[], spansPer: number[], fn: (b: Buffer) => void): number {
  // Warm up, then run for `seconds`.
  for (let i = 0; i < bodies.length; i++) fn(bodies[i]);
  let spans = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let i = 0;
  while (process.hrtime.bigint() < deadline) {
    fn(bodies[i % bodies.length]);
    spans += spansPer[i % bodies.length];
    i++;
  }
  return spans / (Number(process.hrtime.bigint() - start) / 1e9);
}

export function runDecodeBench(seconds = 3): DecodeBench {
  const templates = buildTemplates(40, 500);
  const now = BigInt(Date.now()) * 1_000_000n;
  const bodies = templates.map((t) => instantiate(t, now));
  const spansPer = templates.map((t) => t.spans);
  const decoder = new ProtobufSpanDecoder();
  const builder = new SpanBatchBuilder();
  const resources = new ResourceBatchBuilder();
  // Resources are written once and then known, as in the server.
  const known = new Set<string>();
  const opts = { minStartNs: 0, retentionText: '7d' };
  let nativeBytes = 0;
  let nativeSpans = 0;
  const ours = rate(seconds, bodies, spansPer, (b) => {
    builder.reset();
    resources.reset();
    const rows = new ResourceRows(resources, (id) => known.has(id), 1n);
    decoder.decode(b, builder, rows, opts);
    for (const id of rows.emitted) known.add(id);
    // The receiver stamps the request's tenant on every row.
    builder.fillTenant('bench');
    resources.fillTenant('bench');
    const out = builder.toBuffer();
    nativeBytes += out.length + (resources.rows > 0 ? resources.toBuffer().length : 0);
    nativeSpans += builder.rows;
  });
  const theirs = rate(seconds, bodies, spansPer, (b) => {
    FULL.decode(b);
  });
  const wire = bodies.reduce((n, b) => n + b.length, 0) / spansPer.reduce((n, s) => n + s, 0);
  return { oursSpansPerSec: ours, protobufjsSpansPerSec: theirs, bytesPerSpanOnWire: wire, nativeBytesPerSpan: nativeBytes / nativeSpans };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = runDecodeBench(Number(process.argv[2] ?? 3));
  console.log(JSON.stringify(r, null, 2));
}
