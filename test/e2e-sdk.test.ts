import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { context, trace, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SamplingDecision, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan, Sampler } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as HttpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { startSightline, eventually, type Sightline } from '../testkit/sightline.js';
import { otlp, decodeToObject } from '../testkit/otlp-schema.js';
import { canonicalSpans } from '../testkit/canonical.js';

/**
 * The real OpenTelemetry JS SDK, through each of its three trace exporters,
 * against a real Sightline: what the SDK sent must come back out of the
 * Tempo API field by field, and be found by tag search.
 */

const EXPORTERS = ['http-json', 'http-proto', 'grpc'] as const;
type ExporterKind = (typeof EXPORTERS)[number];

function exporterFor(kind: ExporterKind, s: Sightline) {
  switch (kind) {
    case 'http-json':
      return new HttpJsonExporter({ url: `${s.otlpHttp}/v1/traces` });
    case 'http-proto':
      return new HttpProtoExporter({ url: `${s.otlpHttp}/v1/traces`, compression: CompressionAlgorithm.GZIP });
    case 'grpc':
      return new GrpcExporter({ url: s.otlpGrpc, compression: CompressionAlgorithm.GZIP });
  }
}

/** A small trace using every field the SDK can set. */
function makeTrace(tracer: Tracer, tag: string): void {
  const remote = context.active();
  const root = tracer.startSpan(
    `GET /checkout/${tag}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        'http.route': `/checkout/${tag}`,
        'http.status_code': 200,
        'http.request.duration_ratio': 0.25,
        'feature.enabled': true,
        'list.strings': ['a', 'b', ''],
        'list.ints': [1, -2, 3],
        'list.floats': [1.5, -0.25],
        'list.bools': [true, false],
        'unicode.text': 'żółć 🙂 日本',
        'empty.string': '',
        'big.int': 9007199254740991,
        'negative.int': -42,
      },
    },
    remote,
  );
  root.addEvent('cache miss', { 'cache.key': 'user:1', attempt: 2 });
  root.addEvent('no attributes');
  const ctx = trace.setSpan(remote, root);
  const child = tracer.startSpan('SELECT orders', {
    kind: SpanKind.CLIENT,
    links: [{ context: root.spanContext(), attributes: { 'link.reason': 'retry', 'link.n': 1 } }],
    attributes: { 'db.system': 'sqlite', 'db.statement': 'SELECT * FROM orders WHERE id = ?' },
  }, ctx);
  // More attributes than the span limit: the SDK drops some and counts them.
  for (let i = 0; i < 40; i++) child.setAttribute(`extra.${i}`, i);
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'connection reset' });
  child.end();
  const producer = tracer.startSpan('publish order', { kind: SpanKind.PRODUCER }, ctx);
  producer.setStatus({ code: SpanStatusCode.OK });
  producer.end();
  root.end();
}

/** Samples everything and gives each trace a trace state, which its spans inherit. */
const sampler: Sampler = {
  shouldSample: () => ({ decision: SamplingDecision.RECORD_AND_SAMPLED, traceState: new TraceState('vendor=abc,other=1') }),
  toString: () => 'with-trace-state',
};

describe('OpenTelemetry JS SDK end to end', () => {
  let s: Sightline;
  before(async () => {
    s = await startSightline();
  });
  after(async () => {
    await s.stop();
    s.cleanup();
  });

  for (const kind of EXPORTERS) {
    describe(`exporter ${kind}`, () => {
      let sent: ReadableSpan[];
      let traceId: string;
      const service = `checkout-${kind}`;

      before(async () => {
        const captured = new InMemorySpanExporter();
        const provider = new BasicTracerProvider({
          resource: resourceFromAttributes({
            'service.name': service,
            'service.version': '1.4.2',
            'host.name': 'node-7',
            'process.pid': 4242,
            'cloud.region': 'eu-west-1',
            'deployment.ratio': 0.75,
            'feature.flags': ['a', 'b'],
          }),
          spanLimits: { attributeCountLimit: 32 },
          sampler,
          spanProcessors: [new SimpleSpanProcessor(captured), new BatchSpanProcessor(exporterFor(kind, s))],
        });
        makeTrace(provider.getTracer('checkout-lib', '2.0.1', { schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' }), kind);
        await provider.forceFlush();
        // Read before shutdown: the in-memory exporter forgets on shutdown.
        sent = captured.getFinishedSpans();
        await provider.shutdown();
        traceId = sent[0].spanContext().traceId;
        assert.equal(sent.length, 3);
      });

      const expected = () =>
        canonicalSpans(decodeToObject(otlp.ExportTraceServiceRequest, ProtobufTraceSerializer.serializeRequest(sent)!).resourceSpans, 'bytes');

      it('returns every field through /api/v2/traces as JSON', async () => {
        const body = await eventually(async () => {
          const r = await fetch(`${s.api}/api/v2/traces/${traceId}`);
          if (r.status !== 200) return undefined;
          const j = (await r.json()) as any;
          const spans = canonicalSpans(j.trace.resourceSpans, 'base64');
          return spans.length === 3 ? spans : undefined;
        }, 15_000, 'the trace to be stored');
        const want = expected();
        assert.ok(want.find((sp) => sp.name === 'SELECT orders')!.droppedAttributesCount > 0, 'the fixture should exercise dropped attribute counts');
        assert.ok(want.every((sp) => sp.traceState === 'vendor=abc,other=1'), 'the fixture should exercise trace state');
        assert.deepEqual(body, want);
      });

      it('returns the same through /api/v2/traces as protobuf (what Grafana requests)', async () => {
        const r = await fetch(`${s.api}/api/v2/traces/${traceId}`, { headers: { accept: 'application/protobuf' } });
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('content-type'), 'application/protobuf');
        const msg = decodeToObject(otlp.TraceByIDResponse, new Uint8Array(await r.arrayBuffer()));
        assert.deepEqual(canonicalSpans(msg.trace.resourceSpans, 'bytes'), expected());
      });

      it('returns the same through the v1 endpoint, JSON and protobuf', async () => {
        const j = (await (await fetch(`${s.api}/api/traces/${traceId}`)).json()) as any;
        assert.ok(Array.isArray(j.batches), 'v1 JSON has batches');
        assert.deepEqual(canonicalSpans(j.batches, 'base64'), expected());
        const r = await fetch(`${s.api}/api/traces/${traceId}`, { headers: { accept: 'application/protobuf' } });
        const msg = decodeToObject(otlp.Trace, new Uint8Array(await r.arrayBuffer()));
        assert.deepEqual(canonicalSpans(msg.resourceSpans, 'bytes'), expected());
      });

      it('finds the trace by tag search, with Tempo result fields', async () => {
        const root = sent.find((sp) => sp.kind === SpanKind.SERVER)!;
        const startS = Math.floor(Date.now() / 1000) - 600;
        const endS = Math.floor(Date.now() / 1000) + 60;
        const tags = encodeURIComponent(`service.name=${service} http.route=/checkout/${kind}`);
        const r = await fetch(`${s.api}/api/search?tags=${tags}&start=${startS}&end=${endS}&limit=5`);
        assert.equal(r.status, 200);
        const j = (await r.json()) as any;
        assert.equal(j.traces.length, 1);
        const t = j.traces[0];
        assert.equal(t.traceID, traceId.replace(/^0+/, ''));
        assert.equal(t.rootServiceName, service);
        assert.equal(t.rootTraceName, root.name);
        const rootStartNs = BigInt(root.startTime[0]) * 1_000_000_000n + BigInt(root.startTime[1]);
        assert.equal(t.startTimeUnixNano, rootStartNs.toString());
        assert.equal(typeof t.durationMs === 'number' || t.durationMs === undefined, true);
        assert.equal(t.spanSet.matched, 1);
        assert.equal(t.spanSet.spans[0].spanID, root.spanContext().spanId);
        assert.deepEqual(t.spanSets, [t.spanSet]);
      });

      it('finds it by status, int attribute and trace duration; excludes it when they do not match', async () => {
        const startS = Math.floor(Date.now() / 1000) - 600;
        const endS = Math.floor(Date.now() / 1000) + 60;
        const search = async (tags: string, extra = '') => {
          const r = await fetch(`${s.api}/api/search?tags=${encodeURIComponent(tags)}&start=${startS}&end=${endS}${extra}`);
          assert.equal(r.status, 200);
          return ((await r.json()) as any).traces.map((t: any) => t.traceID) as string[];
        };
        const id = traceId.replace(/^0+/, '');
        assert.ok((await search(`service.name=${service} status.code=error`)).includes(id));
        assert.ok(!(await search(`service.name=${service} status.code=unset db.system=sqlite`)).includes(id));
        assert.ok((await search(`service.name=${service} http.status_code=200`)).includes(id));
        assert.ok(!(await search(`service.name=${service} http.status_code=404`)).includes(id));
        assert.ok((await search(`service.name=${service} cloud.region=eu-west-1 db.system=sqlite`)).includes(id));
        assert.ok((await search(`service.name=${service}`, '&minDuration=0ms&maxDuration=1h')).includes(id));
        assert.ok(!(await search(`service.name=${service}`, '&minDuration=1h')).includes(id));
      });
    });
  }
});
