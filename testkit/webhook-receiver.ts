import http from 'node:http';

/** One notification as a webhook receiver got it. */
export interface Received {
  /** The request path: which receiver of the SLO file it was sent to. */
  path: string;
  /** The Idempotency-Key header. */
  key: string;
  body: Record<string, unknown>;
  /** The status code answered. */
  answered: number;
  atMs: number;
}

export interface WebhookReceiver {
  /** http://127.0.0.1:<port>; receivers in an SLO file append a path. */
  url: string;
  got: Received[];
  /** Answers 503 while set. */
  failing: boolean;
  close(): Promise<void>;
}

/**
 * An Alertmanager- or Slack-style webhook receiver on loopback, recording
 * every POST (SLO notifications, docs/slo.md): answers 200, or 503 while
 * `failing`.
 */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const state: WebhookReceiver = { got: [], failing: false, url: '', close: async () => {} };
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString('utf8')));
    req.on('end', () => {
      const answered = state.failing ? 503 : 200;
      state.got.push({ path: req.url ?? '', key: String(req.headers['idempotency-key'] ?? ''), body: JSON.parse(data) as Record<string, unknown>, answered, atMs: Date.now() });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

/** An Alertmanager webhook notice's one alert. */
export interface AlertmanagerAlert {
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  fingerprint: string;
  generatorURL: string;
}

/** Whether a notice (Alertmanager JSON or a Slack message) is about SLO `slo`, and its status. */
export function noticeOf(r: Received): { slo: string; status: 'firing' | 'resolved' } | undefined {
  if (Array.isArray(r.body.alerts)) {
    const [alert] = r.body.alerts as AlertmanagerAlert[];
    return { slo: alert.labels.slo, status: alert.status as 'firing' | 'resolved' };
  }
  const m = /^\S+ \*(FIRING|RESOLVED)\* (\S+) /.exec(String(r.body.text ?? ''));
  return m ? { slo: m[2], status: m[1] === 'FIRING' ? 'firing' : 'resolved' } : undefined;
}
