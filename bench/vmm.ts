// `npm run bench -- vmm`: the VMM actions on real guests between the two
// harness hosts (test/harness; needs root, run `sudo bash scripts/setup-kvm.sh`
// once). Times, per guest size:
//   * a balloon resize, request to settled guest (`memory` action: the whole
//     process, and its own SETTLE_MS from setting the target to `actual` = target);
//   * a live migration host 1 -> host 2 and back (`migrate` action: the whole
//     process, and the migration itself as the action reports it).
// Guests are quiet while they migrate live (TCG on QEMU 7.2 corrupts guests
// that write memory during a live migration; real KVM hosts do not have this).
import { writeFileSync } from 'node:fs';
import {
  type Accel,
  accel,
  agent,
  checkPrerequisites,
  destroyGuest,
  ensureGuestBuilt,
  findGuest,
  hostName,
  hostsDown,
  hostsUp,
  hostUri,
  lockHostSet,
  startGuest,
  STATE_DIR,
} from '../test/harness/index.js';
import { makeRemotes, runAction, type Remotes } from '../test/vmm/remotes';

const MiB = 1024; // KiB
const REPEAT = 3;

interface Guest {
  name: string;
  sizeMiB: number;
  /** memory the agent holds (touched pages) so the copy has real data */
  holdMiB: number;
  /** balloon target for the shrink */
  shrinkMiB: number;
}

const GUESTS: Guest[] = [
  { name: 'cvb-vmm-256', sizeMiB: 256, holdMiB: 32, shrinkMiB: 128 },
  { name: 'cvb-vmm-1024', sizeMiB: 1024, holdMiB: 256, shrinkMiB: 512 },
];

export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
export function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `median ${seconds(median)} (min ${seconds(sorted[0]!)}, max ${seconds(sorted.at(-1)!)}, n=${values.length})`;
}

export async function timedAction(remotes: Remotes, config: string, action: string, args: string[]) {
  const t0 = performance.now();
  const r = await runAction(remotes, action, args, { env: { CLOUDVAMP_VMM_CONFIG: config }, timeoutMs: 300_000 });
  const wallMs = performance.now() - t0;
  if (r.exitCode !== 0) throw new Error(`${action} ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return { wallMs, stdout: r.stdout, stderr: r.stderr };
}

/** What a VMM bench runs on: the accelerator, the actions' remotes, and the VMM config of host 1 and of host 2. */
export interface VmmHosts {
  acc: Accel;
  remotes: Remotes;
  /** CLOUDVAMP_VMM_CONFIG files: [host 1, host 2] */
  configs: string[];
}

/**
 * The set-up both VMM benches share: the harness's host-set lock, the guest
 * built, two fresh libvirt hosts, the VMM actions' remotes and one config per
 * host (p2p over TCP, as between OpenNebula hosts). `body` runs on them; the
 * remotes, the hosts and the lock go whatever happens.
 */
export async function withVmmHosts(body: (hosts: VmmHosts) => Promise<void>): Promise<void> {
  const unlock = await lockHostSet(STATE_DIR, 'kvm');
  let remotes: Remotes | undefined;
  try {
    await checkPrerequisites();
    await ensureGuestBuilt();
    const acc = await accel();
    await hostsDown();
    await hostsUp(2);
    remotes = await makeRemotes();
    const configs = [1, 2].map((h) => {
      const file = remotes!.file(`h${h}.conf`);
      writeFileSync(file, `LIBVIRT_URI="${hostUri(h)}"\nQEMU_PROTOCOL=qemu+tcp\nMIGRATE_OPTIONS=--p2p\nMEMORY_FLOOR_MIB=64\nBALLOON_SETTLE_TIMEOUT=60\n`);
      return file;
    });
    await body({ acc, remotes, configs });
  } finally {
    remotes?.cleanup();
    await hostsDown().catch(() => undefined);
    await unlock();
  }
}

export async function run(): Promise<void> {
  await withVmmHosts(async ({ acc, remotes, configs }) => {
    process.stdout.write(`guests: ${acc === 'qemu' ? 'TCG (software emulation)' : 'KVM'}, 1 vCPU, quiet while migrating; times are whole action processes unless marked\n`);

    for (const g of GUESTS) {
      await startGuest(1, { name: g.name, maxMiB: g.sizeMiB, currentMiB: g.sizeMiB, accel: acc });
      await agent(g.name, 1, `hold ${g.holdMiB}`);
      try {
        const shrink: number[] = [];
        const shrinkSettle: number[] = [];
        const grow: number[] = [];
        const growSettle: number[] = [];
        for (let i = 0; i < REPEAT; i++) {
          for (const [target, walls, settles] of [
            [g.shrinkMiB, shrink, shrinkSettle],
            [g.sizeMiB, grow, growSettle],
          ] as const) {
            const r = await timedAction(remotes, configs[0]!, 'memory', [g.name, String(target * MiB), hostName(1)]);
            walls.push(r.wallMs);
            settles.push(Number(/SETTLE_MS=(\d+)/.exec(r.stdout)?.[1] ?? NaN));
          }
        }
        process.stdout.write(
          `balloon ${g.sizeMiB} MiB guest (${g.holdMiB} MiB held), ${g.sizeMiB} -> ${g.shrinkMiB} MiB: ${summary(shrink)}; settle only ${summary(shrinkSettle)}\n` +
            `balloon ${g.sizeMiB} MiB guest (${g.holdMiB} MiB held), ${g.shrinkMiB} -> ${g.sizeMiB} MiB: ${summary(grow)}; settle only ${summary(growSettle)}\n`,
        );

        const there: number[] = [];
        const back: number[] = [];
        const inner: number[] = [];
        for (let i = 0; i < REPEAT; i++) {
          for (const [from, to, walls] of [
            [1, 2, there],
            [2, 1, back],
          ] as const) {
            const r = await timedAction(remotes, configs[from - 1]!, 'migrate', [g.name, hostName(to), hostName(from), '0', hostName(from)]);
            walls.push(r.wallMs);
            const m = /now runs on .* after ([\d.]+) s/.exec(r.stderr);
            if (m) inner.push(Number(m[1]) * 1000);
          }
        }
        if ((await findGuest(g.name)) !== 1) throw new Error(`${g.name} is not back on host 1 after the migrations`);
        process.stdout.write(
          `live migration ${g.sizeMiB} MiB guest (${g.holdMiB} MiB held), h1 -> h2: ${summary(there)}\n` +
            `live migration ${g.sizeMiB} MiB guest (${g.holdMiB} MiB held), h2 -> h1: ${summary(back)}\n` +
            `live migration ${g.sizeMiB} MiB guest, migration call only (both ways): ${summary(inner)}\n`,
        );
      } finally {
        await destroyGuest(g.name);
      }
    }
  });
}
