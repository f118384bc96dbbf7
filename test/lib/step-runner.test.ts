import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runSteps, type StepOutcome, type StepPorts } from '../../lib/step-runner';

/** How one scripted step behaves at each stage. */
interface Script {
  id: number;
  blocked: boolean;
  stopAsked: boolean;
  readFails: boolean;
  refused: boolean;
  actThrows: boolean;
  /** the act resolves but says it did not fully succeed (a wave with a failed migration) */
  actPartial: boolean;
}

/** Ports driven by the scripts, keeping a journal of every call. */
function scripted(onFailure: 'stop' | 'continue') {
  const journal: string[] = [];
  const recorded: Array<StepOutcome<Script, string, string>> = [];
  const ports: StepPorts<Script, string, string, string> = {
    onFailure,
    blocked: (s) => (journal.push(`blocked? ${s.id}`), s.blocked ? `step ${s.id} waits on another` : undefined),
    shouldStop: () => false,
    read: async (s) => {
      journal.push(`read ${s.id}`);
      if (s.readFails) throw new Error(`cannot read for ${s.id}`);
      return `fresh ${s.id}`;
    },
    recheck: (s, fresh) => (journal.push(`recheck ${s.id} on ${fresh}`), s.refused ? `step ${s.id} no longer holds` : undefined),
    act: async (s) => {
      journal.push(`act ${s.id}`);
      if (s.actThrows) throw new Error(`act ${s.id} failed`);
      return s.actPartial ? 'partial' : 'ok';
    },
    succeeded: (result) => result === 'ok',
    record: (o) => void recorded.push(o),
  };
  return { journal, recorded, ports };
}

const script = (id: number, over: Partial<Script> = {}): Script => ({ id, blocked: false, stopAsked: false, readFails: false, refused: false, actThrows: false, actPartial: false, ...over });

describe('runSteps', () => {
  it('reads, re-checks and acts on each step in order, recording each outcome', async () => {
    const { journal, recorded, ports } = scripted('stop');
    let t = 100;
    const out = await runSteps([script(1), script(2)], { ...ports, now: () => (t += 5) });
    expect(journal).toEqual(['blocked? 1', 'read 1', 'recheck 1 on fresh 1', 'act 1', 'blocked? 2', 'read 2', 'recheck 2 on fresh 2', 'act 2']);
    expect(recorded).toEqual(out);
    expect(out.map((o) => [o.kind, o.index, o.kind === 'acted' && o.ok, o.kind === 'acted' && o.ms])).toEqual([['acted', 0, true, 5], ['acted', 1, true, 5]]);
  });

  it('stop on failure: a refused step stops the run, the rest never read nor act', async () => {
    const { journal, recorded, ports } = scripted('stop');
    await runSteps([script(1), script(2, { refused: true }), script(3)], ports);
    expect(journal).toEqual(['blocked? 1', 'read 1', 'recheck 1 on fresh 1', 'act 1', 'blocked? 2', 'read 2', 'recheck 2 on fresh 2']);
    expect(recorded.map((o) => o.kind)).toEqual(['acted', 'refused', 'not-started']);
    expect(recorded[1]).toMatchObject({ kind: 'refused', refusal: 'step 2 no longer holds' });
  });

  it('stop on failure: an act that resolves as not fully done stops the run too', async () => {
    const { recorded, ports } = scripted('stop');
    await runSteps([script(1, { actPartial: true }), script(2)], ports);
    expect(recorded.map((o) => [o.kind, o.kind === 'acted' && o.ok])).toEqual([['acted', false], ['not-started', false]]);
  });

  it('go on after failure: every step gets its own chance', async () => {
    const { journal, recorded, ports } = scripted('continue');
    await runSteps([script(1, { readFails: true }), script(2, { actThrows: true }), script(3, { blocked: true }), script(4)], ports);
    expect(recorded.map((o) => o.kind)).toEqual(['unread', 'failed', 'blocked', 'acted']);
    expect(journal.filter((j) => j.startsWith('act'))).toEqual(['act 2', 'act 4']);
    expect(recorded[0]).toMatchObject({ kind: 'unread', error: new Error('cannot read for 1') });
  });

  it('a stop request is checked before each step, after blocked and before the read', async () => {
    const { journal, recorded, ports } = scripted('continue');
    let stop = false;
    await runSteps([script(1), script(2, { blocked: true }), script(3)], { ...ports, shouldStop: () => stop, record: (o) => (recorded.push(o), (stop = true)) });
    expect(recorded.map((o) => o.kind)).toEqual(['acted', 'blocked', 'stopped']);
    expect(journal).not.toContain('read 3');
  });

  it('property: never acts on a step that was blocked, stopped, unread or refused, nor after a failure when told to stop; records every step once, in order, and acted on exactly the steps recorded as acted or failed', async () => {
    const step = fc.record({ blocked: fc.boolean(), stopAsked: fc.boolean(), readFails: fc.boolean(), refused: fc.boolean(), actThrows: fc.boolean(), actPartial: fc.boolean() }, { noNullPrototype: true });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 12 }), fc.constantFrom('stop' as const, 'continue' as const), async (raw, onFailure) => {
        const steps = raw.map((s, id) => ({ id, ...s }));
        const { journal, recorded, ports } = scripted(onFailure);
        let current = -1;
        const acted: number[] = [];
        const out = await runSteps(steps, {
          ...ports,
          blocked: (s) => ((current = s.id), ports.blocked!(s)),
          shouldStop: () => steps[current]!.stopAsked,
          act: (s) => (acted.push(s.id), ports.act(s)),
        });
        // Every step recorded exactly once, in order, and the returned outcomes are the recorded ones.
        expect(recorded.map((o) => o.index)).toEqual(steps.map((_, i) => i));
        expect(recorded.map((o) => o.step)).toEqual(steps);
        expect(out).toEqual(recorded);
        // Acted on exactly the steps recorded as acted or failed, and only on those whose every check passed.
        expect(acted).toEqual(recorded.filter((o) => o.kind === 'acted' || o.kind === 'failed').map((o) => o.step.id));
        for (const id of acted) expect(steps[id]).toMatchObject({ blocked: false, stopAsked: false, readFails: false, refused: false });
        // Nothing is read for a blocked or stopped step; nothing re-checked after a failed read.
        for (const o of recorded) {
          const id = o.step.id;
          if (o.kind === 'blocked' || o.kind === 'stopped' || o.kind === 'not-started') expect(journal).not.toContain(`read ${id}`);
          if (o.kind === 'unread') expect(journal.some((j) => j.startsWith(`recheck ${id} `))).toBe(false);
        }
        // The outcome each step's script calls for (until a stop on failure ends the run).
        let ended = false;
        recorded.forEach((o, i) => {
          const s = steps[i]!;
          const expected = ended
            ? 'not-started'
            : s.blocked
              ? 'blocked'
              : s.stopAsked
                ? 'stopped'
                : s.readFails
                  ? 'unread'
                  : s.refused
                    ? 'refused'
                    : s.actThrows
                      ? 'failed'
                      : 'acted';
          expect(o.kind).toBe(expected);
          const succeeded = o.kind === 'acted' && o.ok;
          if (o.kind === 'acted') expect(o.ok).toBe(!s.actPartial);
          if (onFailure === 'stop' && !succeeded) ended = true;
        });
        // Stopping on failure: after the first step that did not succeed, nothing acts.
        if (onFailure === 'stop') {
          const first = recorded.findIndex((o) => !(o.kind === 'acted' && o.ok));
          if (first >= 0) expect(acted.every((id) => id <= first)).toBe(true);
        } else expect(recorded.some((o) => o.kind === 'not-started')).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('property, in lanes: at most `concurrency` steps in flight, never two of a lane, a lane\'s steps in order; every step recorded once, the result in step order, never acting on a refused one', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ lane: fc.nat({ max: 4 }), ticks: fc.nat({ max: 3 }), refused: fc.boolean() }), { maxLength: 30 }),
        fc.integer({ min: 2, max: 6 }),
        async (specs, concurrency) => {
          const inLane = new Map<number, number>();
          let inFlight = 0;
          let most = 0;
          const started: number[] = [];
          const acted: number[] = [];
          const recorded: number[] = [];
          const ticks = async (n: number) => {
            for (let t = 0; t <= n; t++) await Promise.resolve();
          };
          const steps = specs.map((spec, id) => ({ ...spec, id }));
          const out = await runSteps(steps, {
            onFailure: 'continue',
            parallel: { concurrency, lane: (s) => s.lane },
            read: async (s) => {
              started.push(s.id);
              inFlight++;
              most = Math.max(most, inFlight);
              inLane.set(s.lane, (inLane.get(s.lane) ?? 0) + 1);
              expect(inLane.get(s.lane)).toBe(1);
              await ticks(s.ticks);
              return s.id;
            },
            recheck: (s) => {
              if (!s.refused) return undefined;
              inFlight--;
              inLane.set(s.lane, inLane.get(s.lane)! - 1);
              return 'no';
            },
            act: async (s) => {
              await ticks(s.ticks);
              acted.push(s.id);
              inFlight--;
              inLane.set(s.lane, inLane.get(s.lane)! - 1);
            },
            record: (o) => void recorded.push(o.step.id),
          });
          expect(most).toBeLessThanOrEqual(concurrency);
          expect([...recorded].sort((a, b) => a - b)).toEqual(steps.map((s) => s.id));
          expect(out.map((o) => o.index)).toEqual(steps.map((s) => s.id));
          expect(acted.sort((a, b) => a - b)).toEqual(steps.filter((s) => !s.refused).map((s) => s.id));
          for (let lane = 0; lane <= 4; lane++) {
            const mine = started.filter((id) => steps[id]!.lane === lane);
            expect(mine).toEqual([...mine].sort((a, b) => a - b));
          }
          // with distinct lanes available, more than one step really runs at once
          if (new Set(steps.map((s) => s.lane)).size >= 2 && steps.every((s) => !s.refused)) expect(most).toBeGreaterThan(1);
        },
      ),
    );
  });

  it('in lanes only when going on after failure', async () => {
    const { ports } = scripted('stop');
    await expect(runSteps([script(1)], { ...ports, parallel: { concurrency: 2, lane: () => 0 } })).rejects.toThrow(/onFailure 'continue'/);
  });
});
