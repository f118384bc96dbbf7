// The HISTORY records the simulator's one.vm.migrate writes, in both modes,
// against what oned 7.4 writes (VirtualMachine::cp_history and
// cp_previous_history: a new History starts with every time 0 and ACTION 0,
// then the LCM sets STIME/RSTIME when it starts the record): the next record
// on the destination, STIME/RSTIME now (instant) or 0 until the migration
// runs (oned mode), and after a failed live migration a copy of the source's
// record, not of its prolog/epilog times.
import { afterEach, describe, expect, it } from 'vitest';
import { createOneClient } from '../../../lib/oned/client';
import { childElements, parseXmlDocument, textOf } from '../../../lib/oned/xml-tree';
import { DEFAULT_SESSION, startOnedSimulator, type OnedSimulator } from '../../support/oned-server';

const T0 = 1_800_000_000;
let sim: OnedSimulator | undefined;
let clock = T0;
afterEach(async () => {
  expect(sim?.schemaViolations).toEqual([]);
  await sim?.close();
  sim = undefined;
  clock = T0;
});

const TIMES = ['STIME', 'ETIME', 'PSTIME', 'PETIME', 'RSTIME', 'RETIME', 'ESTIME', 'EETIME', 'ACTION'] as const;
/** VM `id`'s HISTORY records as name → number (HOSTNAME as text), oldest first. */
function history(id: number): Record<string, number | string>[] {
  const records = childElements(parseXmlDocument(sim!.vmXml(id))).find((e) => e.name === 'HISTORY_RECORDS')!;
  return childElements(records).map((record) => {
    const fields: Record<string, number | string> = {};
    for (const child of childElements(record)) {
      if (['SEQ', 'HID', 'CID', ...TIMES].includes(child.name)) fields[child.name] = Number(textOf(child));
      if (child.name === 'HOSTNAME') fields[child.name] = textOf(child);
    }
    return fields;
  });
}
const zeroTimes = Object.fromEntries(TIMES.map((t) => [t, 0]));

async function simulator(migrations: 'instant' | 'oned'): Promise<OnedSimulator> {
  sim = await startOnedSimulator({ strictSchemas: true, now: () => clock, migrations });
  return sim;
}
// VM 43 (vm-running-plain.xml) runs on host 1 (kvm-node-2) in its only record, SEQ 0, deployed with a prolog.
const migrateCall = (s: OnedSimulator) =>
  createOneClient({ endpoint: s.url, session: DEFAULT_SESSION }, { timeoutMs: 5000 }).vmMigrate(43, 0, { live: true, enforce: false });

describe('one.vm.migrate: the HISTORY records', () => {
  it('instant mode closes the source record and opens the next one on the destination, started now', async () => {
    const s = await simulator('instant');
    const [source] = history(43);
    expect(source).toMatchObject({ SEQ: 0, HID: 1 });
    expect(source!.PSTIME).toBeGreaterThan(0);
    clock = T0 + 5;
    await migrateCall(s);
    const [closed, next] = history(43);
    expect(closed).toMatchObject({ SEQ: 0, HID: 1, ETIME: T0 + 5, RETIME: T0 + 5, ACTION: 2 });
    expect(next).toEqual({ ...zeroTimes, SEQ: 1, HOSTNAME: 'kvm-node-1', HID: 0, CID: 0, STIME: T0 + 5, RSTIME: T0 + 5 });
  });

  it('oned mode opens the destination record not started, then a failure copies the source record, started at the failure', async () => {
    const s = await simulator('oned');
    await migrateCall(s);
    const [source, pending] = history(43);
    expect(source).toMatchObject({ SEQ: 0, HID: 1, ETIME: 0, ACTION: 2 });
    expect(pending).toEqual({ ...zeroTimes, SEQ: 1, HOSTNAME: 'kvm-node-1', HID: 0, CID: 0 });
    clock = T0 + 3;
    s.migrationStep(43, 'migrate');
    expect(history(43)[1]).toMatchObject({ STIME: T0 + 3, RSTIME: 0 });
    clock = T0 + 9;
    s.migrationStep(43, { fail: 'No route to host' });
    const records = history(43);
    expect(records).toHaveLength(3);
    expect(records[1]).toMatchObject({ SEQ: 1, HID: 0, ETIME: T0 + 9 });
    expect(records[2]).toEqual({ ...zeroTimes, SEQ: 2, HOSTNAME: 'kvm-node-2', HID: 1, CID: 0, STIME: T0 + 9, RSTIME: T0 + 9 });
  });

  it('oned mode: a success starts the destination record and closes the source one', async () => {
    const s = await simulator('oned');
    await migrateCall(s);
    clock = T0 + 3;
    s.migrationStep(43, 'migrate');
    clock = T0 + 7;
    s.migrationStep(43, 'success');
    const [source, next] = history(43);
    expect(source).toMatchObject({ SEQ: 0, ETIME: T0 + 7, RETIME: T0 + 7 });
    expect(next).toMatchObject({ SEQ: 1, HID: 0, STIME: T0 + 3, RSTIME: T0 + 7, ETIME: 0 });
  });
});
