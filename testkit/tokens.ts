import { createToken, type Role, type TokenEntry } from '../src/auth/index.js';

/** API tokens for tests, one role in one tenant each: the tokens by name, and the entries a config holds. */
export function makeTokens(specs: readonly (readonly [name: string, role: Role, tenant: string])[]): { tokens: Map<string, string>; entries: TokenEntry[] } {
  const tokens = new Map<string, string>();
  const entries: TokenEntry[] = [];
  for (const [name, role, tenant] of specs) {
    const { token, entry } = createToken(name, [role], [tenant]);
    tokens.set(name, token);
    entries.push(entry);
  }
  return { tokens, entries };
}
