// The lab as a library, for the demo and the end-to-end tests.
export { startClinic, FAULTS, FAULT_DESCRIPTIONS } from './lab.mjs';
export { runLoad } from './load.mjs';
export { scenario, slowThresholdMs } from './scenarios.mjs';
export { TENANTS, REGIONS, APPOINTMENTS_PER_PATIENT, patientIds } from './seed.mjs';
