// The lab's fixed shape: tenants, regions and how much seed data each holds.
// No package imports here: the test runner and the demo load this (through
// index.mjs) in their own process, where the lab's node_modules must not be
// needed; only the forked services load the OpenTelemetry SDK.

export const TENANTS = ['northwind', 'riverside', 'lakeside', 'summit'];
export const REGIONS = ['us-east', 'eu-west'];
export const PATIENTS_PER_TENANT = 20;
export const APPOINTMENTS_PER_PATIENT = 20;
export const PRACTITIONERS_PER_TENANT = 8;

/** Patient ids are global; the tenant is in the hundreds. */
export function patientIds(tenant) {
  const t = TENANTS.indexOf(tenant);
  return Array.from({ length: PATIENTS_PER_TENANT }, (_, i) => (t + 1) * 100 + i + 1);
}
