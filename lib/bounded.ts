// At most `limit` of a list's async jobs in flight at once, in list order of
// starting. oned serves concurrent XML-RPC calls; a cycle's thousands of
// independent writes (the published figures of each resized VM) waiting for
// each other's round trips would make the cycle as long as their sum. Pure.

/** Runs `job` for every item with at most `limit` running at once; resolves when all have settled. A job's rejection is the caller's to catch inside `job`. */
export async function forEachBounded<T>(items: readonly T[], limit: number, job: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await job(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
