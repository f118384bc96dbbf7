// cloudvamp-plan: prints a migration plan (dry run) for a placement strategy.
import { readFile } from 'node:fs/promises';
import { runMain } from '../lib/cli/run';
import { planCommand } from '../lib/planning/command';

void runMain('cloudvamp-plan', () => planCommand(process.argv.slice(2), { readText: (path) => readFile(path, 'utf8') }));
