export { Ingestor, OverloadedError, UnavailableError, type BudgetReservation, type IngestorOptions, type IngestStats } from './ingestor.js';
export type { SegmentStore, WriteOutcome } from './store-port.js';
