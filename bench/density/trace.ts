// Reading a real VM memory trace for the density benchmark, streaming: the
// shared Bitbrains month is 23 MB gzip'd, ~150 MB of text, so it is never held
// whole. Format (README "Density on a real trace"; /work/shared/traces/README.md):
// gzip'd (or plain) CSV with a header naming at least `vm`, `t` (s since the
// trace's first sample), `mem_prov_kib` (the VM's size) and `mem_use_kib`
// (what it used), one row per VM per sample, samples every `sampleS` s.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { TraceBuilder, type TraceWorkload } from './workload';

export interface TraceWindow {
  /** seconds since the trace's first sample */
  startS: number;
  lengthS: number;
  /** the trace's sampling period, s */
  sampleS: number;
}

/** Reads one window of a trace file (gzip'd when the name ends in .gz) into per-VM usage series. */
export async function readTrace(file: string, window: TraceWindow): Promise<TraceWorkload> {
  let input: Readable = createReadStream(file);
  if (file.endsWith('.gz')) input = input.pipe(createGunzip());
  return parseTrace(input, window, file);
}

/** The same, from any stream of CSV text (tests feed a string). */
export async function parseTrace(input: Readable, window: TraceWindow, name = 'trace'): Promise<TraceWorkload> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let col: { vm: number; t: number; prov: number; use: number } | undefined;
  const builder = new TraceBuilder(window.lengthS, window.sampleS);
  const end = window.startS + window.lengthS;
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (line === '') continue;
    const cells = line.split(',');
    if (!col) {
      const at = (key: string) => {
        const i = cells.indexOf(key);
        if (i < 0) throw new Error(`${name}: header lacks the '${key}' column (needs vm, t, mem_prov_kib, mem_use_kib)`);
        return i;
      };
      col = { vm: at('vm'), t: at('t'), prov: at('mem_prov_kib'), use: at('mem_use_kib') };
      continue;
    }
    const t = Number(cells[col.t]);
    if (t < window.startS || t >= end) continue;
    const vm = Number(cells[col.vm]);
    const sizeKiB = Number(cells[col.prov]);
    const useKiB = Number(cells[col.use]);
    if (![t, vm, sizeKiB, useKiB].every(Number.isFinite)) throw new Error(`${name}:${lineNo}: not a number in '${line}'`);
    builder.add(vm, t - window.startS, sizeKiB, useKiB);
  }
  if (!col) throw new Error(`${name}: empty trace (no header line)`);
  return builder.finish();
}
