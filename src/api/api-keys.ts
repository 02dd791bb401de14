/**
 * API keys (API.md "Access"). A key has a name, scopes and a secret; only the secret's
 * SHA-256 is ever configured or held in memory. The secret is shown once, when it is made
 * (`ledger api-key`), and never echoed afterwards, not even in a configuration error.
 */
import { createHash, randomBytes } from 'node:crypto';

export const apiScopes = ['read', 'write', 'admin'] as const;
export type ApiScope = (typeof apiScopes)[number];

export interface ApiKey {
  name: string;
  scopes: readonly ApiScope[];
  /** SHA-256 of the secret, 64 lowercase hex digits. */
  sha256: string;
}

export const apiKeyNamePattern = /^[A-Za-z0-9._-]{1,64}$/;
const sha256HexPattern = /^[0-9a-f]{64}$/;
export const apiKeyPrefix = 'lk_';
const apiKeySecretBytes = 32;

export const apiKeyNameRule = 'a name is 1 to 64 characters of A-Z a-z 0-9 . _ -';
export const apiScopesRule = `scopes are ${apiScopes.join(', ')}, joined with '+' (for example read+write)`;
export const apiKeyEntryFormat = '<name>:<scopes>:<sha256-hex-of-key>';

/** `admin` grants every scope; `write` does not imply `read`. */
export function grants(key: ApiKey, scope: ApiScope): boolean {
  return key.scopes.includes('admin') || key.scopes.includes(scope);
}

export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** A new secret: `lk_` and 32 random bytes, base64url. */
export function generateApiKey(): string {
  return apiKeyPrefix + randomBytes(apiKeySecretBytes).toString('base64url');
}

/** The API_KEYS entry for a key. */
export function apiKeyEntry(name: string, scopes: readonly ApiScope[], secret: string): string {
  return `${name}:${scopes.join('+')}:${hashApiKey(secret)}`;
}

/** The scopes `read+write` names, or a problem that does not repeat the text (it may be a misplaced secret). */
export function parseScopes(text: string): { scopes: ApiScope[] } | { problem: string } {
  const names = text.split('+');
  if (!names.every((name): name is ApiScope => (apiScopes as readonly string[]).includes(name))) {
    return { problem: apiScopesRule };
  }
  if (new Set(names).size !== names.length) return { problem: 'a scope is listed twice' };
  return { scopes: names };
}

/**
 * API_KEYS: comma-separated `<name>:<scopes>:<sha256-hex-of-key>` entries. Every problem
 * names the entry by position only: no part of an entry is repeated, in case a secret was
 * pasted where its hash belongs.
 */
export function parseApiKeys(text: string): { keys: ApiKey[]; problems: string[] } {
  if (text.trim() === '') return { keys: [], problems: [] };
  const keys: ApiKey[] = [];
  const problems: string[] = [];
  const firstWithName = new Map<string, number>();
  const firstWithHash = new Map<string, number>();
  text.split(',').forEach((raw, index) => {
    const position = index + 1;
    const fields = raw.trim().split(':');
    if (fields.length !== 3) {
      problems.push(`entry ${position}: must be ${apiKeyEntryFormat}`);
      return;
    }
    const [name, scopesText, sha256] = fields;
    const entryProblems: string[] = [];
    if (!apiKeyNamePattern.test(name)) entryProblems.push(apiKeyNameRule);
    const scopes = parseScopes(scopesText);
    if ('problem' in scopes) entryProblems.push(scopes.problem);
    if (!sha256HexPattern.test(sha256)) {
      entryProblems.push('the key hash must be 64 lowercase hex digits: the SHA-256 of the key, not the key itself');
    }
    if (entryProblems.length > 0 || 'problem' in scopes) {
      problems.push(...entryProblems.map((p) => `entry ${position}: ${p}`));
      return;
    }
    const sameName = firstWithName.get(name);
    const sameHash = firstWithHash.get(sha256);
    if (sameName !== undefined) problems.push(`entries ${sameName} and ${position} have the same name`);
    if (sameHash !== undefined) problems.push(`entries ${sameHash} and ${position} have the same key hash`);
    firstWithName.set(name, firstWithName.get(name) ?? position);
    firstWithHash.set(sha256, firstWithHash.get(sha256) ?? position);
    keys.push({ name, scopes: scopes.scopes, sha256 });
  });
  return { keys, problems };
}
