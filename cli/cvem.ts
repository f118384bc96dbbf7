// cloudvamp-cvem: the elasticity manager daemon (lib/elasticity/command.ts).
// Wires argv, stdout, SIGTERM/SIGINT and the real adapters; nothing else.
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { runMain } from '../lib/io/run-main';
import { runCvem } from '../lib/elasticity/command';
import { connectAdapters } from '../lib/oned/elasticity-connect';

const stop = new AbortController();
// SIGTERM lets the step in flight (a migration, a balloon change) finish, then the loop exits.
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());

void runMain('cloudvamp-cvem', () =>
  runCvem(process.argv.slice(2), {
    signal: stop.signal,
    now: Date.now,
    write: (line) => process.stdout.write(`${line}\n`),
    writeErr: (line) => process.stderr.write(`${line}\n`),
    configExists: existsSync,
    adapters: (config, log) => connectAdapters(config, log, { sleep, now: Date.now }),
  }),
);
