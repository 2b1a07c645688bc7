import http from 'node:http';
import net from 'node:net';
import type { FileGrantRule, FileTailnet } from '../config/file.js';
import type { Credentials, IdentitySource } from './authenticator.js';
import { grantsOf, type Grant, type Identity } from './identity.js';
import { AuthSetupError } from './setup.js';

/**
 * Tailnet identities: who a caller is, as Tailscale (or Headscale) knows it.
 *
 * Two ways, both mapped to grants by the `tailnet:` section of the config:
 *
 * - `tailscale serve` in front of Sightline. tailscaled proxies each request
 *   to a local port and, for a tailnet *user* (not a tagged node, not a
 *   Funnel request), sets Tailscale-User-Login / -Name / -Profile-Pic after
 *   deleting any the client sent (ipn/ipnlocal/serve.go,
 *   addTailscaleIdentityHeaders). Those headers are only as trustworthy as
 *   the TCP peer that carries them, so they count only from the configured
 *   `trustedProxies`, and never from a connection tailscaled itself reports
 *   as a tailnet peer's (see TailscaleServeSource).
 *
 * - Direct connections from tailnet addresses: tailscaled's LocalAPI says
 *   who the peer is (GET /localapi/v0/whois?addr=ip:port over its unix
 *   socket, Host local-tailscaled.sock; answer apitype.WhoIsResponse
 *   {Node: tailcfg.Node, UserProfile: tailcfg.UserProfile, CapMap}, 404
 *   "no match for IP:port" for an unknown peer; ipn/localapi/localapi.go).
 *   A tagged node is its tags (its UserProfile is the placeholder
 *   "tagged-devices" on Tailscale and recent Headscale, the registering user
 *   on older Headscale: either way not who the node acts as); a user's node
 *   is its UserProfile.LoginName (Headscale: the user's email, else its name).
 */

/** Where tailscaled listens for LocalAPI calls on Linux. */
export const DEFAULT_LOCALAPI_SOCKET = '/var/run/tailscale/tailscaled.sock';
/** Tailscale's address ranges: the CGNAT block its IPv4s come from, and its ULA prefix. */
export const TAILNET_RANGES: readonly string[] = ['100.64.0.0/10', 'fd7a:115c:a1e0::/48'];
/** The Host header tailscaled requires on LocalAPI calls (apitype.LocalAPIHost). */
const LOCALAPI_HOST = 'local-tailscaled.sock';

/** What a tailnet identity carries besides its grants (for logs and the UI). */
export interface TailnetIdentity extends Identity {
  source: 'tailnet-user' | 'tailnet-node';
  /** Tailscale-User-Name or UserProfile.DisplayName, for display only. */
  displayName?: string;
  /** The node's MagicDNS name, without the trailing dot (whois only). */
  node?: string;
  /** The node's ACL tags (whois only). */
  tags?: readonly string[];
}

/** Where tailnet sources report trouble (a pino logger fits). */
export interface TailnetLog {
  warn(obj: object, msg: string): void;
}

// ---------------------------------------------------------------------------
// Addresses

/**
 * An IP address in one canonical form, or null: IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`, as a dual-stack socket reports IPv4 peers) becomes the
 * IPv4 address; IPv6 is lower-case and compressed. Zone ids are refused.
 */
export function canonicalIp(address: string | undefined): string | null {
  if (!address || address.length > 64) return null;
  if (net.isIPv4(address)) return address;
  if (!net.isIPv6(address) || address.includes('%')) return null;
  let host: string;
  try {
    host = new URL(`http://[${address}]/`).hostname; // WHATWG serialisation: lower-case, compressed, mapped IPv4 as hex
  } catch {
    return null;
  }
  const v6 = host.slice(1, -1);
  if (v6.startsWith('::ffff:')) {
    const rest = v6.slice(7);
    if (net.isIPv4(rest)) return rest;
    const groups = rest.split(':');
    if (groups.length === 2 && groups.every((g) => g.length >= 1 && g.length <= 4)) {
      const hi = parseInt(groups[0], 16);
      const lo = parseInt(groups[1], 16);
      return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    }
  }
  return v6;
}

/** A set of CIDR blocks (IPv4 and IPv6), checked against canonical addresses. */
export class CidrSet {
  private readonly list = new net.BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[], what: string) {
    for (const c of cidrs) {
      const problem = cidrProblem(c);
      if (problem) throw new AuthSetupError(`${what}: ${JSON.stringify(c)} is not an address block: ${problem} (e.g. 100.64.0.0/10, fd7a:115c:a1e0::/48)`);
      const slash = c.indexOf('/');
      const ip = canonicalIp(slash < 0 ? c : c.slice(0, slash))!;
      const type = net.isIPv4(ip) ? 'ipv4' : 'ipv6';
      const bits = slash < 0 ? (type === 'ipv4' ? 32 : 128) : Number(c.slice(slash + 1));
      this.list.addSubnet(ip, bits, type);
    }
    this.size = cidrs.length;
  }

  has(canonical: string): boolean {
    return this.list.check(canonical, net.isIPv4(canonical) ? 'ipv4' : 'ipv6');
  }
}

/** Why `cidr` is not `address` or `address/bits`, or null. */
export function cidrProblem(cidr: string): string | null {
  if (cidr.length > 64) return 'too long';
  const slash = cidr.indexOf('/');
  const ip = canonicalIp(slash < 0 ? cidr : cidr.slice(0, slash));
  if (!ip) return 'not an IPv4 or IPv6 address';
  if (slash < 0) return null;
  const bitsText = cidr.slice(slash + 1);
  const max = net.isIPv4(ip) ? 32 : 128;
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) return `the prefix length must be 0 to ${max}`;
  return null;
}

// ---------------------------------------------------------------------------
// Grants

/** Name -> grant rule, without the prototype keys an object literal would match ("constructor"...). */
function ruleMap(rules: Record<string, FileGrantRule>): Map<string, Grant[]> {
  return new Map(Object.entries(rules).map(([k, r]) => [k, grantsOf(r.roles, r.tenants)]));
}

/** The union of grants, without duplicates. */
function union(lists: readonly (readonly Grant[])[]): Grant[] {
  const seen = new Map<string, Grant>();
  for (const list of lists) for (const g of list) seen.set(`${g.role}\u0000${g.tenant}`, g);
  return [...seen.values()];
}

// ---------------------------------------------------------------------------
// tailscale serve

/** Longest identity header value taken (an email is at most 254; names are short). */
const MAX_HEADER = 512;

/**
 * A Tailscale-User-* header value as tailscaled writes it: plain when ASCII,
 * else RFC 2047 Q-encoded words (`=?utf-8?q?...?=`, several separated by
 * spaces when long; mime.QEncoding in encTailscaleHeaderValue). Returns
 * null for anything else: too long, several values, control characters, a
 * malformed encoding. A linear scan; no regular expressions.
 */
export function decodeTailscaleHeader(value: string | string[] | undefined): string | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_HEADER) return null;
  let out: string;
  if (value.startsWith('=?')) {
    const bytes: number[] = [];
    for (const word of value.split(' ')) {
      if (word === '') continue;
      const lower = word.toLowerCase();
      if (!lower.startsWith('=?utf-8?q?') || !word.endsWith('?=') || word.length < 12) return null;
      const text = word.slice(10, -2);
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 0x5f /* _ */) bytes.push(0x20);
        else if (c === 0x3d /* = */) {
          const hex = text.slice(i + 1, i + 3);
          if (hex.length !== 2 || !isHex(hex.charCodeAt(0)) || !isHex(hex.charCodeAt(1))) return null;
          bytes.push(parseInt(hex, 16));
          i += 2;
        } else if (c > 0x20 && c < 0x7f && c !== 0x3f /* ? */) bytes.push(c);
        else return null;
      }
    }
    try {
      out = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
    } catch {
      return null;
    }
  } else out = value;
  out = out.trim();
  if (out === '') return null;
  for (let i = 0; i < out.length; i++) {
    const c = out.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return null;
  }
  return out;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Whether a connection is a tailnet peer's, as tailscaled says: for a proxy address, to tell serve's own connections from forwarded ones. */
export type FlowCheck = (ip: string, port: number | undefined) => Promise<'peer' | 'not-peer' | 'unknown'>;

/**
 * People behind `tailscale serve`: Tailscale-User-Login, from a trusted
 * proxy only, mapped by the `users` rules. From any other peer the header
 * is ignored; a login without a rule is nobody (401), as is a Funnel
 * request (Tailscale-Funnel-Request: serve sends no identity for those).
 *
 * With userspace networking (`tailscaled --tun=userspace-networking`, usual
 * in containers), tailscaled also forwards *direct* tailnet connections to
 * loopback, from the same 127.0.0.1 as serve's: a peer reaching the port
 * directly could then send its own Tailscale-User-Login. When a LocalAPI
 * whois is configured for the proxy's address, each such request is
 * checked: a connection tailscaled reports as a tailnet peer's is not
 * serve's, and its headers are ignored (the whois source names the peer);
 * if tailscaled cannot answer, nobody.
 */
export class TailscaleServeSource implements IdentitySource {
  private readonly proxies: ReadonlySet<string>;
  private readonly users: Map<string, Grant[]>;

  constructor(
    config: Pick<FileTailnet, 'trustedProxies' | 'users'>,
    private readonly flowCheck?: FlowCheck,
  ) {
    const proxies = new Set<string>();
    for (const p of config.trustedProxies) {
      const ip = canonicalIp(p);
      if (!ip) throw new AuthSetupError(`tailnet.trustedProxies: ${JSON.stringify(p)} is not an IP address (the address tailscale serve connects from, usually 127.0.0.1 or ::1)`);
      proxies.add(ip);
    }
    this.proxies = proxies;
    this.users = ruleMap(config.users);
  }

  async identify(c: Credentials): Promise<TailnetIdentity | null> {
    const peer = canonicalIp(c.remoteAddress);
    if (!peer || !this.proxies.has(peer)) return null;
    if (c.headers['tailscale-funnel-request'] !== undefined) return null;
    const login = decodeTailscaleHeader(c.headers['tailscale-user-login']);
    if (login === null) return null;
    const grants = this.users.get(login);
    if (!grants) return null;
    if (this.flowCheck && (await this.flowCheck(peer, c.remotePort)) !== 'not-peer') return null;
    const displayName = decodeTailscaleHeader(c.headers['tailscale-user-name']) ?? undefined;
    return { source: 'tailnet-user', name: login, grants, ...(displayName ? { displayName } : {}) };
  }
}

// ---------------------------------------------------------------------------
// LocalAPI whois

/** The parts of apitype.WhoIsResponse that name a peer. */
export interface WhoIsAnswer {
  /** Node.Name without its trailing dot (falls back to ComputedName). */
  node: string;
  /** Node.Tags; empty for a user's node. */
  tags: string[];
  /** UserProfile.LoginName. */
  login: string;
  /** UserProfile.DisplayName. */
  displayName: string;
}

/** Answers larger than this are not whois answers (they are a few KB). */
const MAX_ANSWER_BYTES = 1 << 20;

/** Reads a WhoIsResponse, or null when it does not have the documented shape. */
export function parseWhoIs(body: string): WhoIsAnswer | null {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return null;
  }
  if (!isObject(v) || !isObject(v.Node) || !isObject(v.UserProfile)) return null;
  const n = v.Node;
  const u = v.UserProfile;
  const tags = n.Tags ?? [];
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) return null;
  const name = typeof n.Name === 'string' && n.Name !== '' ? n.Name : typeof n.ComputedName === 'string' ? n.ComputedName : '';
  if (typeof u.LoginName !== 'string') return null;
  return {
    node: name.endsWith('.') ? name.slice(0, -1) : name,
    tags: tags as string[],
    login: u.LoginName,
    displayName: typeof u.DisplayName === 'string' ? u.DisplayName : '',
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type Lookup = { kind: 'found'; answer: WhoIsAnswer } | { kind: 'unknown-peer' } | { kind: 'error'; error: string };

export interface WhoisOptions {
  /** How long a LocalAPI call may take in all (default 1s). */
  timeoutMs?: number;
  /** How long an answer for a tailnet address is kept (default 15s). */
  cacheTtlMs?: number;
  /**
   * How long an answer for another address (a userspace-networking
   * tailscaled's loopback forward, keyed by ip:port) is kept (default 1s:
   * the identity belongs to one connection, and ports are reused).
   */
  connectionCacheTtlMs?: number;
  /** Most answers kept (default 4096); the oldest go first. */
  cacheMax?: number;
  /** Least time between two "tailscaled unreachable" log lines (default 60s). */
  logEveryMs?: number;
  log?: TailnetLog;
  now?: () => number;
  /** The LocalAPI call itself (tests); default: HTTP over the unix socket. */
  fetchWhois?: (addr: string) => Promise<{ status: number; body: string }>;
}

/**
 * Machines and people connecting directly over the tailnet: for a peer in
 * `peers` (default the Tailscale ranges), tailscaled's LocalAPI says which
 * node it is; tags map by the `tags` rules, a user's node by its login and
 * the `users` rules. Answers are kept briefly (bounded), lookups for one
 * peer share one call, and if tailscaled cannot be asked the caller is
 * nobody (401), logged at most once a minute.
 */
export class LocalApiWhoisSource implements IdentitySource {
  readonly socketPath: string;
  private readonly peers: CidrSet;
  private readonly tailnetRanges = new CidrSet(TAILNET_RANGES, 'tailnet ranges');
  private readonly tags: Map<string, Grant[]>;
  private readonly users: Map<string, Grant[]>;
  private readonly cache = new Map<string, { at: number; ttl: number; result: Lookup }>();
  private readonly inflight = new Map<string, Promise<Lookup>>();
  private readonly agent = new http.Agent({ keepAlive: false, maxSockets: 32 });
  private readonly timeoutMs: number;
  private readonly ttlMs: number;
  private readonly connectionTtlMs: number;
  private readonly cacheMax: number;
  private readonly logEveryMs: number;
  private readonly now: () => number;
  private lastLogged = -Infinity;
  private suppressed = 0;

  constructor(
    config: Pick<FileTailnet, 'localApiSocket' | 'tags' | 'users' | 'peers'>,
    private readonly opts: WhoisOptions = {},
  ) {
    this.socketPath = config.localApiSocket ?? DEFAULT_LOCALAPI_SOCKET;
    this.peers = new CidrSet(config.peers ?? TAILNET_RANGES, 'tailnet.peers');
    this.tags = ruleMap(config.tags);
    this.users = ruleMap(config.users);
    this.timeoutMs = opts.timeoutMs ?? 1000;
    this.ttlMs = opts.cacheTtlMs ?? 15_000;
    this.connectionTtlMs = Math.min(opts.connectionCacheTtlMs ?? 1000, this.ttlMs);
    this.cacheMax = Math.max(1, opts.cacheMax ?? 4096);
    this.logEveryMs = opts.logEveryMs ?? 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** Whether `ip` (canonical) is asked about at all. */
  covers(ip: string): boolean {
    return this.peers.has(ip);
  }

  async identify(c: Credentials): Promise<TailnetIdentity | null> {
    const ip = canonicalIp(c.remoteAddress);
    if (!ip || !this.peers.has(ip)) return null;
    const r = await this.lookup(ip, c.remotePort);
    return r.kind === 'found' ? this.identityOf(r.answer) : null;
  }

  /** For TailscaleServeSource: is this connection a tailnet peer's (a forward), or not (serve's own)? */
  readonly flowCheck: FlowCheck = async (ip, port) => {
    if (!this.peers.has(ip)) return 'not-peer';
    const r = await this.lookup(ip, port);
    return r.kind === 'found' ? 'peer' : r.kind === 'unknown-peer' ? 'not-peer' : 'unknown';
  };

  /** The identity of a whois answer under the rules, or null (no rule matches). */
  identityOf(a: WhoIsAnswer): TailnetIdentity | null {
    if (a.tags.length > 0) {
      // A tagged node is its tags; its UserProfile is not who it acts as.
      const grants = union(a.tags.map((t) => this.tags.get(t) ?? []));
      if (grants.length === 0) return null;
      return { source: 'tailnet-node', name: a.node || a.tags.join(','), grants, node: a.node, tags: a.tags };
    }
    const grants = a.login ? this.users.get(a.login) : undefined;
    if (!grants) return null;
    return { source: 'tailnet-user', name: a.login, grants, node: a.node, ...(a.displayName ? { displayName: a.displayName } : {}) };
  }

  private async lookup(ip: string, port: number | undefined): Promise<Lookup> {
    // A Tailscale address is one node (WireGuard's cryptokey routing vouches
    // for the source address); any other address is a forwarded connection,
    // whose identity is that connection's.
    const byAddress = this.tailnetRanges.has(ip);
    if (!byAddress && (port === undefined || !Number.isInteger(port) || port <= 0 || port > 65535)) return { kind: 'unknown-peer' };
    const key = byAddress ? ip : `${ip}|${port}`;
    const now = this.now();
    const hit = this.cache.get(key);
    if (hit && now - hit.at < hit.ttl) return hit.result;
    if (hit) this.cache.delete(key);
    let pending = this.inflight.get(key);
    if (!pending) {
      const addr = net.isIPv6(ip) ? `[${ip}]:${port ?? 0}` : `${ip}:${port ?? 0}`;
      pending = this.ask(addr).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
      void pending.then((result) => {
        if (result.kind === 'error') return; // not kept: the next request asks again
        this.remember(key, { at: this.now(), ttl: byAddress ? this.ttlMs : this.connectionTtlMs, result });
      });
    }
    return pending;
  }

  private remember(key: string, entry: { at: number; ttl: number; result: Lookup }): void {
    this.cache.delete(key);
    while (this.cache.size >= this.cacheMax) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, entry);
  }

  private async ask(addr: string): Promise<Lookup> {
    let res: { status: number; body: string };
    try {
      res = await (this.opts.fetchWhois ?? ((a) => this.callLocalApi(a)))(addr);
    } catch (e) {
      return this.failed(`tailscaled's LocalAPI at ${this.socketPath} cannot be asked: ${(e as Error).message}`);
    }
    if (res.status === 404) return { kind: 'unknown-peer' };
    if (res.status !== 200) return this.failed(`tailscaled's LocalAPI at ${this.socketPath} answered whois with HTTP ${res.status}: ${res.body.slice(0, 200).trim()}`);
    const answer = parseWhoIs(res.body);
    if (!answer) return this.failed(`tailscaled's LocalAPI at ${this.socketPath} answered whois with something that is not a WhoIsResponse`);
    return { kind: 'found', answer };
  }

  private failed(error: string): Lookup {
    const now = this.now();
    if (now - this.lastLogged >= this.logEveryMs) {
      this.opts.log?.warn({ socket: this.socketPath, error, suppressed: this.suppressed }, 'tailnet callers cannot be identified, so they are refused (401) until tailscaled answers');
      this.lastLogged = now;
      this.suppressed = 0;
    } else this.suppressed++;
    return { kind: 'error', error };
  }

  /** GET /localapi/v0/whois?addr=ip:port over the unix socket, within timeoutMs. */
  private callLocalApi(addr: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (e: Error | null, value?: { status: number; body: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (e) reject(e);
        else resolve(value!);
      };
      const req = http.request(
        {
          socketPath: this.socketPath,
          agent: this.agent,
          method: 'GET',
          path: `/localapi/v0/whois?addr=${encodeURIComponent(addr)}`,
          headers: { host: LOCALAPI_HOST },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (b: Buffer) => {
            size += b.length;
            if (size > MAX_ANSWER_BYTES) {
              settle(new Error(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`));
              req.destroy();
            } else chunks.push(b);
          });
          res.on('end', () => settle(null, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (e) => settle(e));
        },
      );
      const timer = setTimeout(() => {
        settle(new Error(`no answer within ${this.timeoutMs}ms`));
        req.destroy();
      }, this.timeoutMs);
      req.on('error', (e) => settle(e));
      // Whatever else ends the exchange early (a reset mid-answer) ends the wait too.
      req.on('close', () => settle(new Error('the connection closed before the answer was complete')));
      req.end();
    });
  }
}

// ---------------------------------------------------------------------------

/**
 * The identity sources of a `tailnet:` section: `tailscale serve` headers
 * when trustedProxies are listed, and LocalAPI whois when a socket, tags or
 * peers are configured, or when nothing else is (a tailnet section always
 * identifies someone, and never leaves Sightline open).
 */
export function tailnetSources(config: FileTailnet, opts: WhoisOptions = {}): IdentitySource[] {
  const wantsWhois = config.localApiSocket !== undefined || Object.keys(config.tags).length > 0 || config.peers !== undefined || config.trustedProxies.length === 0;
  const whois = wantsWhois ? new LocalApiWhoisSource(config, opts) : null;
  const sources: IdentitySource[] = [];
  if (config.trustedProxies.length > 0) {
    // Serve's proxies are checked against whois only where whois asks about their address.
    const serve = new TailscaleServeSource(config, whois ? whois.flowCheck : undefined);
    sources.push(serve);
  }
  if (whois) sources.push(whois);
  return sources;
}
