import { createContextKey } from '@opentelemetry/api';

/** Context key under which a caller names the route template it is calling. */
export const URL_TEMPLATE_KEY = createContextKey('clinic.url.template');
