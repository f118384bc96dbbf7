// Child for the crash-safety test: rewrites the state file in a tight loop,
// adding one VM per write and churning the others, until killed.
import { readStateFile, writeStateFile } from '../../../lib/io/state-file';

const file = process.argv[2]!;
const state = await readStateFile(file);
let next = Object.keys(state.vms).length;
let announced = false;
for (;;) {
  state.vms[String(next)] = { originalKiB: (next + 1) * 1024, firstSeenAt: next, strikes: 0 };
  for (const vm of Object.values(state.vms)) vm.strikes = (vm.strikes + 1) % 3;
  next++;
  await writeStateFile(file, state);
  if (!announced) {
    process.stdout.write('ready\n');
    announced = true;
  }
}
