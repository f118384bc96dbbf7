// Where cloudvamp finds oned's endpoint and the `user:password` session.
//
// Order, first found wins (OpenNebula's own CLI order after the config):
//   credentials: cloudvamp config (inline `oneAuth` or `oneAuthFile`), $ONE_AUTH,
//                ~/.one/one_auth, /var/lib/one/.one/one_auth
//   endpoint:    cloudvamp config, $ONE_XMLRPC, ~/.one/one_endpoint,
//                http://localhost:2633/RPC2
// Credentials named by cloudvamp's own config must sit in a file no one else
// can read (mode 0600 or stricter); OpenNebula's standard locations are left as
// OpenNebula manages them.
//
// The decisions are pure (`resolveOneConnection`); `loadOneConnection` only
// reads the candidate files and hands them over.

import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { configError } from '../errors';

export const DEFAULT_ONE_ENDPOINT = 'http://localhost:2633/RPC2';
export const SYSTEM_ONE_AUTH = '/var/lib/one/.one/one_auth';

export interface OneCredentials {
  username: string;
  /** the whole `user:password` string oned expects as the first parameter */
  session: string;
}

/** One `user:password` (or `user:token`) line, as in OpenNebula's one_auth files. Never echoes the password. */
export function parseOneAuth(text: string, source = 'one_auth'): OneCredentials {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (lines.length !== 1) {
    throw configError(`${source} must hold exactly one line 'user:password', found ${lines.length} non-empty lines`);
  }
  const line = lines[0]!.trim();
  const colon = line.indexOf(':');
  if (colon <= 0 || colon === line.length - 1) {
    throw configError(`${source} must be 'user:password' (one line, user and password both non-empty)`);
  }
  return { username: line.slice(0, colon), session: line };
}

/** What the cloudvamp config says about oned; all optional. */
export interface OneConnectionSettings {
  endpoint?: string;
  /** inline `user:password`: only accepted when `configFile` is 0600 or stricter */
  oneAuth?: string;
  /** path of a one_auth-style file; it must be 0600 or stricter */
  oneAuthFile?: string;
  /** the config file itself, for the mode check of an inline `oneAuth` */
  configFile?: { path: string; mode: number };
}

/** A candidate file as read; `unreadable` (e.g. EACCES) only matters if resolution gets to that file. */
export type FileSnapshot = { text: string; mode: number } | { unreadable: string };

export interface Environment {
  env: Readonly<Record<string, string | undefined>>;
  home: string;
  /** the candidate files that exist, by path */
  files: ReadonlyMap<string, FileSnapshot>;
}

export interface OneConnection extends OneCredentials {
  endpoint: string;
  /** where the credentials came from, for messages ("$ONE_AUTH (/root/.one/one_auth)") */
  authSource: string;
}

/** Every file `resolveOneConnection` may look at, so the I/O wrapper knows what to read. */
export function connectionCandidateFiles(settings: OneConnectionSettings, env: Environment['env'], home: string): string[] {
  const paths = [settings.oneAuthFile, env['ONE_AUTH'], join(home, '.one', 'one_auth'), SYSTEM_ONE_AUTH, join(home, '.one', 'one_endpoint')];
  return [...new Set(paths.filter((p): p is string => typeof p === 'string' && p !== ''))];
}

const groupOrOtherBits = 0o077;

function fileAt(files: Environment['files'], path: string): { text: string; mode: number } | undefined {
  const file = files.get(path);
  if (file && 'unreadable' in file) throw configError(`cannot read ${path}: ${file.unreadable} — run cloudvamp as oneadmin or fix the file's owner`);
  return file;
}

function requirePrivate(path: string, mode: number, what: string): void {
  if ((mode & groupOrOtherBits) !== 0) {
    throw configError(
      `${what} ${path} is readable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); it holds oned credentials — run: chmod 600 ${path}`,
    );
  }
}

export function resolveOneConnection(settings: OneConnectionSettings, environment: Environment): OneConnection {
  const { env, home, files } = environment;
  const credentials = resolveCredentials(settings, env, home, files);
  return { ...credentials, endpoint: resolveEndpoint(settings, env, home, files) };
}

function resolveCredentials(
  settings: OneConnectionSettings,
  env: Environment['env'],
  home: string,
  files: Environment['files'],
): OneCredentials & { authSource: string } {
  if (settings.oneAuth !== undefined) {
    const source = settings.configFile ? `the cloudvamp config ${settings.configFile.path}` : 'the cloudvamp config';
    if (settings.configFile) requirePrivate(settings.configFile.path, settings.configFile.mode, 'the cloudvamp config');
    return { ...parseOneAuth(settings.oneAuth, source), authSource: source };
  }
  if (settings.oneAuthFile) {
    const file = fileAt(files, settings.oneAuthFile);
    // the value is not repeated: an operator who wrote `user:password` there must not find it in the journal
    if (!file)
      throw configError(
        'the one_auth file named by ONE_AUTH in the cloudvamp config does not exist; ONE_AUTH is the absolute path of a file holding one line user:password (mode 600), as OpenNebula\'s ONE_AUTH',
      );
    requirePrivate(settings.oneAuthFile, file.mode, 'the one_auth file');
    return { ...parseOneAuth(file.text, settings.oneAuthFile), authSource: settings.oneAuthFile };
  }
  const fromEnv = env['ONE_AUTH'];
  if (fromEnv) {
    const file = fileAt(files, fromEnv);
    // OpenNebula's CLI ignores a $ONE_AUTH that does not exist and falls through; being explicit is kinder.
    if (!file)
      throw configError('the file named by $ONE_AUTH does not exist; $ONE_AUTH is the path of a file holding one line user:password — fix or unset it');
    return { ...parseOneAuth(file.text, `$ONE_AUTH (${fromEnv})`), authSource: `$ONE_AUTH (${fromEnv})` };
  }
  for (const path of [join(home, '.one', 'one_auth'), SYSTEM_ONE_AUTH]) {
    const file = fileAt(files, path);
    if (file) return { ...parseOneAuth(file.text, path), authSource: path };
  }
  throw configError(
    `no oned credentials: set ONE_AUTH in cvem.conf to the path of a one_auth file (mode 600), or $ONE_AUTH, or create ~/.one/one_auth with one line 'user:password'`,
  );
}

function resolveEndpoint(settings: OneConnectionSettings, env: Environment['env'], home: string, files: Environment['files']): string {
  const endpointFile = fileAt(files, join(home, '.one', 'one_endpoint'))?.text.trim();
  const endpoint = settings.endpoint?.trim() || env['ONE_XMLRPC']?.trim() || endpointFile || DEFAULT_ONE_ENDPOINT;
  if (!/^https?:\/\/[^/\s]+/.test(endpoint)) {
    throw configError(`oned endpoint '${endpoint}' is not an http(s) URL — set it like http://frontend:2633/RPC2 (config endpoint or ONE_XMLRPC)`);
  }
  return endpoint;
}

// ------------------------------------------------------------------ I/O

export interface ConnectionIo {
  env?: Environment['env'];
  home?: string;
  readFileSnapshot?: (path: string) => Promise<FileSnapshot | undefined>;
}

async function readFileSnapshot(path: string): Promise<FileSnapshot | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { text, mode: info.mode };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    // Unreadable (EACCES) is reported only if resolution needs this file: it usually means the wrong user.
    return { unreadable: (error as Error).message };
  }
}

/** Reads the candidate files, then resolves. */
export async function loadOneConnection(settings: OneConnectionSettings, io: ConnectionIo = {}): Promise<OneConnection> {
  const env = io.env ?? process.env;
  const home = io.home ?? homedir();
  const read = io.readFileSnapshot ?? readFileSnapshot;
  const files = new Map<string, FileSnapshot>();
  for (const path of connectionCandidateFiles(settings, env, home)) {
    const snapshot = await read(path);
    if (snapshot) files.set(path, snapshot);
  }
  return resolveOneConnection(settings, { env, home, files });
}
