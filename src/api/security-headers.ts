import type { FastifyInstance } from 'fastify';
import helmet from '@fastify/helmet';

export interface SecurityHeadersOptions {
  /** The listener serves HTTPS: send Strict-Transport-Security and upgrade-insecure-requests. */
  tls: boolean;
}

/**
 * Security headers on every response of the query API and UI, errors and
 * 404s included (helmet's onRequest hook runs before authentication, so a
 * refusal carries them too).
 *
 * The Content-Security-Policy fits the built UI (dist/web-ui): one script
 * and one stylesheet from /assets, fetches to the same origin, the `data:`
 * favicon, React's style properties (set through the CSSOM, which
 * style-src does not govern). Nothing from other origins, no inline
 * script, and no framing (frame-ancestors 'none', X-Frame-Options DENY).
 *
 * HSTS only with TLS: a browser ignores it over plain HTTP, and it applies
 * to the whole host name, every port; one year, without includeSubDomains,
 * so other services under the same domain are not affected.
 */
export async function registerSecurityHeaders(app: FastifyInstance, opts: SecurityHeadersOptions): Promise<void> {
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'base-uri': ["'none'"],
        'connect-src': ["'self'"],
        'font-src': ["'self'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        'img-src': ["'self'", 'data:'],
        'object-src': ["'none'"],
        'script-src': ["'self'"],
        'script-src-attr': ["'none'"],
        'style-src': ["'self'"],
        ...(opts.tls ? { 'upgrade-insecure-requests': [] } : {}),
      },
    },
    strictTransportSecurity: opts.tls ? { maxAge: 31_536_000, includeSubDomains: false } : false,
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
}
