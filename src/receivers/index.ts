export { TraceExportHandler, AllSpansRejectedError, type Encoding, type ExportResult } from './trace-export.js';
export { createOtlpHttpServer, type OtlpHttpOptions } from './otlp-http.js';
export { OtlpGrpcServer, TRACE_SERVICE, type OtlpGrpcOptions } from './otlp-grpc.js';
export { MalformedRequestError } from './decode-result.js';
export { ListenerGuard, DEFAULT_LISTENER_LIMITS, type ListenerLimits, type ListenerCounters } from './listener-limits.js';
