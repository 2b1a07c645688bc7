import { useEffect, useRef, useState } from 'react';
import { demoCommand, exporterEnv, type GettingStartedJson } from '../model/index.js';
import { getJson, isAbort } from './api.js';
import { CopyButton, EmptyState, Spinner } from './common.js';

/** How often an empty store is asked again, while the panel is on screen. */
const POLL_MS = 2000;

/**
 * What a search that matched nothing shows. When the tenant's store holds
 * no span at all, "try a wider range" would be wrong: the panel says how
 * to send spans here instead, with this host's bound OTLP endpoints, and
 * asks again every two seconds; once the first spans are stored,
 * `onFirstSpans` runs the search again. A store that holds spans, or a
 * server that cannot say, gets the usual "nothing matched".
 */
export function EmptySearch({ rangeLabel, onFirstSpans }: { rangeLabel: string; onFirstSpans(): void }) {
  const [state, setState] = useState<{ status: 'loading' } | { status: 'unknown' } | { status: 'done'; info: GettingStartedJson }>({ status: 'loading' });
  const firstSpans = useRef(onFirstSpans);
  firstSpans.current = onFirstSpans;

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let wasEmpty = false;
    const check = async () => {
      try {
        const info = await getJson<GettingStartedJson>('/api/sightline/getting-started', abort.signal);
        if (abort.signal.aborted) return;
        if (info.hasSpans && wasEmpty) {
          firstSpans.current();
          return;
        }
        setState({ status: 'done', info });
        if (!info.hasSpans) {
          wasEmpty = true;
          timer = setTimeout(() => void check(), POLL_MS);
        }
      } catch (e) {
        if (isAbort(e)) return;
        // A server without this endpoint, or a transient failure: say what is certain, and look again while the store may be empty.
        setState((s) => (s.status === 'done' ? s : { status: 'unknown' }));
        if (wasEmpty) timer = setTimeout(() => void check(), POLL_MS);
      }
    };
    void check();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, []);

  if (state.status === 'loading') return <Spinner label="Searching…" />;
  if (state.status === 'done' && !state.info.hasSpans) return <FirstRunPanel info={state.info} />;
  return (
    <EmptyState title="No traces found">
      Nothing matched in {rangeLabel}. Try a wider range or fewer conditions.
    </EmptyState>
  );
}

function Snippet({ text, testId, label }: { text: string; testId: string; label: string }) {
  return (
    <div className="snippet">
      <pre data-testid={testId}>{text}</pre>
      <CopyButton text={text} label={label} />
    </div>
  );
}

function FirstRunPanel({ info }: { info: GettingStartedJson }) {
  const e = info.endpoints;
  const httpEnv = exporterEnv(info, 'http/protobuf');
  const grpcEnv = exporterEnv(info, 'grpc');
  const demo = demoCommand(info);
  return (
    <section className="first-run" data-testid="first-run" aria-labelledby="first-run-title">
      <h2 id="first-run-title">No spans here yet</h2>
      <p>
        Sightline stores what OpenTelemetry SDKs and Collectors send it. Point one at this host: this page shows the first traces as soon as they
        are stored.
      </p>
      {e ? (
        <dl className="first-run-endpoints">
          <dt>OTLP/HTTP</dt>
          <dd>
            <code data-testid="first-run-otlp-http">{e.otlpHttp}</code>
            <CopyButton text={e.otlpHttp} label="OTLP/HTTP endpoint" />
            <span className="muted small">
              traces: <code>POST {new URL(e.otlpHttpTraces).pathname}</code>, protobuf or JSON
            </span>
          </dd>
          <dt>OTLP/gRPC</dt>
          <dd>
            <code data-testid="first-run-otlp-grpc">{e.otlpGrpc}</code>
            <CopyButton text={e.otlpGrpc} label="OTLP/gRPC endpoint" />
          </dd>
        </dl>
      ) : (
        <p className="muted">This API server does not know where OTLP is received; ask whoever runs Sightline for its OTLP endpoint.</p>
      )}
      {httpEnv && (
        <>
          <h3>In your service&apos;s environment</h3>
          <Snippet text={httpEnv} testId="first-run-env" label="environment" />
          <details>
            <summary>Over gRPC instead</summary>
            <Snippet text={grpcEnv ?? ''} testId="first-run-env-grpc" label="gRPC environment" />
          </details>
        </>
      )}
      {info.tokenRequired && (
        <p>
          Exporters need a token with the <code>ingester</code> role, made with <code>npx sightline token create --role ingester</code> on the
          Sightline host.
        </p>
      )}
      {info.clientCertificate && (
        <p>
          The OTLP listeners also ask for a client certificate, given with <code>OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE</code> and{' '}
          <code>OTEL_EXPORTER_OTLP_CLIENT_KEY</code>.
        </p>
      )}
      {demo && (
        <>
          <h3>Or try the clinic lab</h3>
          <p>
            From a checkout of Sightline, four instrumented healthcare services with a fault switched on send a minute of traces here (the first
            run installs the lab&apos;s packages).
          </p>
          <Snippet text={demo} testId="first-run-demo" label="demo command" />
        </>
      )}
      <p className="muted small first-run-waiting" role="status">
        <span className="spinner" aria-hidden /> Waiting for the first spans…
      </p>
    </section>
  );
}
