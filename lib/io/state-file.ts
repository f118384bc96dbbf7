// The state on disk: one JSON file replaced atomically. A write goes to a temp
// file in the same directory (same filesystem, so rename is atomic), is
// fsync'ed, renamed over the old file, and the directory is fsync'ed so the
// rename itself survives a power cut. A kill -9 at any moment therefore leaves
// either the old or the new file, never a torn one. The reader refuses a
// corrupt file loudly instead of starting empty, because starting empty would
// take every shrunk VM's current size for its original.

import { link, open, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CloudvampError } from '../errors';
import { parseState, serializeState, emptyState, type ElasticityState } from '../elasticity/state';
import type { StateStore } from '../elasticity/ports';

const TEMP_MARK = '.tmp-';

export async function writeStateFile(file: string, state: ElasticityState): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `${path.basename(file)}${TEMP_MARK}${process.pid}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(serializeState(state), 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await dirHandle.close();
  }
}

/** Absent file = first start (empty state); unreadable or corrupt = CloudvampError, never a silent reset. */
export async function readStateFile(file: string): Promise<ElasticityState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw error;
  }
  try {
    return parseState(text);
  } catch (error) {
    (error as Error).message = `${file}: ${(error as Error).message}`;
    throw error;
  }
}

/** Temp files left behind by a writer killed between open and rename. */
export async function removeStaleTemps(file: string): Promise<string[]> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}${TEMP_MARK}`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => n.startsWith(prefix));
  await Promise.all(stale.map((n) => unlink(path.join(dir, n)).catch(() => undefined)));
  return stale;
}

export const lockFileOf = (file: string) => `${file}.lock`;

/** Is there a process with this pid (EPERM: yes, another user's)? */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The single-writer lock: `<state file>.lock` holding the owner's pid. It is
 * created with its content in one step (written to a temp file, then hard-linked
 * to the lock name, which fails if the name exists), so no one ever reads a
 * half-written lock. A lock whose pid no longer runs was left by a daemon that
 * died (kill -9, power cut): it is removed and taken over. Resolves to the
 * release, which removes the lock only while it is still ours.
 * Not for NFS-shared state directories (hard links and pids are host-local).
 */
export async function lockStateFile(file: string, pid = process.pid, alive: (pid: number) => boolean = processAlive): Promise<() => Promise<void>> {
  const lock = lockFileOf(file);
  // Not named like the state's temp files: a running daemon's load() removes those.
  const temp = `${lock}.new-${pid}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  await writeFile(temp, `${pid}\n`, { mode: 0o644 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, lock);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && alive(holder)) {
        throw new CloudvampError(
          'unsafe',
          `another cloudvamp-cvem (pid ${holder}) is using the state file ${file}: stop it first (systemctl stop cloudvamp-cvem). ` +
            `If no process ${holder} is a cvem (a pid reused after a crash), remove ${lock}`,
        );
      }
      if (attempt > 0) throw new CloudvampError('unsafe', `cannot take the lock ${lock}: it keeps reappearing; is another cvem starting right now?`);
      // Stale: its owner died without releasing it.
      await unlink(lock).catch(() => undefined);
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  return async () => {
    const holder = (await readFile(lock, 'utf8').catch(() => '')).trim();
    if (holder === String(pid)) await unlink(lock).catch(() => undefined);
  };
}

/** A failed write names the file and the errno (ENOSPC, EROFS…), which is what the operator fixes. */
async function saveNaming(file: string, state: ElasticityState): Promise<void> {
  try {
    await writeStateFile(file, state);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new CloudvampError('internal', `cannot write the CVEM state file ${file}: ${e.code ?? 'error'} (${e.message})`, { cause: error });
  }
}

export function fileStateStore(file: string): StateStore<ElasticityState> {
  return {
    load: () => readStateFile(file),
    save: (state) => saveNaming(file, state),
    // Only the lock holder removes temp files: status and dry runs read
    // without the lock, and a temp file may be a running daemon's write in flight.
    lock: async () => {
      const release = await lockStateFile(file);
      await removeStaleTemps(file);
      return release;
    },
  };
}
