// Starts the clinic: the four services in each region, each its own Node
// process with the OpenTelemetry SDK, on loopback with ephemeral ports.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { REGIONS } from './seed.mjs';
import { labInstallProblem } from './install.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FAULTS = ['a', 'b', 'c', 'd', 'none'];
export const FAULT_DESCRIPTIONS = {
  a: 'patients has a pool of 2 database connections: requests queue for one once a few are in flight',
  b: 'appointments loads practitioners one query per appointment (N+1) for one tenant',
  c: "billing's ledger is a slow replica in one region",
  d: "billing's ledger is locked for 2.5 s every 15 s; reads fail after a 100 ms busy timeout and the gateway retries each 503 up to 5 times",
  none: 'no fault: every request is fast',
};

/**
 * @param {{ otlpUrl: string, fault?: string, regions?: string[], faultTenant?: string,
 *   faultRegion?: string, dbRoundTripMs?: number, env?: Record<string, string> }} options
 */
export async function startClinic(options) {
  const fault = options.fault ?? 'none';
  if (!FAULTS.includes(fault)) throw new Error(`unknown fault ${fault}: one of ${FAULTS.join(', ')}`);
  // The services load the lab's own packages (package.json here); say so rather than fail in eight children.
  const notInstalled = labInstallProblem();
  if (notInstalled) throw new Error(`the clinic lab's packages are not in place (${notInstalled}): run \`node examples/clinic/install.mjs\``);
  const regions = options.regions ?? REGIONS;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'clinic-'));
  const children = [];
  const baseEnv = {
    ...process.env,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: options.otlpUrl,
    CLINIC_FAULT: fault,
    CLINIC_DATA_DIR: dataDir,
    ...(options.faultTenant ? { CLINIC_FAULT_TENANT: options.faultTenant } : {}),
    ...(options.faultRegion ? { CLINIC_FAULT_REGION: options.faultRegion } : {}),
    ...(options.dbRoundTripMs !== undefined ? { CLINIC_DB_ROUND_TRIP_MS: String(options.dbRoundTripMs) } : {}),
    ...options.env,
  };

  const start = (service, region, downstream = {}) =>
    new Promise((resolve, reject) => {
      const child = fork(path.join(here, `${service}.mjs`), [], {
        execArgv: ['--import', pathToFileURL(path.join(here, 'telemetry.mjs')).href],
        env: { ...baseEnv, CLINIC_SERVICE: service, CLINIC_REGION: region, ...downstream },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      });
      children.push(child);
      let output = '';
      const keep = (chunk) => (output = (output + chunk).slice(-4000));
      child.stdout.setEncoding('utf8').on('data', keep);
      child.stderr.setEncoding('utf8').on('data', keep);
      child.once('message', (m) => resolve(`http://127.0.0.1:${m.port}`));
      child.once('exit', (code) => reject(new Error(`${service} (${region}) exited with ${code} before listening:\n${output}`)));
    });

  const gateways = {};
  try {
    await Promise.all(
      regions.map(async (region) => {
        const [patients, billing] = await Promise.all([start('patients', region), start('billing', region)]);
        const appointments = await start('appointments', region, { CLINIC_PATIENTS_URL: patients });
        gateways[region] = await start('gateway', region, { CLINIC_APPOINTMENTS_URL: appointments, CLINIC_BILLING_URL: billing });
      }),
    );
  } catch (error) {
    await stopAll(children);
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }

  const clinic = {
    fault,
    gateways,
    pids: children.map((c) => c.pid),
    /**
     * Switches every service to `next` without restarting any (so ports,
     * connections and the load go on): resolves once each has taken it.
     * Requests in flight finish under the fault they started with.
     */
    async setFault(next) {
      if (!FAULTS.includes(next)) throw new Error(`unknown fault ${next}: one of ${FAULTS.join(', ')}`);
      await Promise.all(
        children.map(
          (child) =>
            new Promise((resolve, reject) => {
              const onMessage = (m) => {
                if (m?.type !== 'fault-set' || m.fault !== next) return;
                child.off('message', onMessage);
                child.off('exit', onExit);
                resolve();
              };
              const onExit = (code) => reject(new Error(`a clinic service exited with ${code} while switching to fault ${next}`));
              child.on('message', onMessage);
              child.once('exit', onExit);
              child.send({ type: 'fault', fault: next });
            }),
        ),
      );
      clinic.fault = next;
    },
    /** Stops every service, each after it has flushed its spans. */
    async stop() {
      await stopAll(children);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return clinic;
}

async function stopAll(children) {
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const killTimer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.once('exit', () => {
            clearTimeout(killTimer);
            resolve();
          });
          child.send('stop');
        }),
    ),
  );
}
