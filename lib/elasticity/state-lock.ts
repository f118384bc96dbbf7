// One writer per state file: the daemon (and restore-all) run holding the
// store's lock, so two managers never interleave their writes of originals.

import type { StateStore } from './ports';
import type { ElasticityState } from './state';

/** Runs `body` holding the state file's single-writer lock (when the store has one); always releases it. */
export async function withStateLock<T>(store: StateStore<ElasticityState>, body: () => Promise<T>): Promise<T> {
  const release = await store.lock?.();
  try {
    return await body();
  } finally {
    await release?.();
  }
}
