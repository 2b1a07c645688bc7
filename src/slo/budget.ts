import type { AlertWindow, SloDefinition } from './config.js';

/** Valid and good events over one window. */
export interface EventCounts {
  valid: number;
  good: number;
}

/**
 * How fast the error budget burns over a window: the share of bad events
 * over the share the objective allows. 1 spends exactly the budget over the
 * SLO window; 14.4 spends 2% of a 30-day budget in an hour. 0 without events.
 */
export function burnRate(c: EventCounts, objective: number): number {
  if (c.valid <= 0) return 0;
  const bad = Math.max(0, c.valid - c.good);
  return bad / c.valid / (1 - objective / 100);
}

/**
 * The share of the SLO window's error budget left: 1 untouched, 0 spent,
 * below 0 overspent. 1 without events.
 */
export function budgetRemaining(c: EventCounts, objective: number): number {
  if (c.valid <= 0) return 1;
  const allowed = c.valid * (1 - objective / 100);
  return 1 - Math.max(0, c.valid - c.good) / allowed;
}

/** Every window an SLO's evaluation reads: its own and each alert window. */
export function windowsOf(slo: Pick<SloDefinition, 'windowMs' | 'alerts'>): number[] {
  return [...new Set([slo.windowMs, ...slo.alerts.flatMap((a) => [a.longMs, a.shortMs])])].sort((a, b) => a - b);
}

export interface WindowVerdict extends AlertWindow {
  longBurn: number;
  shortBurn: number;
  firing: boolean;
}

/**
 * The SRE workbook's multiwindow, multi-burn-rate condition: a pair fires
 * when both its long and its short window burn at least its rate (the long
 * window says it matters, the short one that it is still happening, so an
 * alert resolves minutes after the fault stops).
 */
export function evaluateWindows(alerts: readonly AlertWindow[], burnOver: (windowMs: number) => number): WindowVerdict[] {
  return alerts.map((a) => {
    const longBurn = burnOver(a.longMs);
    const shortBurn = burnOver(a.shortMs);
    return { ...a, longBurn, shortBurn, firing: longBurn >= a.burnRate && shortBurn >= a.burnRate };
  });
}

/** A duration as the config writes it: 5m, 1h, 28d, 90s. */
export function formatWindow(ms: number): string {
  for (const [unit, size] of [['d', 86400e3], ['h', 3600e3], ['m', 60e3], ['s', 1e3]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
