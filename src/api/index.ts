export { createApiServer, type ApiServerOptions } from './server.js';
export { declaredRoutes, type DeclaredRoute } from './auth.js';
