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

export async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, { signal, headers: { Accept: 'application/json' } });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, `Sightline is not reachable (${(e as Error).message})`, url);
  }
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
