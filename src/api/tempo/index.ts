export { registerTempoRoutes, type TempoRoutesOptions } from './routes.js';
