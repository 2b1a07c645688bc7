export { Sql, sql, join, literal, ident, typeName, quoteString, type SqlValue } from './sql.js';
