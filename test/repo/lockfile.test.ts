// `npm ci` installs exactly package-lock.json and refuses a lock that does not
// match package.json, or that misses a package some locked package declares
// (other platforms' optional builds, e.g. @rollup/rollup-darwin-arm64, which
// an npm that regenerates the lock from an installed tree leaves out). This
// checks the same two things offline, in milliseconds, so a drifted lock fails
// the unit tests before it fails a fresh clone's setup.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => JSON.parse(readFileSync(path.join(root, file), 'utf8')) as Record<string, unknown>;

type Deps = Record<string, string>;
interface LockEntry {
  version?: string;
  link?: boolean;
  dependencies?: Deps;
  optionalDependencies?: Deps;
  devDependencies?: Deps;
}

/** Where node (and npm ci) would find `name` required from the package at `from` (a lock key). */
function resolves(packages: Record<string, LockEntry>, from: string, name: string): boolean {
  let dir = from;
  for (;;) {
    if (packages[`${dir === '' ? '' : `${dir}/`}node_modules/${name}`]) return true;
    if (dir === '') return false;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i < 0 ? '' : dir.slice(0, i);
  }
}

/** Every dependency and optional dependency of every locked package that the lock cannot resolve. */
export function missingFromLock(packages: Record<string, LockEntry>): string[] {
  const missing: string[] = [];
  for (const [key, entry] of Object.entries(packages)) {
    if (entry.link) continue;
    const wanted = { ...entry.dependencies, ...entry.optionalDependencies, ...(key === '' ? entry.devDependencies : {}) };
    for (const name of Object.keys(wanted)) if (!resolves(packages, key, name)) missing.push(`${name} (wanted by ${key || 'package.json'})`);
  }
  return missing.sort();
}

describe('package-lock.json', () => {
  const pkg = read('package.json') as { name: string; dependencies?: Deps; devDependencies?: Deps; optionalDependencies?: Deps };
  const lock = read('package-lock.json') as { name: string; lockfileVersion: number; packages: Record<string, LockEntry> };
  const fix = 'regenerate it: rm -rf /tmp/lock && mkdir /tmp/lock && cp package.json /tmp/lock && (cd /tmp/lock && npm install --package-lock-only) && cp /tmp/lock/package-lock.json .';

  it('records what package.json asks for, spec for spec', () => {
    const top = lock.packages[''] ?? {};
    expect({ name: lock.name, dependencies: top.dependencies ?? {}, devDependencies: top.devDependencies ?? {}, optionalDependencies: top.optionalDependencies ?? {} }, `lock drifted from package.json; ${fix}`).toEqual({
      name: pkg.name,
      dependencies: pkg.dependencies ?? {},
      devDependencies: pkg.devDependencies ?? {},
      optionalDependencies: pkg.optionalDependencies ?? {},
    });
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(3);
  });

  it("locks every package some locked package needs, other platforms' optional builds included", () => {
    expect(missingFromLock(lock.packages), `npm ci would refuse this lock; ${fix}`).toEqual([]);
  });

  it('the check itself sees a missing optional build and a nested resolution', () => {
    const packages: Record<string, LockEntry> = {
      '': { dependencies: { a: '^1' } },
      'node_modules/a': { version: '1.0.0', optionalDependencies: { '@x/a-linux': '1.0.0', '@x/a-darwin': '1.0.0' }, dependencies: { b: '^2' } },
      'node_modules/a/node_modules/b': { version: '2.0.0', dependencies: { c: '1' } },
      'node_modules/c': { version: '1.0.0' },
      'node_modules/@x/a-linux': { version: '1.0.0' },
    };
    expect(missingFromLock(packages)).toEqual(['@x/a-darwin (wanted by node_modules/a)']);
  });
});
