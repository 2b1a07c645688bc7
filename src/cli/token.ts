import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isMap, isSeq, parseDocument, YAMLMap, YAMLSeq } from 'yaml';
import { createToken, ROLES, type Role } from '../auth/index.js';
import { ConfigFileError, parseConfigFile, parseDuration } from '../config/index.js';
import { tenantIdProblem } from '../store/index.js';

/**
 * `sightline token create|list|revoke`: API tokens for exporters,
 * Collectors, Grafana and scripts, kept in the config file as salted
 * hashes. The token is printed once, on stdout alone, so that
 * `TOKEN=$(sightline token create ...)` captures exactly it. The file is
 * edited as a YAML document (comments and layout survive), checked with
 * the same parser the server uses, and replaced atomically.
 *
 * A running server re-reads its tokens on SIGHUP (docs/security.md).
 */

export const TOKEN_USAGE = `Usage:
  sightline token create --name NAME --role ROLE [--role ROLE] --tenant TENANT [--tenant TENANT] [--config FILE]
      makes a token, stores its salted hash in FILE (created if missing) and prints the token once
  sightline token list [--config FILE]
      shows each token's name, id, roles and tenants (never the token)
  sightline token revoke --name NAME [--config FILE]
      removes a token; servers stop accepting it on SIGHUP or restart

Roles: ${ROLES.join(', ')}. A tenant of '*' means every tenant.
FILE defaults to $SIGHTLINE_CONFIG.
`;

class UsageError extends Error {}

export async function tokenCommand(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (sub === undefined || sub === '--help' || sub === '-h') {
      out(TOKEN_USAGE);
      return sub === undefined ? 2 : 0;
    }
    const { values } = parseArgs({
      args: rest,
      options: {
        name: { type: 'string' },
        role: { type: 'string', multiple: true },
        tenant: { type: 'string', multiple: true },
        config: { type: 'string' },
      },
      strict: true,
    });
    const file = values.config ?? env.SIGHTLINE_CONFIG;
    if (!file) throw new UsageError('name the config file with --config (or SIGHTLINE_CONFIG)');
    if (sub === 'create') return await create(file, values, out, err);
    if (sub === 'list') return await list(file, out);
    if (sub === 'revoke') return await revoke(file, values.name, err);
    throw new UsageError(`unknown token command ${JSON.stringify(sub)}`);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigFileError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err(`sightline token: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
}

async function create(file: string, values: { name?: string; role?: string[]; tenant?: string[] }, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const name = values.name?.trim();
  // The name shows in logs and the audit trail: plain characters only.
  if (!name || !/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name)) throw new UsageError('--name is 1-64 letters, digits, ".", "_", "@" or "-"');
  const roles = splitList(values.role);
  const tenants = splitList(values.tenant);
  if (roles.length === 0) throw new UsageError(`give at least one --role (${ROLES.join(', ')})`);
  for (const r of roles) if (!(ROLES as readonly string[]).includes(r)) throw new UsageError(`unknown role ${JSON.stringify(r)}; roles are ${ROLES.join(', ')}`);
  if (tenants.length === 0) throw new UsageError("give at least one --tenant (or '*' for every tenant)");
  for (const t of tenants) if (t !== '*' && tenantIdProblem(t)) throw new UsageError(`${JSON.stringify(t)} is not a tenant id: ${tenantIdProblem(t)}`);

  const doc = await readDocument(file);
  const current = parseConfigFile(String(doc), file, parseDuration);
  if (current.tokens.some((t) => t.name === name)) throw new UsageError(`a token named ${JSON.stringify(name)} exists already in ${file}; revoke it first or choose another name`);

  const { token, entry } = createToken(name, roles as Role[], tenants);
  if (!doc.has('tokens') || !isSeq(doc.get('tokens'))) doc.set('tokens', new YAMLSeq());
  const item = new YAMLMap();
  item.set('name', entry.name);
  item.set('id', entry.id);
  item.set('hash', entry.hash);
  item.set('roles', entry.roles);
  item.set('tenants', entry.tenants);
  (doc.get('tokens') as YAMLSeq).add(item);
  await writeChecked(file, String(doc));
  err(`stored token ${name} (id ${entry.id}; ${roles.join(', ')} of ${tenants.join(', ')}) in ${file}; it is shown once, below. Send SIGHUP to running servers.\n`);
  out(`${token}\n`);
  return 0;
}

async function list(file: string, out: (s: string) => void): Promise<number> {
  const config = parseConfigFile(String(await readDocument(file)), file, parseDuration);
  for (const t of config.tokens) out(`${t.name}\t${t.id}\t${t.roles.join(',')}\t${t.tenants.join(',')}\n`);
  return 0;
}

async function revoke(file: string, name: string | undefined, err: (s: string) => void): Promise<number> {
  if (!name) throw new UsageError('name the token to revoke with --name');
  const doc = await readDocument(file);
  const tokens = doc.get('tokens');
  const index = isSeq(tokens) ? tokens.items.findIndex((t) => isMap(t) && t.get('name') === name) : -1;
  if (index < 0) throw new UsageError(`no token named ${JSON.stringify(name)} in ${file}`);
  (tokens as YAMLSeq).delete(index);
  await writeChecked(file, String(doc));
  err(`revoked token ${name} in ${file}. Send SIGHUP to running servers.\n`);
  return 0;
}

function splitList(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

async function readDocument(file: string) {
  let text = '';
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`${file}: ${(e as Error).message}`);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) parseConfigFile(text, file, parseDuration); // throws with the line and column
  if (doc.contents === null) doc.contents = new YAMLMap() as never;
  return doc;
}

/** Checks the new text as the server would read it, then replaces the file atomically (owner-only: it holds hashes). */
async function writeChecked(file: string, text: string): Promise<void> {
  parseConfigFile(text, file, parseDuration);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = await fsp.open(tmp, 'w', 0o600);
  try {
    await fd.writeFile(text);
    await fd.sync();
  } finally {
    await fd.close();
  }
  await fsp.rename(tmp, file);
}
