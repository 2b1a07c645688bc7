export { Ingestor, OverloadedError, UnavailableError, type IngestorOptions, type IngestStats } from './ingestor.js';
