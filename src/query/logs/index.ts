export { parseLogQuery, MAX_CONDITIONS, MAX_DEPTH } from './parser.js';
export { LogQueryError } from './errors.js';
export { MAX_QUERY_LENGTH } from './lexer.js';
export { severityClassOf, LEVELS } from './severity.js';
