import { describe, expect, it } from 'vitest';
import { applyPlan, describeReport, type ApplyEvent } from '../../../lib/planning/apply';
import { sequence } from '../../../lib/planning/sequencer';
import type { Wave } from '../../../lib/planning/model';
import { cluster, constraints, GiB, host, placement, vm } from './builders';
import { InMemoryGateway } from './in-memory-gateway';

// The swap with a spare host: stage 10 on h3, move 11 to h1, bring 10 to h2.
const c = cluster([host(1, 16), host(2, 16), host(3, 16)], [[vm(10, 12), 1], [vm(11, 12), 2]]);
const waves = (): Wave[] => [
  [{ vm: 10, from: 1, to: 3, cost: 12 * GiB, staging: true }],
  [{ vm: 11, from: 2, to: 1, cost: 12 * GiB }],
  [{ vm: 10, from: 3, to: 2, cost: 12 * GiB }],
];

describe('applyPlan', () => {
  it('the sequencer plans the swap in three single-move waves', () => {
    const result = sequence(c, placement([[10, 2], [11, 1]]), constraints());
    expect(result.ok && result.waves.map((w) => w.length)).toEqual([1, 1, 1]);
  });

  it('runs every wave in order, live, reading fresh state before each', async () => {
    const gateway = new InMemoryGateway(c);
    const events: ApplyEvent[] = [];
    const report = await applyPlan({ waves: waves() }, gateway, constraints(), (e) => events.push(e));
    expect(report).toEqual({ done: waves().flat(), failed: [], notStarted: [] });
    expect(gateway.migrations).toEqual([{ vm: 10, to: 3, live: true }, { vm: 11, to: 1, live: true }, { vm: 10, to: 2, live: true }]);
    expect(gateway.reads).toBe(3);
    expect([gateway.where(10), gateway.where(11)]).toEqual([2, 1]);
    expect(events.map((e) => e.type)).toEqual(['wave-start', 'move-start', 'move-done', 'wave-start', 'move-start', 'move-done', 'wave-start', 'move-start', 'move-done']);
  });

  it('stops on the first failed migration and says what was done', async () => {
    const gateway = new InMemoryGateway(c, { failVm: 11 });
    const report = await applyPlan({ waves: waves() }, gateway, constraints());
    expect(report.done.map((m) => m.vm)).toEqual([10]);
    expect(report.failed).toMatchObject([{ move: { vm: 11 }, reason: expect.stringContaining('refused the connection') }]);
    expect(report.notStarted.map((m) => m.vm)).toEqual([10]);
    expect(report.stoppedAtWave).toBe(2);
    expect(describeReport(report)).toContain('1 migrations done, 1 failed, 1 not started');
  });

  it('does not start a move whose VM was moved by someone else since the plan', async () => {
    const gateway = new InMemoryGateway(c, { beforeRead: (read, g) => read === 2 && g.moveBehindTheBack(11, 3) });
    const report = await applyPlan({ waves: waves() }, gateway, constraints());
    expect(report.failed).toMatchObject([{ move: { vm: 11 }, reason: 'VM 11 is now on host 3, not 2: take a fresh plan' }]);
    expect(gateway.migrations).toHaveLength(1);
  });

  it('does not start a wave whose destination no longer has room', async () => {
    const roomy = cluster([host(1, 16), host(2, 16)], [[vm(10, 4), 1], [vm(11, 8), 2]]);
    const plan = { waves: [[{ vm: 10, from: 1, to: 2, cost: 4 * GiB }]] };
    const gateway = new InMemoryGateway(roomy, { beforeRead: (_, g) => g.growVm(11, 14 * GiB) });
    const report = await applyPlan(plan, gateway, constraints());
    expect(report.failed[0]?.reason).toMatch(/^host 2 would hold 18432 MiB/);
    expect(gateway.migrations).toEqual([]);
  });

  it('stops safely when the cluster cannot be read', async () => {
    const gateway = new InMemoryGateway(c, {
      beforeRead: (read) => {
        if (read === 2) throw new Error('oned unreachable');
      },
    });
    const report = await applyPlan({ waves: waves() }, gateway, constraints());
    expect(report.done).toHaveLength(1);
    expect(report.notStarted).toHaveLength(2);
    expect(report.stopReason).toBe('could not read the cluster before wave 2: oned unreachable');
  });

  it('does nothing for an infeasible plan', async () => {
    const gateway = new InMemoryGateway(c);
    const report = await applyPlan({ waves: [], infeasible: { reason: 'deadlock', message: '', vms: [], hosts: [] } }, gateway, constraints());
    expect(report).toEqual({ done: [], failed: [], notStarted: [] });
    expect(gateway.reads).toBe(0);
  });
});
