import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudvampError } from '../../../lib/errors';
import {
  connectionCandidateFiles,
  DEFAULT_ONE_ENDPOINT,
  loadOneConnection,
  parseOneAuth,
  resolveOneConnection,
  SYSTEM_ONE_AUTH,
  type FileSnapshot,
} from '../../../lib/oned/auth';

describe('parseOneAuth', () => {
  it('reads one user:password line', () => {
    expect(parseOneAuth('oneadmin:s3cr:et\n')).toEqual({ username: 'oneadmin', session: 'oneadmin:s3cr:et' });
    expect(parseOneAuth('\n  serveradmin:token  \r\n\n')).toEqual({ username: 'serveradmin', session: 'serveradmin:token' });
  });

  it('refuses anything else without echoing the password', () => {
    for (const bad of ['', 'oneadmin', ':pw', 'oneadmin:', 'a:b\nc:d']) {
      const error = (() => {
        try {
          parseOneAuth(bad, '/x/one_auth');
        } catch (e) {
          return e;
        }
      })();
      expect(error, bad).toBeInstanceOf(CloudvampError);
      expect((error as CloudvampError).kind).toBe('config');
      expect((error as Error).message).toContain('/x/one_auth');
    }
    try {
      parseOneAuth('a:hunter2\nb:c');
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
    }
  });
});

describe('resolveOneConnection', () => {
  const home = '/home/cv';
  const file = (text: string, mode = 0o100600): FileSnapshot => ({ text, mode });
  const resolve = (settings: Parameters<typeof resolveOneConnection>[0], env: Record<string, string> = {}, files: Record<string, FileSnapshot> = {}) =>
    resolveOneConnection(settings, { env, home, files: new Map(Object.entries(files)) });

  it('prefers the config, then $ONE_AUTH, ~/.one/one_auth, /var/lib/one/.one/one_auth', () => {
    const files = {
      '/etc/cv/auth': file('fromfile:a'),
      '/env/auth': file('fromenv:b', 0o100644),
      [`${home}/.one/one_auth`]: file('fromhome:c'),
      [SYSTEM_ONE_AUTH]: file('oneadmin:d'),
    };
    const env = { ONE_AUTH: '/env/auth' };
    expect(resolve({ oneAuth: 'inline:x', configFile: { path: '/etc/cv.json', mode: 0o100600 } }, env, files).authSource).toBe('the cloudvamp config /etc/cv.json');
    expect(resolve({ oneAuthFile: '/etc/cv/auth' }, env, files).username).toBe('fromfile');
    expect(resolve({}, env, files)).toMatchObject({ username: 'fromenv', authSource: '$ONE_AUTH (/env/auth)' });
    expect(resolve({}, {}, files).username).toBe('fromhome');
    expect(resolve({}, {}, { [SYSTEM_ONE_AUTH]: files[SYSTEM_ONE_AUTH] }).username).toBe('oneadmin');
    expect(() => resolve({})).toThrow(/no oned credentials/);
  });

  it('refuses credentials named by the config in a file others can read, naming chmod 600', () => {
    expect(() => resolve({ oneAuth: 'u:p', configFile: { path: '/etc/cv.json', mode: 0o100644 } })).toThrow(/mode 0644.*chmod 600 \/etc\/cv.json/);
    expect(() => resolve({ oneAuthFile: '/a' }, {}, { '/a': file('u:p', 0o100640) })).toThrow(/chmod 600 \/a/);
    expect(resolve({ oneAuthFile: '/a' }, {}, { '/a': file('u:p', 0o100400) }).username).toBe('u');
    expect(() => resolve({ oneAuthFile: '/missing' })).toThrow(/does not exist/);
    expect(() => resolve({}, { ONE_AUTH: '/missing' })).toThrow(/ONE_AUTH/);
  });

  it('never repeats what ONE_AUTH names: an operator may have written user:password there', () => {
    const message = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    };
    const fromConfig = message(() => resolve({ oneAuthFile: 'oneadmin:opennebula' }));
    const fromEnv = message(() => resolve({}, { ONE_AUTH: 'oneadmin:opennebula' }));
    for (const m of [fromConfig, fromEnv]) {
      expect(m).toMatch(/does not exist.*path of a file holding one line user:password/);
      expect(m).not.toContain('opennebula');
    }
  });

  it('reports an unreadable file only when it is the one needed', () => {
    const unreadable = { unreadable: 'EACCES: permission denied' };
    expect(resolve({}, {}, { [`${home}/.one/one_auth`]: file('u:p'), [SYSTEM_ONE_AUTH]: unreadable }).username).toBe('u');
    expect(() => resolve({}, {}, { [SYSTEM_ONE_AUTH]: unreadable })).toThrow(/cannot read \/var\/lib\/one\/.one\/one_auth: EACCES/);
  });

  it('takes the endpoint from the config, $ONE_XMLRPC, ~/.one/one_endpoint, then the default', () => {
    const auth = { oneAuth: 'u:p' };
    const endpointFile = { [`${home}/.one/one_endpoint`]: file('http://fe:2633/RPC2\n') };
    expect(resolve({ ...auth, endpoint: 'https://a/RPC2' }, { ONE_XMLRPC: 'http://b/RPC2' }, endpointFile).endpoint).toBe('https://a/RPC2');
    expect(resolve(auth, { ONE_XMLRPC: 'http://b/RPC2' }, endpointFile).endpoint).toBe('http://b/RPC2');
    expect(resolve(auth, {}, endpointFile).endpoint).toBe('http://fe:2633/RPC2');
    expect(resolve(auth).endpoint).toBe(DEFAULT_ONE_ENDPOINT);
    expect(() => resolve({ ...auth, endpoint: 'fe:2633' })).toThrow(/not an http\(s\) URL/);
  });

  it('lists exactly the files it may read', () => {
    expect(connectionCandidateFiles({ oneAuthFile: '/c' }, { ONE_AUTH: '/e' }, home)).toEqual([
      '/c',
      '/e',
      `${home}/.one/one_auth`,
      SYSTEM_ONE_AUTH,
      `${home}/.one/one_endpoint`,
    ]);
  });
});

describe('loadOneConnection (real files)', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('checks the real file mode and reads the credentials', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudvamp-auth-'));
    const authFile = join(dir, 'one_auth');
    await writeFile(authFile, 'cloudvamp:pw\n');
    await chmod(authFile, 0o644);
    await expect(loadOneConnection({ oneAuthFile: authFile }, { env: {}, home: dir })).rejects.toThrow(`chmod 600 ${authFile}`);
    await chmod(authFile, 0o600);
    await expect(loadOneConnection({ oneAuthFile: authFile }, { env: {}, home: dir })).resolves.toEqual({
      username: 'cloudvamp',
      session: 'cloudvamp:pw',
      authSource: authFile,
      endpoint: DEFAULT_ONE_ENDPOINT,
    });
  });
});
