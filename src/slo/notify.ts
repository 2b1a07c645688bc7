import type { Receiver } from './config.js';

/**
 * One alert as Alertmanager describes it (webhook payload version 4): the
 * same object goes to every receiver, in its format.
 */
export interface AlertNotice {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** RFC 3339. */
  startsAt: string;
  /** RFC 3339; Alertmanager's zero time while firing. */
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

/** Alertmanager's "no end yet". */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** The body Alertmanager's webhook_config receivers take, exactly as Alertmanager sends it. */
export function alertmanagerBody(notice: AlertNotice, receiver: string, externalURL: string): Record<string, unknown> {
  const groupLabels = { alertname: notice.labels.alertname, slo: notice.labels.slo, tenant: notice.labels.tenant };
  return {
    version: '4',
    groupKey: `{}:{alertname=${JSON.stringify(groupLabels.alertname)}, slo=${JSON.stringify(groupLabels.slo)}, tenant=${JSON.stringify(groupLabels.tenant)}}`,
    truncatedAlerts: 0,
    status: notice.status,
    receiver,
    groupLabels,
    commonLabels: notice.labels,
    commonAnnotations: notice.annotations,
    externalURL,
    alerts: [notice],
  };
}

/** A Slack incoming-webhook message: mrkdwn text with the same facts and links. */
export function slackBody(notice: AlertNotice): Record<string, unknown> {
  const a = notice.annotations;
  const head = `${notice.status === 'firing' ? ':rotating_light: *FIRING*' : ':white_check_mark: *RESOLVED*'} ${notice.labels.slo} (tenant ${notice.labels.tenant}, ${notice.labels.severity})`;
  const lines = [head, a.summary];
  if (a.diagnosis_attributes) lines.push(`*Bad events share:* ${a.diagnosis_attributes}`);
  if (a.diagnosis_operation) lines.push(`*Extra time in:* ${a.diagnosis_operation}`);
  const links = [a.compare_url && `<${a.compare_url}|compare bad with good>`, a.examples_url && `<${a.examples_url}|example traces>`].filter(Boolean);
  if (links.length > 0) lines.push(links.join(' · '));
  return { text: lines.filter(Boolean).join('\n') };
}

export function bodyFor(receiver: Receiver, notice: AlertNotice, externalURL: string): Record<string, unknown> {
  return receiver.format === 'slack' ? slackBody(notice) : alertmanagerBody(notice, receiver.name, externalURL);
}

export type DeliveryResult = { ok: true; statusCode: number } | { ok: false; statusCode: number; error: string };

/**
 * One POST to a receiver. The error never carries the URL (a Slack
 * webhook's path is its credential), only what kind of failure it was.
 * `Idempotency-Key` lets a receiver drop a notification sent again after
 * a crash between its delivery and our record of it.
 */
export async function post(url: string, body: unknown, idempotencyKey: string, timeoutMs: number): Promise<DeliveryResult> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey, 'user-agent': 'Sightline-SLO' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { ok: true, statusCode: res.status };
    return { ok: false, statusCode: res.status, error: `HTTP ${res.status}` };
  } catch (e) {
    const err = e as { name?: string; cause?: { code?: string } };
    const kind = err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err.cause?.code ?? err.name ?? 'request failed');
    return { ok: false, statusCode: 0, error: kind };
  }
}

/** Exponential backoff: the wait before attempt n+1 after n failed ones. */
export function backoffMs(failedAttempts: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, Math.min(30, failedAttempts - 1)));
}
