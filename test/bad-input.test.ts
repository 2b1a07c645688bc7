import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { startSightline, eventually, type Sightline } from '../testkit/sightline.js';
import { otlp, decodeToObject } from '../testkit/otlp-schema.js';
import { grpcExportClient, nowNs, postOtlp, request, requestBytes, requestJson, span } from '../testkit/fixtures.js';

/**
 * Every kind of bad input gets a specific 4xx (or gRPC status) whose message
 * names the problem, the process keeps serving, and what was acknowledged
 * before is untouched.
 */
describe('bad input', () => {
  let s: Sightline;
  let goodTraceId: Buffer;
  let goodTraceBefore: unknown;
  let client: ReturnType<typeof grpcExportClient>;

  const status = (body: Buffer) => decodeToObject(otlp.RpcStatus, body);

  before(async () => {
    s = await startSightline({ args: ['--max-body', '1MiB'] });
    client = grpcExportClient(s.otlpGrpc);
    goodTraceId = randomBytes(16);
    const root = span({ traceId: goodTraceId, name: 'good root' });
    const r = await postOtlp(s.otlpHttp, requestBytes([root, span({ traceId: goodTraceId, parentSpanId: root.spanId as Buffer })]));
    assert.equal(r.status, 200);
    goodTraceBefore = await eventually(async () => {
      const res = await fetch(`${s.api}/api/v2/traces/${goodTraceId.toString('hex')}`);
      if (res.status !== 200) return undefined;
      const j = (await res.json()) as any;
      return j.trace.resourceSpans[0].scopeSpans[0].spans.length === 2 ? j : undefined;
    });
  });

  after(async () => {
    client.close();
    await s.stop();
    s.cleanup();
  });

  describe('OTLP/HTTP', () => {
    it('truncated protobuf: 400 naming truncation', async () => {
      const full = requestBytes([span()]);
      const r = await postOtlp(s.otlpHttp, full.subarray(0, full.length - 7));
      assert.equal(r.status, 400);
      assert.equal(r.headers.get('content-type'), 'application/x-protobuf');
      assert.match(status(r.body).message, /truncated/);
      assert.equal(status(r.body).code, 3);
    });

    it('garbage protobuf: 400', async () => {
      const r = await postOtlp(s.otlpHttp, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]));
      assert.equal(r.status, 400);
      assert.match(status(r.body).message, /protobuf/);
      const r2 = await postOtlp(s.otlpHttp, Buffer.from([0x0f, 0x00]));
      assert.equal(r2.status, 400);
      assert.match(status(r2.body).message, /wire type 7/);
    });

    it('invalid JSON: 400 with a JSON Status body', async () => {
      const r = await postOtlp(s.otlpHttp, '{"resourceSpans": [');
      assert.equal(r.status, 400);
      assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
      const body = JSON.parse(r.body.toString());
      assert.equal(body.code, 3);
      assert.match(body.message, /invalid JSON/);
    });

    it('JSON of the wrong shape: 400 naming the field', async () => {
      const r = await postOtlp(s.otlpHttp, '{"resourceSpans": {"a": 1}}');
      assert.equal(r.status, 400);
      assert.match(JSON.parse(r.body.toString()).message, /resourceSpans must be an array/);
    });

    it('wrong content type: 415 naming it', async () => {
      const r = await postOtlp(s.otlpHttp, 'hello', { 'content-type': 'text/plain' });
      assert.equal(r.status, 415);
      assert.match(status(r.body).message, /text\/plain/);
    });

    it('unsupported content encoding: 415', async () => {
      const r = await postOtlp(s.otlpHttp, requestBytes([span()]), { 'content-encoding': 'br' });
      assert.equal(r.status, 415);
      assert.match(status(r.body).message, /Content-Encoding/);
    });

    const onlyRejection = async (body: Buffer | string, pattern: RegExp) => {
      const r = await postOtlp(s.otlpHttp, body);
      assert.equal(r.status, 400);
      const msg = typeof body === 'string' ? JSON.parse(r.body.toString()).message : status(r.body).message;
      assert.match(msg, pattern);
    };

    it('ids of the wrong length: 400 naming the id', async () => {
      await onlyRejection(requestBytes([span({ traceId: randomBytes(15) })]), /trace_id must be 16 bytes, got 15/);
      await onlyRejection(requestBytes([span({ spanId: randomBytes(9) })]), /span_id must be 8 bytes, got 9/);
      await onlyRejection(requestBytes([span({ parentSpanId: randomBytes(4) })]), /parent_span_id must be empty or 8 bytes/);
      await onlyRejection(requestJson(request([span({ traceId: randomBytes(8) })])), /traceId must be 32 hex characters/);
      await onlyRejection(requestJson(request([{ ...span(), spanId: 'zz'.repeat(8) }])), /spanId must be 16 hex characters/);
    });

    it('all-zero ids: 400', async () => {
      await onlyRejection(requestBytes([span({ traceId: Buffer.alloc(16) })]), /trace_id is all zero/);
      await onlyRejection(requestBytes([span({ spanId: Buffer.alloc(8) })]), /span_id is all zero/);
      await onlyRejection(requestJson(request([span({ traceId: Buffer.alloc(16) })])), /traceId is all zero/);
    });

    it('end time before start time: 400', async () => {
      const start = nowNs();
      await onlyRejection(requestBytes([span({ startNs: start, endNs: start - 1n })]), /end_time_unix_nano is before start_time_unix_nano/);
    });

    it('mixed valid and invalid spans: 200 with partial success', async () => {
      const traceId = randomBytes(16);
      const body = requestBytes([span({ traceId }), span({ traceId: Buffer.alloc(16) }), span({ traceId, spanId: randomBytes(3) })]);
      const r = await postOtlp(s.otlpHttp, body);
      assert.equal(r.status, 200);
      const reply = decodeToObject(otlp.ExportTraceServiceResponse, r.body);
      assert.equal(reply.partialSuccess.rejectedSpans, '2');
      assert.match(reply.partialSuccess.errorMessage, /all zero/);
      const j = JSON.parse((await postOtlp(s.otlpHttp, requestJson(request([span(), span({ spanId: Buffer.alloc(8) })])))).body.toString());
      assert.deepEqual(j, { partialSuccess: { rejectedSpans: '1', errorMessage: 'span spanId is all zero' } });
    });

    it('a body over --max-body: 413', async () => {
      const r = await postOtlp(s.otlpHttp, Buffer.alloc(2 * 1024 * 1024, 1));
      assert.equal(r.status, 413);
      assert.match(status(r.body).message, /larger than the limit/);
    });

    it('a gzip bomb: 413, decompression stopped at the limit', async () => {
      const bomb = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024));
      assert.ok(bomb.length < 1024 * 1024);
      const r = await postOtlp(s.otlpHttp, bomb, { 'content-encoding': 'gzip' });
      assert.equal(r.status, 413);
      assert.match(status(r.body).message, /decompressed body is larger than the limit/);
    });

    it('corrupt gzip: 400', async () => {
      const r = await postOtlp(s.otlpHttp, Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' });
      assert.equal(r.status, 400);
      assert.match(status(r.body).message, /not valid gzip/);
    });

    it('invalid UTF-8: 400, in protobuf strings and in JSON bodies', async () => {
      const body = requestBytes([span({ name: 'PLACEHOLDER' })]);
      const at = body.indexOf('PLACEHOLDER');
      Buffer.from([0x41, 0xc3, 0x28, 0xff, 0xfe, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41]).copy(body, at);
      await onlyRejection(body, /not valid UTF-8/);
      const json = Buffer.concat([Buffer.from('{"resourceSpans":[{"resource":{"attributes":[{"key":"'), Buffer.from([0xff, 0xfe]), Buffer.from('","value":{}}]}}]}')]);
      const r = await postOtlp(s.otlpHttp, json, { 'content-type': 'application/json' });
      assert.equal(r.status, 400);
      assert.match(JSON.parse(r.body.toString()).message, /not valid UTF-8/);
    });

    it('absurdly deep AnyValue nesting: 400', async () => {
      let value: Record<string, unknown> = { stringValue: 'bottom' };
      for (let i = 0; i < 40; i++) value = { arrayValue: { values: [value] } };
      await onlyRejection(requestBytes([span({ attributes: [{ key: 'deep', value }] })]), /nesting is deeper than 32/);
      await onlyRejection(requestJson(request([span({ attributes: [{ key: 'deep', value }] })])), /nesting is deeper than 32/);
    });

    it('unknown path: 404; wrong method: 404', async () => {
      const r = await fetch(`${s.otlpHttp}/v1/metrics`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.alloc(0) });
      assert.equal(r.status, 404);
    });
  });

  describe('OTLP/gRPC', () => {
    it('garbage: INVALID_ARGUMENT naming the problem', async () => {
      const { error } = await client.exportRaw(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
      assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
      assert.match(error!.details, /truncated/);
    });

    it('all spans invalid: INVALID_ARGUMENT', async () => {
      const { error } = await client.exportRaw(requestBytes([span({ traceId: Buffer.alloc(16) })]));
      assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
      assert.match(error!.details, /all zero/);
    });

    it('partial success in the reply', async () => {
      const { response } = await client.exportRaw(requestBytes([span(), span({ spanId: Buffer.alloc(8) })]));
      assert.equal(decodeToObject(otlp.ExportTraceServiceResponse, response!).partialSuccess.rejectedSpans, '1');
    });

    it('a message over --max-body: RESOURCE_EXHAUSTED, also when gzip hides its size', async () => {
      const big = requestBytes([span({ attributes: [{ key: 'blob', value: { stringValue: 'x'.repeat(2 * 1024 * 1024) } }] })]);
      const plain = await client.exportRaw(big);
      assert.equal(plain.error?.code, grpc.status.RESOURCE_EXHAUSTED);
      const zipped = await client.exportRaw(big, { gzip: true });
      assert.equal(zipped.error?.code, grpc.status.RESOURCE_EXHAUSTED);
    });
  });

  describe('query parameters', () => {
    const get = async (path: string) => {
      const r = await fetch(`${s.api}${path}`);
      return { status: r.status, text: await r.text() };
    };

    it('a non-numeric duration: 400', async () => {
      const r = await get('/api/search?tags=a%3Db&minDuration=fast');
      assert.equal(r.status, 400);
      assert.match(r.text, /invalid minDuration: time: invalid duration "fast"/);
      assert.equal((await get('/api/search?tags=a%3Db&minDuration=2s&maxDuration=1s')).status, 400);
    });

    it('an inverted time range: 400', async () => {
      const r = await get('/api/search?tags=a%3Db&start=2000&end=1000');
      assert.equal(r.status, 400);
      assert.match(r.text, /start must be before end/);
      assert.equal((await get('/api/search?start=abc')).status, 400);
      assert.equal((await get('/api/search?start=1700000000000000000')).status, 400);
    });

    it('a malformed trace id: 400; an unknown one: 404', async () => {
      const bad = await get('/api/traces/xyz123');
      assert.equal(bad.status, 400);
      assert.match(bad.text, /trace IDs can only contain hex characters: invalid character 'x' at position 1/);
      assert.equal((await get(`/api/v2/traces/${'a'.repeat(34)}`)).status, 400);
      assert.equal((await get(`/api/traces/${randomBytes(16).toString('hex')}`)).status, 404);
      assert.equal((await get(`/api/v2/traces/${randomBytes(16).toString('hex')}`)).status, 404);
    });

    it('bad limit, spss, tags and scope: 400', async () => {
      assert.match((await get('/api/search?tags=a%3Db&limit=0')).text, /invalid limit: must be a positive number/);
      assert.match((await get('/api/search?tags=a%3Db&spss=x')).text, /invalid spss/);
      assert.match((await get('/api/search?tags=a%3Db%20a%3Dc')).text, /tag a has been set twice/);
      assert.match((await get('/api/search?tags=%22unterminated')).text, /invalid tags/);
      assert.match((await get('/api/v2/search/tags?scope=nonsense')).text, /invalid scope: nonsense/);
      assert.match((await get('/api/v2/search/tag/nonsense/values')).text, /not valid intrinsic or scoped attribute/);
    });
  });

  it('keeps serving, with acknowledged data untouched', async () => {
    assert.equal((await fetch(`${s.api}/ready`)).status, 200);
    const res = await fetch(`${s.api}/api/v2/traces/${goodTraceId.toString('hex')}`);
    assert.deepEqual(await res.json(), goodTraceBefore);
    const r = await postOtlp(s.otlpHttp, requestBytes([span()]));
    assert.equal(r.status, 200);
  });
});


