// The plain data every report is built from: one probe run's view of the
// host, taken by collect.ts, plus the previous cumulative CPU sample kept
// between runs (probes never sleep to sample CPU).
import type { DomainStats, NodeCpuStats, NodeInfo, NodeMemoryStats } from '../libvirt/types';
import type { KsmState, VmKsm } from './procfs';

export interface HostSnapshot {
  uri: string;
  /** wall clock of the libvirt calls, ms since the epoch */
  takenAtMs: number;
  hostname?: string;
  node?: NodeInfo;
  /** absent where the driver cannot report it (libvirt's test driver) */
  nodeMemory?: NodeMemoryStats;
  nodeCpu?: NodeCpuStats;
  /** active domains, balloon stats filled */
  domains: DomainStats[];
  /** Σ bytes over /proc/net/dev except lo; only when the URI is this machine's kernel */
  net?: { rxBytes: number; txBytes: number };
  /** `model name` of /proc/cpuinfo; only when the URI is this machine's kernel */
  cpuModelName?: string;
  /** domain UUID → the size oned believes it has (KiB), as the VMM actions recorded it; ballooned domains only */
  onedSizes?: Record<string, number>;
  /** host-wide KSM; only when the URI is this machine's kernel */
  ksm?: KsmState;
  /** domain UUID → its QEMU process's KSM figures (Linux ≥ 6.1, pid file readable) */
  vmKsm?: Record<string, VmKsm>;
  /** host pressure stall information, `some` avg60 in percent; only when the URI is this machine's kernel */
  psi?: { cpu?: number; memory?: number; io?: number };
}

/** Cumulative counters of the previous run, kept in a state file. */
export interface CpuSample {
  atMs: number;
  node?: { busyNs: number; idleNs: number };
  /** domain UUID → cpu.time (ns) */
  domains: Record<string, number>;
  /** domain UUID → Σ vCPU run-queue delay (ns) */
  delays?: Record<string, number>;
}
