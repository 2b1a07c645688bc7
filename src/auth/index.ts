export { ROLES, ANY_TENANT, holds, tenantsWith, grantsOf, type Role, type Grant, type Identity, type IdentityKind } from './identity.js';
export { createToken, TokenVerifier, type TokenEntry } from './tokens.js';
export { chooseTenants, TenantChoiceError } from './tenancy.js';
export { Authenticator, TokenSource, BadCredentialsError, type Credentials, type IdentitySource } from './authenticator.js';
export { PUBLIC, READ_SPANS, READ_META, WRITE_SPANS, ADMIN, ADMIN_READ, type RoutePolicy } from './policy.js';
export { resolveCaller, type ResolvedCaller } from './resolve.js';
export { buildAuthenticator, isLoopback, AuthSetupError, type AuthSetup } from './setup.js';
export { AuditLog, verifyAudit, auditHash, parseAuditFile, type AuditEntry, type AuditRecord, type AuditSink, type AuditVerdict } from './audit.js';
