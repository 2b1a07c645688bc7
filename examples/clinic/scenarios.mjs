// What each fault's run looks like (load steps) and how to ask Sightline
// about it (queries), shared by the demo and the end-to-end tests.

/**
 * The latency that splits requests into "normal" and "slow": Otsu's
 * threshold on log latency, the cut that best separates two modes. A user
 * would pick the same cut by eye on Sightline's latency scatter.
 */
export function slowThresholdMs(latenciesMs) {
  const logs = latenciesMs.filter((ms) => ms > 0).map(Math.log);
  if (logs.length < 2) return 0;
  const lo = Math.min(...logs);
  const hi = Math.max(...logs);
  const bins = 64;
  const width = (hi - lo) / bins || 1;
  const counts = new Array(bins).fill(0);
  for (const x of logs) counts[Math.min(bins - 1, Math.floor((x - lo) / width))]++;
  const total = logs.length;
  const sumAll = counts.reduce((s, c, i) => s + c * i, 0);
  let best = 0;
  let bestBetween = -1;
  let below = 0;
  let sumBelow = 0;
  for (let i = 0; i < bins - 1; i++) {
    below += counts[i];
    sumBelow += counts[i] * i;
    const above = total - below;
    if (below === 0 || above === 0) continue;
    const between = below * above * (sumBelow / below - (sumAll - sumBelow) / above) ** 2;
    if (between > bestBetween) {
      bestBetween = between;
      best = i;
    }
  }
  return Math.round(Math.exp(lo + (best + 1) * width));
}

const gatewayRequests = 'resource.service.name = "gateway" && kind = server';

/**
 * @param {string} fault
 * @param {{ durationMs: number }} options
 */
export function scenario(fault, { durationMs }) {
  // Fault (a) steps the load up in one region, so that one patients pool
  // sees it all; the others run a steady load over both regions.
  const steps =
    fault === 'a'
      ? [1, 2, 4, 8, 16].map((concurrency) => ({ concurrency, durationMs: Math.round(durationMs / 5) }))
      : [{ concurrency: 3, durationMs }];
  const regionWeights = fault === 'a' ? { 'us-east': 1 } : undefined;
  const expected = {
    a: 'load: the patients operation waits longer as concurrency grows; critical path: patients "request handler" (the pool wait) first',
    b: 'compare: tenant.id = riverside first; critical path: appointments "SELECT practitioners" first',
    c: 'compare: cloud.region = eu-west first; critical path: billing "SELECT invoices" first',
    d: 'critical path of a slow trace: gateway "GET /patients/:patientId/balance" client spans repeated (retries)',
    none: 'nothing stands out: every request is fast',
  }[fault];
  return {
    steps,
    regionWeights,
    expected,
    /** TraceQL for the slow requests, the rest, and the operation to correlate with load. */
    queries(load) {
      const thresholdMs = slowThresholdMs(load.latenciesMs);
      return {
        thresholdMs,
        selection: `{ ${gatewayRequests} && duration > ${thresholdMs}ms }`,
        baseline: `{ ${gatewayRequests} && duration <= ${thresholdMs}ms }`,
        // The pool wait sits in the express handler span (the server span's only
        // child), so that is the operation whose uninstrumented wait to chart.
        load: fault === 'a' ? '{ resource.service.name = "patients" && name = "request handler" }' : `{ ${gatewayRequests} }`,
      };
    },
  };
}
