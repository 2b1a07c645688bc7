import type { ServerOptions as HttpsServerOptions } from 'node:https';
import type { ServerOptions as HttpServerOptions } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { SightlineError, asSightlineError } from '../errors.js';
import { registerTempoRoutes, type TempoRoutesOptions } from './tempo/index.js';
import { registerJaegerRoutes } from './jaeger/index.js';
import { registerNativeRoutes, type NativeRoutesOptions } from './native/index.js';
import { registerFirstRunRoutes } from './native/first-run-routes.js';
import type { BoundListeners } from './endpoints.js';
import { registerUiRoutes } from './ui/index.js';
import { installAuth, type AuthOptions } from './auth.js';
import { registerSecurityHeaders } from './security-headers.js';
import { registerOidcRoutes, type OidcRoutesOptions } from './oidc-routes.js';
import { QueryPool } from './isolation/index.js';
import { queryHost, type SqlStore } from '../store/index.js';
import type { QueryLimitsConfig } from '../config/index.js';
import type { SloService } from '../slo/index.js';
import { registerSloRoutes, sloQueriesOver } from './native/slo-routes.js';
import { registerDeliveryRoutes } from './native/delivery-routes.js';

export interface ApiServerOptions extends Omit<TempoRoutesOptions, 'queries'>, Omit<NativeRoutesOptions, 'tokens' | 'queries' | 'store'>, AuthOptions, OidcRoutesOptions {
  log: Logger;
  store: SqlStore;
  /** Limits of every query (defaults: 30 s, 4 at once, 1 GiB per statement, 512 MiB of worker heap). */
  queryLimits?: Partial<QueryLimitsConfig>;
  /** Serve HTTPS with these options (certificate and key); plain HTTP without. */
  https?: HttpsServerOptions;
  /**
   * The listener's body limit and timeouts, as Fastify options (see
   * ListenerGuard.fastifyOptions); its `https`, when set, replaces the one
   * above and carries the certificate too. Fastify's defaults without.
   */
  listener?: { bodyLimit: number; connectionTimeout: number; keepAliveTimeout: number; requestTimeout: number; http?: HttpServerOptions; https?: HttpsServerOptions };
  /** Where this process's three listeners are bound, once they are (for the UI's first-run panel). */
  listeners?: () => BoundListeners | undefined;
  /** SLO evaluation (docs/slo.md): its reads run in this server's query pool. */
  slos?: SloService;
}

/**
 * The query API on :3200. Errors are plain text with the status from the
 * error catalogue, as Tempo answers them.
 */
export async function createApiServer(opts: ApiServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.log.child({ component: 'api' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // Grafana double-encodes tag names; keep '%2F' and friends intact for the route.
    routerOptions: { ignoreTrailingSlash: true },
    ...(opts.https ? { https: opts.https } : {}),
    ...opts.listener,
  }) as unknown as FastifyInstance;
  // First, so every answer carries them, refusals and 404s included.
  await registerSecurityHeaders(app, { tls: opts.https !== undefined });

  app.setErrorHandler((err, req, reply) => {
    let e: SightlineError;
    if (err instanceof SightlineError) e = err;
    else if ((err as { statusCode?: number }).statusCode === 413) e = new SightlineError('BODY_TOO_LARGE', (err as Error).message);
    else if ((err as { statusCode?: number }).statusCode !== undefined && (err as { statusCode: number }).statusCode < 500)
      e = new SightlineError('INVALID_QUERY', (err as Error).message);
    else e = asSightlineError(err);
    // The route pattern, not the URL: a query string holds TraceQL, and
    // TraceQL holds the values searched for. Debug logs may have the URL.
    if (e.code === 'INTERNAL')
      opts.log.error({ err: e.cause ?? err, method: req.method, route: req.routeOptions.url ?? '(no route)', ...(opts.log.isLevelEnabled('debug') ? { url: req.url } : {}) }, 'query failed');
    const retryAfter = (e as { retryAfterSeconds?: number }).retryAfterSeconds;
    if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
    return reply.code(e.httpStatus).type('text/plain; charset=utf-8').send(`${e.message}\n`);
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).type('text/plain; charset=utf-8').send('404 page not found\n'));

  const limits = opts.queryLimits ?? {};
  const queries = new QueryPool({
    host: queryHost(opts.store),
    workerUrl: new URL('./query-worker.js', import.meta.url),
    timeoutMs: limits.timeoutMs ?? 30_000,
    maxConcurrent: limits.maxConcurrent ?? 4,
    statementMemoryBytes: limits.statementMemoryBytes ?? 1024 ** 3,
    // Bounds what one statement hands back to a worker; far past what any
    // answer needs (search reads at most 1000 traces' spans per batch).
    maxResultRows: 20_000_000,
    maxResultBytes: 512 * 1024 ** 2,
    workerHeapMb: limits.workerHeapMb ?? 512,
  });
  app.addHook('onClose', () => queries.close());

  installAuth(app, opts);
  registerTempoRoutes(app, { ...opts, queries });
  registerJaegerRoutes(app, { queries, maxSearchLimit: opts.maxSearchLimit });
  registerNativeRoutes(app, { ...opts, queries, tokens: () => opts.authenticator.tokens() });
  opts.slos?.useQueries(sloQueriesOver(queries));
  registerSloRoutes(app, queries, opts.slos, opts.store.sloState());
  registerDeliveryRoutes(app, queries, opts.slos, opts.store.sloState());
  registerFirstRunRoutes(app, { queries, listeners: opts.listeners, tokenRequired: () => opts.authenticator.enforcing });
  registerOidcRoutes(app, opts);
  // Last: its catch-all only answers paths no API route claims.
  registerUiRoutes(app);
  return app;
}
