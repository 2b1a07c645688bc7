export { createApiServer, type ApiServerOptions } from './server.js';
export { declaredRoutes, type DeclaredRoute } from './auth.js';
export { endpointUrls, isWildcard, addressOf, type BoundListeners, type EndpointUrls } from './endpoints.js';
