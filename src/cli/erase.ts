import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export const ERASE_USAGE = `Usage:
  sightline erase --tenant TENANT (--trace-id ID [--trace-id ID ...] | --q TRACEQL --start TIME --end TIME) [--dry-run] [--no-wait]
                  [--url http://127.0.0.1:3200] [--token-file FILE]
      asks a running Sightline to erase whole traces of TENANT (POST /api/sightline/erasures;
      see docs/erasure.md): by trace id, or every trace a TraceQL query selects between
      --start and --end (Unix seconds or RFC 3339). With --dry-run it only counts.
      Waits until the erasure is complete (the erased values gone from disk) and
      prints it as JSON; --no-wait prints it as accepted. The token, of an admin of
      TENANT, comes from --token-file or SIGHTLINE_TOKEN, never from a flag.
      Exits 0 when complete, 1 when it failed or was refused, 2 for bad usage.
`;

interface Status {
  id: string;
  state: string;
  phase?: string;
  partsLeft?: number;
  error?: string;
}

/** `sightline erase`: a client of the erasure API, so the server drains its WAL and audits it. */
export async function eraseCommand(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    out(ERASE_USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  const traceIds: string[] = [];
  const opts: Record<string, string> = {};
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i].startsWith('--') && argv[i].includes('=') ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)] : [argv[i], undefined];
    if (name === '--dry-run' || name === '--no-wait') {
      flags.add(name);
      continue;
    }
    if (!['--tenant', '--trace-id', '--q', '--start', '--end', '--url', '--token-file'].includes(name)) {
      err(`sightline erase: unknown argument ${JSON.stringify(argv[i])}\n${ERASE_USAGE}`);
      return 2;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) {
      err(`sightline erase: ${name} needs a value\n`);
      return 2;
    }
    if (name === '--trace-id') traceIds.push(value);
    else opts[name] = value;
  }
  const usage = (msg: string) => {
    err(`sightline erase: ${msg}\n`);
    return 2;
  };
  if (!opts['--tenant']) return usage('--tenant is required');
  if ((traceIds.length > 0) === (opts['--q'] !== undefined)) return usage('give --trace-id or --q');
  const body: Record<string, unknown> = flags.has('--dry-run') ? { dryRun: true } : {};
  if (traceIds.length > 0) body.traceIds = traceIds;
  else {
    const start = seconds(opts['--start']);
    const end = seconds(opts['--end']);
    if (start === null || end === null) return usage('--q needs --start and --end, as Unix seconds or RFC 3339 times');
    Object.assign(body, { q: opts['--q'], start, end });
  }
  let token = env.SIGHTLINE_TOKEN ?? '';
  if (opts['--token-file']) {
    try {
      token = readFileSync(opts['--token-file'], 'utf8').trim();
    } catch (e) {
      err(`sightline erase: the token file cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})\n`);
      return 2;
    }
  }
  const base = (opts['--url'] ?? 'http://127.0.0.1:3200').replace(/\/+$/, '');
  const headers: Record<string, string> = { 'x-scope-orgid': opts['--tenant'], ...(token ? { authorization: `Bearer ${token}` } : {}) };

  let res = await request(`${base}/api/sightline/erasures`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) {
    err(`sightline erase: refused (${res.status}): ${res.text.trim()}\n`);
    return 1;
  }
  let status = JSON.parse(res.text) as Status;
  if (!flags.has('--no-wait')) {
    let last = '';
    while (status.state === 'pending' || status.state === 'running') {
      const line = `${status.state}${status.phase ? ` (${status.phase}, ${status.partsLeft ?? 0} parts left)` : ''}`;
      if (line !== last) err(`erasure ${status.id}: ${line}\n`);
      last = line;
      await sleep(1000);
      res = await request(`${base}/api/sightline/erasures/${encodeURIComponent(status.id)}`, { headers });
      if (!res.ok) {
        err(`sightline erase: could not follow erasure ${status.id} (${res.status}): ${res.text.trim()}\n`);
        return 1;
      }
      status = JSON.parse(res.text) as Status;
    }
  }
  out(`${JSON.stringify(status, null, 2)}\n`);
  return status.state === 'failed' ? 1 : 0;
}

async function request(url: string, init: RequestInit): Promise<{ ok: boolean; status: number; text: string }> {
  try {
    const r = await fetch(url, init);
    return { ok: r.ok, status: r.status, text: await r.text() };
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    return { ok: false, status: 0, text: `cannot reach ${new URL(url).origin} (${cause})` };
  }
}

/** Unix seconds, or an RFC 3339 time, as Unix seconds. */
function seconds(v: string | undefined): number | null {
  if (v === undefined) return null;
  if (/^\d+$/.test(v)) return Number(v);
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}
