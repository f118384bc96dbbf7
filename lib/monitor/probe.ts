// One probe run: which facts each probe kind needs, the state file for CPU
// deltas, and the rendering. The probes/ entries only parse argv and print.
import type { Hypervisor } from '../libvirt/types';
import { CloudvampError } from '../errors';
import type { ProbeConfig } from './config';
import { collectSnapshot, type CollectNeeds } from './collect';
import { cpuSample, hostMonitorReport, hostSystemReport, legacyReport, vmMonitorReport, vmStatusReport } from './reports';
import type { CpuSample } from './snapshot';
import { renderTemplate, templateToJson, type Template } from './template';

export type ProbeKind = 'host-system' | 'host-monitor' | 'host-beacon' | 'vm-status' | 'vm-monitor' | 'legacy';
export type OutputFormat = 'one' | 'json';

const NEEDS: Record<Exclude<ProbeKind, 'host-beacon'>, CollectNeeds> = {
  // nodeMemory: physical memory is MemTotal (see physicalMemoryKiB)
  'host-system': { node: true, nodeMemory: true, hostname: true, domains: true, cpuModel: true, onedSizes: true, sharing: true },
  'host-monitor': { node: true, nodeMemory: true, nodeCpu: true, net: true },
  'vm-status': { domains: true },
  'vm-monitor': { domains: true, onedSizes: true, vcpu: true, sharing: true },
  legacy: { node: true, hostname: true, domains: true, cpuModel: true, nodeMemory: true, nodeCpu: true, net: true, onedSizes: true, sharing: true },
};

/** Kinds whose figures are deltas over the previous run. */
const KEEPS_CPU_SAMPLE = new Set<ProbeKind>(['host-monitor', 'vm-monitor', 'legacy']);

export interface ProbeRun {
  kind: ProbeKind;
  config: ProbeConfig;
  format: OutputFormat;
  /** print the OpenNebula 4.x document (host-system only; the legacy kind always does) */
  legacy?: boolean;
  open: (uri: string) => Hypervisor;
  now: () => number;
  readProc: (file: string) => string | undefined;
  /** where the previous CPU sample is kept between runs (lib/io/probe-state.ts); undefined disables it */
  cpuSamples?: CpuSampleStore;
}

/** The previous run's cumulative CPU sample, per probe kind and libvirt URI. */
export interface CpuSampleStore {
  load(kind: ProbeKind, uri: string): CpuSample | undefined;
  save(kind: ProbeKind, uri: string, sample: CpuSample): void;
}

export function render(t: Template, format: OutputFormat): string {
  return format === 'json' ? `${JSON.stringify(templateToJson(t), null, 2)}\n` : renderTemplate(t);
}

/** Runs the probe and returns its whole stdout, or throws one CloudvampError. */
export function runProbe(run: ProbeRun): string {
  const kind: ProbeKind = run.kind === 'host-system' && (run.legacy || run.config.probeFormat === 'legacy') ? 'legacy' : run.kind;
  if (kind === 'host-beacon') {
    // any non-empty output refreshes "last monitored"; stock prints `date +%s`
    const seconds = Math.floor(run.now() / 1000);
    return run.format === 'json' ? `${JSON.stringify({ TIMESTAMP: seconds })}\n` : `${seconds}\n`;
  }
  const uri = run.config.libvirtUri;
  let hv: Hypervisor;
  try {
    hv = run.open(uri);
  } catch (error) {
    if (error instanceof CloudvampError) throw error; // the client's message already names the URI and the fix
    throw new CloudvampError(
      'hypervisor',
      `cannot connect to libvirt at ${uri}: ${error instanceof Error ? error.message : String(error)}; check that libvirtd runs and the URI (--uri or LIBVIRT_URI in cloudvamp.conf)`,
      { cause: error },
    );
  }
  try {
    const snap = collectSnapshot(hv, NEEDS[kind], {
      now: run.now,
      readProc: run.readProc,
    });
    const samples = KEEPS_CPU_SAMPLE.has(kind) ? run.cpuSamples : undefined;
    const prev = samples?.load(kind, uri);
    const opts = { overcommit: run.config.overcommit, ksmOvercommit: run.config.ksmOvercommit, maxRatio: run.config.overcommitMaxRatio };
    const report =
      kind === 'host-system'
        ? hostSystemReport(snap, opts)
        : kind === 'host-monitor'
          ? hostMonitorReport(snap, prev)
          : kind === 'vm-status'
            ? vmStatusReport(snap)
            : kind === 'vm-monitor'
              ? vmMonitorReport(snap, prev)
              : legacyReport(snap, prev, opts);
    const output = render(report, run.format);
    samples?.save(kind, uri, cpuSample(snap));
    return output;
  } catch (error) {
    if (error instanceof CloudvampError) throw error;
    throw new CloudvampError('hypervisor', `libvirt at ${uri}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    hv.close();
  }
}
