import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';

/**
 * TLS for the three listeners: the server certificate and key (--tls-cert,
 * --tls-key), optionally a CA whose client certificates the OTLP listeners
 * require (--tls-client-ca). Files are read and checked at start (a bad one
 * is a one-line startup error) and again on SIGHUP: a set that checks out
 * replaces the old one on every listener without closing them; one that
 * does not is logged and the old one stays. Key material is never logged.
 */

export interface TlsConfig {
  certFile: string;
  keyFile: string;
  /** CA bundle; with it the OTLP listeners require a client certificate it signed. */
  clientCaFile?: string;
}

/** A certificate, key or CA file that cannot be used: one line, naming the flag and file. */
export class TlsError extends Error {
  override readonly name = 'TlsError';
}

/** What can be said about a certificate in a log: public parts only. */
export interface CertificateSummary {
  subject: string;
  issuer: string;
  serial: string;
  subjectAltName: string;
  validFrom: string;
  validTo: string;
  fingerprint256: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  clientCa?: Buffer;
  certificate: CertificateSummary;
  /** Subjects of the client CA certificates. */
  clientCaSubjects?: string[];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function oneLine(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'no such file';
  if (err.code === 'EACCES') return 'permission denied';
  if (err.code === 'EISDIR') return 'is a directory';
  return String(err.message ?? e).split('\n')[0].replace(/^error:[0-9A-F]+:[^:]*:+/i, '');
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new TlsError(`${flag} ${file}: cannot be read (${oneLine(e)})`);
  }
}

function summary(c: X509Certificate): CertificateSummary {
  return {
    subject: c.subject.replace(/\n/g, ', '),
    issuer: c.issuer.replace(/\n/g, ', '),
    serial: c.serialNumber,
    subjectAltName: c.subjectAltName ?? '',
    validFrom: new Date(c.validFrom).toISOString(),
    validTo: new Date(c.validTo).toISOString(),
    fingerprint256: c.fingerprint256,
  };
}

/** Reads and checks the certificate, key and client CA; throws TlsError. */
export function loadTlsMaterial(config: TlsConfig): TlsMaterial {
  const cert = readPem(config.certFile, '--tls-cert');
  const key = readPem(config.keyFile, '--tls-key');
  const certs = cert.toString('latin1').match(PEM_CERT) ?? [];
  if (certs.length === 0) throw new TlsError(`--tls-cert ${config.certFile}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certs[0]!);
    // The rest of the chain must parse too: a client would fail on it later.
    for (const c of certs.slice(1)) new X509Certificate(c);
  } catch (e) {
    throw new TlsError(`--tls-cert ${config.certFile}: not a valid certificate (${oneLine(e)})`);
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString('latin1')))
    throw new TlsError(`--tls-key ${config.keyFile}: no PEM private key in the file`);
  if (/ENCRYPTED/.test(key.toString('latin1'))) throw new TlsError(`--tls-key ${config.keyFile}: the key is encrypted; give an unencrypted key (readable by Sightline only)`);
  let clientCa: Buffer | undefined;
  let clientCaSubjects: string[] | undefined;
  if (config.clientCaFile) {
    clientCa = readPem(config.clientCaFile, '--tls-client-ca');
    const cas = clientCa.toString('latin1').match(PEM_CERT) ?? [];
    if (cas.length === 0) throw new TlsError(`--tls-client-ca ${config.clientCaFile}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file`);
    try {
      clientCaSubjects = cas.map((c) => new X509Certificate(c).subject.replace(/\n/g, ', '));
    } catch (e) {
      throw new TlsError(`--tls-client-ca ${config.clientCaFile}: not a valid certificate (${oneLine(e)})`);
    }
  }
  try {
    // What every listener will be given: refuse here what they would refuse.
    tls.createSecureContext({ cert, key, ca: clientCa });
  } catch (e) {
    const reason = oneLine(e);
    if (/key values mismatch/i.test(reason)) throw new TlsError(`--tls-key ${config.keyFile}: the key does not belong to the certificate in --tls-cert ${config.certFile}`);
    throw new TlsError(`--tls-cert ${config.certFile} / --tls-key ${config.keyFile}: ${reason}`);
  }
  return { cert, key, clientCa, certificate: summary(leaf), clientCaSubjects };
}

/**
 * The current TLS material, and who to tell when SIGHUP replaces it.
 */
export class TlsReloader {
  private readonly listeners: ((m: TlsMaterial) => void)[] = [];

  constructor(
    readonly config: TlsConfig,
    private material: TlsMaterial,
    private readonly log: Logger,
  ) {
    this.logLoaded('TLS certificate loaded', material, 'info');
  }

  get current(): TlsMaterial {
    return this.material;
  }

  /** `fn` is called with each new set of material (after it has been checked). */
  onReload(fn: (m: TlsMaterial) => void): void {
    this.listeners.push(fn);
  }

  /** Reads the files again; true when the new material is in use, false when the old one stays. */
  reload(): boolean {
    let next: TlsMaterial;
    try {
      next = loadTlsMaterial(this.config);
    } catch (e) {
      this.log.error({ reason: (e as Error).message, serial: this.material.certificate.serial }, 'TLS reload failed: the current certificate stays in use');
      return false;
    }
    let failed = false;
    for (const fn of this.listeners) {
      try {
        fn(next);
      } catch (e) {
        failed = true;
        this.log.error({ reason: oneLine(e) }, 'TLS reload: a listener refused the new certificate and keeps the old one');
      }
    }
    this.material = next;
    this.logLoaded(failed ? 'TLS certificate reloaded on some listeners' : 'TLS certificate reloaded', next, failed ? 'warn' : 'info');
    return !failed;
  }

  private logLoaded(msg: string, m: TlsMaterial, level: 'info' | 'warn'): void {
    const c = m.certificate;
    this.log[level]({ certFile: this.config.certFile, subject: c.subject, subjectAltName: c.subjectAltName, serial: c.serial, validTo: c.validTo, fingerprint256: c.fingerprint256, clientCa: m.clientCaSubjects }, msg);
    const now = Date.now();
    if (Date.parse(c.validTo) < now) this.log.warn({ validTo: c.validTo }, 'the TLS certificate has expired: clients will refuse it');
    else if (Date.parse(c.validFrom) > now) this.log.warn({ validFrom: c.validFrom }, 'the TLS certificate is not valid yet: clients will refuse it');
  }
}

/** Options for https.createServer (fastify's `https`); `clientCerts` asks for and requires a client certificate signed by the client CA. */
export function httpsServerOptions(m: TlsMaterial, clientCerts: boolean): HttpsServerOptions {
  return clientCerts && m.clientCa ? { cert: m.cert, key: m.key, ca: m.clientCa, requestCert: true, rejectUnauthorized: true } : { cert: m.cert, key: m.key };
}

/**
 * Keeps an https server's certificate current: `setSecureContext` swaps the
 * context for new connections; open ones keep theirs.
 */
export function reloadHttpsServer(reloader: TlsReloader, server: unknown, clientCerts: boolean): void {
  const s = server as tls.Server;
  reloader.onReload((m) => s.setSecureContext(clientCerts && m.clientCa ? { cert: m.cert, key: m.key, ca: m.clientCa } : { cert: m.cert, key: m.key }));
}

/**
 * A grpc-js certificate provider fed by the reloader. grpc-js applies each
 * update with `setSecureContext` on its http2 server, so the port stays
 * bound. Its own FileWatcherCertificateProvider is not used: it polls, and a
 * file it cannot read, or a key that does not match, makes the server drop
 * every new connection until the next good read; here nothing reaches
 * grpc-js that `loadTlsMaterial` has not checked.
 */
class ReloadingCertificateProvider implements grpc.experimental.CertificateProvider {
  private readonly identityListeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();
  private readonly caListeners = new Set<grpc.experimental.CaCertificateUpdateListener>();

  constructor(private material: TlsMaterial) {}

  update(m: TlsMaterial): void {
    this.material = m;
    for (const l of this.identityListeners) l(this.identity());
    for (const l of this.caListeners) l(this.ca());
  }

  private identity(): grpc.experimental.IdentityCertificateUpdate {
    return { certificate: this.material.cert, privateKey: this.material.key };
  }

  private ca(): grpc.experimental.CaCertificateUpdate | null {
    return this.material.clientCa ? { caCertificate: this.material.clientCa } : null;
  }

  // Like grpc-js's own providers, the first update comes on the next tick,
  // once grpc-js has registered the watcher that applies it.
  addIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(l);
    process.nextTick(() => this.identityListeners.has(l) && l(this.identity()));
  }

  removeIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(l);
  }

  addCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(l);
    process.nextTick(() => this.caListeners.has(l) && l(this.ca()));
  }

  removeCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(l);
  }
}

/** Server credentials for the OTLP/gRPC listener that follow reloads; with a client CA, a client certificate it signed is required. */
export function grpcServerCredentials(reloader: TlsReloader): grpc.ServerCredentials {
  const provider = new ReloadingCertificateProvider(reloader.current);
  reloader.onReload((m) => provider.update(m));
  const clientCerts = reloader.current.clientCa !== undefined;
  // grpc-js 1.14 names the first parameter caCertificateProvider but passes
  // it on as the identity (server certificate) provider, and the second as
  // the CA provider (server-credentials.js): identity first, CA second.
  return grpc.experimental.createCertificateProviderServerCredentials(provider, clientCerts ? provider : null, clientCerts);
}
