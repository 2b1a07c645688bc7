/**
 * Fetches from Sightline's query API on the same origin. Errors keep the
 * status and the server's text, because the editor places TraceQL errors
 * from the text's "line L, col C".
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly url: string,
  ) {
    super(status === 0 ? body : `${status}: ${body.trim() || 'request failed'}`);
  }
}

/** The tenant named in X-Scope-OrgID on every call (the user menu's choice); none: the server decides. */
let scopeOrgId: string | undefined;
/** Told when a call answers 401 (the login session ended or never was). */
let onUnauthorizedListener: (() => void) | undefined;

export function setApiTenant(tenant: string | undefined): void {
  scopeOrgId = tenant;
}

export function onUnauthorized(listener: () => void): () => void {
  onUnauthorizedListener = listener;
  return () => {
    if (onUnauthorizedListener === listener) onUnauthorizedListener = undefined;
  };
}

/** `tenant` names the X-Scope-OrgID of this call instead of the user menu's choice (the audit trail reads every tenant the admin holds). */
export async function getJson<T>(url: string, signal?: AbortSignal, opts: { tenant?: string } = {}): Promise<T> {
  let response: Response;
  try {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const tenant = opts.tenant ?? scopeOrgId;
    if (tenant) headers['X-Scope-OrgID'] = tenant;
    response = await fetch(url, { signal, headers });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, `Sightline is not reachable (${(e as Error).message})`, url);
  }
  if (response.status === 401) onUnauthorizedListener?.();
  if (!response.ok) throw new ApiError(response.status, await response.text(), url);
  return (await response.json()) as T;
}

export function query(params: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export function isAbort(e: unknown): boolean {
  return (e as Error)?.name === 'AbortError';
}
