// The state on disk: one JSON file replaced atomically. A write goes to a temp
// file in the same directory (same filesystem, so rename is atomic), is
// fsync'ed, renamed over the old file, and the directory is fsync'ed so the
// rename itself survives a power cut. A kill -9 at any moment therefore leaves
// either the old or the new file, never a torn one. The reader refuses a
// corrupt file loudly instead of starting empty, because starting empty would
// take every shrunk VM's current size for its original.

import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { parseState, serializeState, emptyState, type ElasticityState } from './state';
import type { StateStore } from './ports';

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

export function fileStateStore(file: string): StateStore<ElasticityState> {
  return {
    load: async () => {
      await removeStaleTemps(file);
      return readStateFile(file);
    },
    save: (state) => writeStateFile(file, state),
  };
}
