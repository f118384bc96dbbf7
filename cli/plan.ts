// cloudvamp-plan: prints a migration plan for a placement strategy (dry run),
// or applies it through oned with --apply. Wires argv, stdout/stderr, the
// clock and oned; nothing else.
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile } from 'node:fs/promises';
import { runMain } from '../lib/io/run-main';
import { loadOneConnection } from '../lib/oned/auth';
import { createOneClient } from '../lib/oned/client';
import { planCommand } from '../lib/planning/command';

void runMain('cloudvamp-plan', async () => {
  const result = await planCommand(process.argv.slice(2), {
    readText: (path) => readFile(path, 'utf8'),
    connect: async (settings) => createOneClient(await loadOneConnection(settings)),
    progress: (line) => void process.stderr.write(`${line}\n`),
    now: Date.now,
    sleep,
  });
  process.exitCode = result.exitCode;
  return result.output;
});
