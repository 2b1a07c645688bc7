import type { Server as HttpServer, IncomingMessage, ServerOptions as HttpServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Limits every listener holds its clients to, so that a few sockets cannot
 * hold what everyone else needs: connections, the ingest budget, memory.
 * One set of values serves the three listeners; each counts its own
 * connections against them (docs/deploy.md, "Limits and timeouts").
 */
export interface ListenerLimits {
  /** Connections open at once on one listener; past it, new ones are refused. 0: no cap. */
  maxConnections: number;
  /** Connections open at once from one peer address on one listener. 0: no cap. */
  maxConnectionsPerPeer: number;
  /**
   * The request line and headers must have arrived this long after the
   * request began, or after connecting (HTTP: 408, then closed).
   */
  headersTimeoutMs: number;
  /**
   * The whole request, body included, must have arrived this long after it
   * began (HTTP: 408; gRPC: DEADLINE_EXCEEDED). Bounds a body trickled just
   * fast enough never to stall.
   */
  requestTimeoutMs: number;
  /**
   * A request, body included, that sends nothing for this long is
   * aborted; so is an answer the client does not read. Time spent working
   * on a request that is fully in does not count.
   */
  idleTimeoutMs: number;
  /** An HTTP connection waits this long for its next request; a gRPC connection this long without a call. */
  keepAliveTimeoutMs: number;
}

/** The defaults of the `serve` flags (src/config), for servers made without them. */
export const DEFAULT_LISTENER_LIMITS: ListenerLimits = {
  maxConnections: 1024,
  maxConnectionsPerPeer: 256,
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
};

/** What a listener refused or closed, since start; served in /api/sightline/status. */
export interface ListenerCounters {
  /** Connections open now. */
  open: number;
  accepted: number;
  /** Refused because the listener had maxConnections open. */
  refusedListenerFull: number;
  /** Refused because their peer address had maxConnectionsPerPeer open. */
  refusedPeerFull: number;
  /** Closed because the headers (or, over TLS, the handshake) did not arrive within headersTimeout. */
  headersTimedOut: number;
  /** Requests that did not arrive whole within requestTimeout: HTTP 408 and closed, gRPC calls ended. */
  requestsTimedOut: number;
  /** Closed mid-request after idleTimeout without a byte: a stalled body, or an answer not being read. */
  stalledClosed: number;
  /** Closed for sending nothing: keepAliveTimeout between requests, idleTimeout before the first. */
  idleClosed: number;
  /** Request body bytes received and then thrown away because the body never arrived whole or was refused part way. */
  droppedBodyBytes: number;
}

/** Why a connection was refused. */
export type Refusal = 'listener-full' | 'peer-full';

const MIN_CHECK_INTERVAL_MS = 100;
const MAX_CHECK_INTERVAL_MS = 30_000;

/**
 * The limits of one listener and what they caught. Attach it to a node
 * http(s) server with {@link guardHttp}; a listener that accepts sockets
 * itself (gRPC) calls {@link admit}.
 */
export class ListenerGuard {
  readonly counters: ListenerCounters = {
    open: 0,
    accepted: 0,
    refusedListenerFull: 0,
    refusedPeerFull: 0,
    headersTimedOut: 0,
    requestsTimedOut: 0,
    stalledClosed: 0,
    idleClosed: 0,
    droppedBodyBytes: 0,
  };
  private readonly perPeer = new Map<string, number>();

  constructor(readonly limits: ListenerLimits) {}

  /**
   * Counts a new connection in, or says why it must be refused (and counts
   * the refusal). An admitted connection is counted out when it closes.
   */
  admit(socket: Socket): Refusal | null {
    const { maxConnections, maxConnectionsPerPeer } = this.limits;
    if (maxConnections > 0 && this.counters.open >= maxConnections) {
      this.counters.refusedListenerFull++;
      return 'listener-full';
    }
    const peer = peerKey(socket.remoteAddress);
    const fromPeer = this.perPeer.get(peer) ?? 0;
    if (maxConnectionsPerPeer > 0 && fromPeer >= maxConnectionsPerPeer) {
      this.counters.refusedPeerFull++;
      return 'peer-full';
    }
    this.perPeer.set(peer, fromPeer + 1);
    this.counters.open++;
    this.counters.accepted++;
    socket.once('close', () => {
      this.counters.open--;
      const n = (this.perPeer.get(peer) ?? 1) - 1;
      if (n <= 0) this.perPeer.delete(peer);
      else this.perPeer.set(peer, n);
    });
    return null;
  }

  /**
   * Options for a node http(s) server. Node checks the header and request
   * deadlines on a timer (every 30 s by default), which would let a
   * slowloris socket outlive a short deadline by that much; check at a
   * tenth of the shorter one instead.
   */
  httpServerOptions(): Pick<HttpServerOptions, 'headersTimeout' | 'requestTimeout' | 'keepAliveTimeout' | 'connectionsCheckingInterval'> & { handshakeTimeout: number } {
    const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs } = this.limits;
    return {
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(MAX_CHECK_INTERVAL_MS, Math.max(MIN_CHECK_INTERVAL_MS, Math.floor(Math.min(headersTimeoutMs, requestTimeoutMs) / 10))),
      // A TLS handshake is part of getting the headers in.
      handshakeTimeout: headersTimeoutMs,
    };
  }

  /**
   * The Fastify constructor options that carry these limits: Fastify sets
   * its own keep-alive and request timeouts on the server it makes, so they
   * must agree with the node options, which it passes on (`http`, or mixed
   * into `https`).
   */
  fastifyOptions(bodyLimit: number, https?: object): FastifyListenerOptions {
    const { handshakeTimeout, ...plain } = this.httpServerOptions();
    return {
      bodyLimit,
      connectionTimeout: this.limits.idleTimeoutMs,
      keepAliveTimeout: this.limits.keepAliveTimeoutMs,
      requestTimeout: this.limits.requestTimeoutMs,
      ...(https ? { https: { ...https, ...plain, handshakeTimeout } } : { http: plain }),
    };
  }

  /**
   * Holds a node http(s) server to these limits: refuses connections past
   * the caps (plain HTTP gets a 503 with Retry-After; TLS is closed before
   * any handshake is spent on it), closes stalled and idle connections, and
   * counts what it refused and closed. Call before the server listens, after
   * it was made with {@link httpServerOptions} (or {@link fastifyOptions}).
   */
  guardHttp(server: HttpServer, opts: { tls: boolean }): void {
    // The server's own connection handling (the http parser, or the TLS
    // layer in front of it) runs only for admitted sockets.
    const inner = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => {
      const refusal = this.admit(socket);
      if (refusal === null) for (const listener of inner) listener.call(server, socket);
      else if (opts.tls) socket.destroy();
      else refuseHttp(socket, refusal);
    });

    const inFlight = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const socket = req.socket;
      inFlight.set(socket, { req, res });
      res.once('close', () => {
        if (inFlight.get(socket)?.res === res) inFlight.delete(socket);
      });
    });

    // Socket inactivity (idleTimeoutMs while a request is open; Node uses
    // keepAliveTimeoutMs between requests). With a listener here Node
    // leaves the socket to us.
    server.timeout = this.limits.idleTimeoutMs;
    server.on('timeout', (socket: Socket) => {
      const current = inFlight.get(socket);
      if (current && current.req.complete && !current.res.headersSent) {
        // The request is in and the answer is being worked on (a query, a
        // WAL sync): that is our time, not a stalled client. The query's own
        // deadline bounds it.
        socket.setTimeout(this.limits.idleTimeoutMs);
        return;
      }
      if (current) this.counters.stalledClosed++;
      else this.counters.idleClosed++;
      socket.destroy();
    });

    // Node answers these 408 and closes (through Fastify's clientError
    // handler, which stays in charge of the reply); here they are counted.
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code !== 'ERR_HTTP_REQUEST_TIMEOUT') return;
      if (inFlight.has(socket)) this.counters.requestsTimedOut++;
      else this.counters.headersTimedOut++;
    });
    if (opts.tls) {
      server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.counters.headersTimedOut++;
      });
    }
  }

  /** Counts body bytes that were received and then thrown away. */
  dropped(bytes: number): void {
    this.counters.droppedBodyBytes += bytes;
  }

  stats(): ListenerCounters {
    return { ...this.counters };
  }
}

export interface FastifyListenerOptions {
  bodyLimit: number;
  connectionTimeout: number;
  keepAliveTimeout: number;
  requestTimeout: number;
  http?: HttpServerOptions;
  https?: object;
}

/** IPv4 peers on a dual-stack socket look like ::ffff:10.0.0.1; count them as 10.0.0.1. */
function peerKey(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * A plain-HTTP refusal the client can act on: 503 with Retry-After, then
 * the connection is closed. Whatever the client sends is read and dropped,
 * never parsed or handled.
 */
function refuseHttp(socket: Socket, why: Refusal): void {
  const body = why === 'peer-full' ? 'too many connections from this address; retry later\n' : 'too many connections; retry later\n';
  socket.on('error', () => {});
  socket.resume();
  socket.end(`HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  // A client that never closes its side is not waited for.
  setTimeout(() => socket.destroy(), 1000).unref();
}

/**
 * A plain-text HTTP/2 refusal: the server preface (an empty SETTINGS frame)
 * and a GOAWAY with ENHANCE_YOUR_CALM and a reason, so a gRPC client sees a
 * transient failure and backs off, then the connection is closed.
 */
export function refuseHttp2(socket: Socket, why: Refusal): void {
  const reason = Buffer.from(why === 'peer-full' ? 'too many connections from this address' : 'too many connections');
  const settings = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
  const goaway = Buffer.alloc(9 + 8 + reason.length);
  goaway.writeUIntBE(8 + reason.length, 0, 3);
  goaway[3] = 0x7; // GOAWAY
  goaway.writeUInt32BE(0, 5); // stream 0
  goaway.writeUInt32BE(0, 9); // last stream id: none was processed
  goaway.writeUInt32BE(0xb, 13); // ENHANCE_YOUR_CALM
  reason.copy(goaway, 17);
  socket.on('error', () => {});
  socket.resume();
  socket.end(Buffer.concat([settings, goaway]));
  setTimeout(() => socket.destroy(), 1000).unref();
}
