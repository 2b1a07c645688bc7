export { TraceExportHandler, AllSpansRejectedError, type Encoding, type ExportResult } from './trace-export.js';
export { createOtlpHttpServer, type OtlpHttpOptions } from './otlp-http.js';
export { OtlpGrpcServer, TRACE_SERVICE, LOGS_SERVICE, type OtlpGrpcOptions } from './otlp-grpc.js';
export { LogExportHandler, AllLogRecordsRejectedError } from './log-export.js';
export { MalformedRequestError } from './decode-result.js';
export { ListenerGuard, DEFAULT_LISTENER_LIMITS, type ListenerLimits, type ListenerCounters } from './listener-limits.js';
export { createZipkinHttpServer, newZipkinCounters, ZIPKIN_SPANS_PATH, type ZipkinHttpOptions, type ZipkinCounters } from './zipkin-http.js';
