export { registerJaegerRoutes, JAEGER_BASES, type JaegerRoutesOptions } from './routes.js';
