// Writing the manager's state file from the cycle and the daemon. A write that
// fails becomes StateNotSaved, which carries the state that must be written
// before anything else changes: the cycle stops where it is, and the daemon
// writes that state again before its next cycle, so no size cloudvamp set can
// ever be taken for an original by a later adoption.

import { CloudvampError, oneLineMessage } from '../errors';
import type { StateStore } from './ports';
import type { ElasticityState } from './state';

/** The state file could not be written; `state` is what must be written before anything else changes. */
export class StateNotSaved extends CloudvampError {
  constructor(
    readonly state: ElasticityState,
    cause: unknown,
  ) {
    super('internal', `state not saved, nothing more changes until it is: ${oneLineMessage(cause)}`, { cause });
    this.name = 'StateNotSaved';
  }
}

/** store.save, its failure carrying the state to keep. */
/** Writes `state`; a failure becomes StateNotSaved carrying `keep` (what must be written before anything else changes). */
export async function persist(deps: { store: StateStore<ElasticityState> }, state: ElasticityState, keep: ElasticityState = state): Promise<void> {
  try {
    await deps.store.save(state);
  } catch (error) {
    throw new StateNotSaved(keep, error);
  }
}
