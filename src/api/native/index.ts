export { registerNativeRoutes, type NativeRoutesOptions } from './routes.js';
