// cloudvamp: the operator's single entry point (lib/cli/cloudvamp.ts). Wires
// the real probe, elasticity-manager and planner cores; nothing else.
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { runCloudvamp } from '../lib/cli/cloudvamp';
import { runMain } from '../lib/io/run-main';
import { connectAdapters } from '../lib/oned/elasticity-connect';
import { openHypervisor } from '../lib/libvirt/client';
import { probeMain } from '../lib/monitor/command';
import { createOneClient } from '../lib/oned/client';
import { loadOneConnection } from '../lib/oned/auth';
import { planCommand } from '../lib/planning/command';

const stop = new AbortController();
// restore-all: SIGTERM/SIGINT let the step in flight (a migration, a balloon
// change) finish. Only there: every other command keeps the default (die at once).
if (process.argv[2] === 'restore-all') for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());

void runMain('cloudvamp', async () => {
  const result = await runCloudvamp(process.argv.slice(2), {
    probe: probeMain,
    // no probe directory to find cloudvamp.conf from: --config or $CLOUDVAMP_CONFIG, else the defaults
    probeEnv: { env: process.env, probePath: undefined, open: openHypervisor, now: Date.now },
    plan: planCommand,
    // the same wiring as cli/plan.ts; --apply progress goes to stderr
    planDeps: {
      readText: (path) => readFile(path, 'utf8'),
      connect: async (settings) => createOneClient(await loadOneConnection(settings)),
      progress: (line) => void process.stderr.write(`${line}\n`),
      now: Date.now,
      sleep,
    },
    cvem: {
      signal: stop.signal,
      now: Date.now,
      write: (line) => process.stdout.write(`${line}\n`),
      writeErr: (line) => process.stderr.write(`${line}\n`),
      configExists: existsSync,
      adapters: (config, log) => connectAdapters(config, log, { sleep, now: Date.now }),
    },
  });
  process.exitCode = result.exitCode;
  return result.output;
});
