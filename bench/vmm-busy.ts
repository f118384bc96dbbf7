// `npm run bench -- vmm-busy`: balloon resizes and live migrations of a quiet
// guest, first beside a quiet neighbour (the reference) and then beside a busy
// one (the agent rewriting its held memory and spinning a vCPU), in one run on
// the two harness hosts; and balloon resizes of the busy guest itself against
// the quiet guest's. The busy guest never migrates: TCG on QEMU 7.2 corrupts
// guests that write memory during a live migration (real KVM hosts do not).
// Needs the harness (test/harness; `sudo bash scripts/setup-kvm.sh` once).
import { loadavg } from 'node:os';
import { execFileSync } from 'node:child_process';
import { agent, destroyGuest, findGuest, HOST_PREFIX, hostName, startGuest } from '../test/harness/index.js';
import { summary, timedAction, withVmmHosts } from './vmm';

const MiB = 1024; // KiB
const REPEAT = 2;
const SIZE_MIB = 256;
const SHRINK_MIB = 128;
const HOLD_MIB = 48;
const DIRTY_MIB_S = 32;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const out = (s: string) => process.stdout.write(s);

export async function run(): Promise<void> {
  const quiet = `${HOST_PREFIX}-quiet`;
  const busy = `${HOST_PREFIX}-busy`;
  await withVmmHosts(async ({ acc, remotes, configs }) => {
    try {
      const libvirt = execFileSync('libvirtd', ['--version'], { encoding: 'utf8' }).trim();
      out(`# vmm-busy: ${libvirt}, node ${process.version}, guests ${acc === 'qemu' ? 'TCG (software emulation)' : 'KVM'}, 1 vCPU, ${SIZE_MIB} MiB, ${HOLD_MIB} MiB held; load average ${load()}\n`);
      out(`# busy = the neighbour's agent rewrites its ${HOLD_MIB} MiB at ${DIRTY_MIB_S} MiB/s and spins its vCPU; whole action processes\n`);

      for (const name of [quiet, busy]) {
        await startGuest(1, { name, maxMiB: SIZE_MIB, currentMiB: SIZE_MIB, accel: acc });
        await agent(name, 1, `hold ${HOLD_MIB}`);
      }

      const balloon = async (name: string) => {
        const shrink: number[] = [];
        const grow: number[] = [];
        for (let i = 0; i < REPEAT; i++) {
          shrink.push((await timedAction(remotes, configs[0]!, 'memory', [name, String(SHRINK_MIB * MiB), hostName(1)])).wallMs);
          grow.push((await timedAction(remotes, configs[0]!, 'memory', [name, String(SIZE_MIB * MiB), hostName(1)])).wallMs);
        }
        return { shrink, grow };
      };
      const migrate = async (name: string) => {
        const there: number[] = [];
        const back: number[] = [];
        for (let i = 0; i < REPEAT; i++) {
          there.push((await timedAction(remotes, configs[0]!, 'migrate', [name, hostName(2), hostName(1), '0', hostName(1)])).wallMs);
          back.push((await timedAction(remotes, configs[1]!, 'migrate', [name, hostName(1), hostName(2), '0', hostName(2)])).wallMs);
        }
        if ((await findGuest(name)) !== 1) throw new Error(`${name} is not back on host 1 after the migrations`);
        return { there, back };
      };

      const line = (what: string, xs: number[], refXs: number[]) =>
        out(`${what.padEnd(40)} ${summary(xs)}   ratio ${(median(xs) / median(refXs)).toFixed(2)}x\n`);
      const report = (title: string, b: { shrink: number[]; grow: number[] }, m: { there: number[]; back: number[] } | undefined, r: typeof ref) => {
        out(title);
        line(`  balloon ${SIZE_MIB} -> ${SHRINK_MIB} MiB`, b.shrink, r.balloon.shrink);
        line(`  balloon ${SHRINK_MIB} -> ${SIZE_MIB} MiB`, b.grow, r.balloon.grow);
        if (m) line('  live migration h1 -> h2', m.there, r.migrate.there);
        if (m) line('  live migration h2 -> h1', m.back, r.migrate.back);
      };
      const ref = { balloon: await balloon(quiet), migrate: await migrate(quiet) };
      report('\nquiet guest, neighbour quiet (reference):\n', ref.balloon, ref.migrate, ref);
      await agent(busy, 1, `dirty ${DIRTY_MIB_S}`);
      await agent(busy, 1, 'spin 600');
      const beside = { balloon: await balloon(quiet), migrate: await migrate(quiet) };
      report('quiet guest, neighbour busy (ratio to the reference):\n', beside.balloon, beside.migrate, ref);
      // The busy guest's own balloon may not reach the target: its one vCPU is
      // spinning, so the balloon driver gets little time. That is a result.
      try {
        report("busy guest itself (ratio to the quiet guest's reference):\n", await balloon(busy), undefined, ref);
      } catch (error) {
        out(`busy guest itself: ${(error as Error).message}\n`);
      }
      // its agent shares the starved vCPU and may not answer either
      const status = await agent(busy, 1, 'status', 5_000).catch((error: Error) => error.message);
      out(`busy guest's agent at the end: ${typeof status === 'string' ? status : JSON.stringify(status)}\n`);
      out(`# load average after: ${load()}\n`);
    } finally {
      await destroyGuest(quiet).catch(() => undefined);
      await destroyGuest(busy).catch(() => undefined);
    }
  });
}
