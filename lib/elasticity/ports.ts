// The elasticity manager's narrow view of the outside world. The pure core
// (policy, state, simulate) only sees these plain objects; adapters build them
// from OpenNebula (lib/oned/elasticity-ports.ts) and tests build them with
// small builders. Memory is KiB everywhere, times are epoch milliseconds.

/** Guest figures from the virtio balloon (libvirt balloon.available / balloon.usable). */
export interface BalloonFigures {
  /** balloon.available: the guest's MemTotal as the balloon driver reports it */
  availableKiB: number;
  /** balloon.usable: the guest's MemAvailable */
  usableKiB: number;
  /**
   * when the guest last refreshed the stats (epoch ms): libvirt's
   * balloon.last-update (BALLOON_LAST_UPDATE), else the monitoring record's time
   */
  updatedAt?: number;
  /** updatedAt is the guest's own stats time (BALLOON_LAST_UPDATE), not only when the record was taken */
  guestStamped?: boolean;
}

/** Figures a guest published through OneGate into USER_TEMPLATE (MEM_TOTAL / MEM_FREE, KiB). */
export interface OneGateFigures {
  memTotalKiB: number;
  memFreeKiB: number;
  /** MEM_STAMP (epoch ms) if the reporter sent one; CloudVAMP's 2015 reporter did not */
  updatedAt?: number;
}

/** Per-VM overrides read from USER_TEMPLATE (CloudVAMP's names). */
export interface VmOverrides {
  /** USER_TEMPLATE/MEM_OVER, percent */
  memOverPercent?: number;
  /** USER_TEMPLATE/MIN_FREE_MEM, KiB */
  minFreeKiB?: number;
}

/** The guest's cumulative pressure counters (vm/monitor: GUEST_SWAP_IN, GUEST_MAJOR_FAULTS) and when they were sampled. */
export interface GuestCounters {
  swapInKiB?: number;
  majorFaults?: number;
  /** epoch ms */
  at: number;
}

export interface VmView {
  id: number;
  name: string;
  uid?: number;
  /** Host the VM runs on (last HISTORY), null when it has none. */
  hostId: number | null;
  hostName: string | null;
  /** libvirt domain name (DEPLOY_ID), needed by the memory action */
  deployId: string;
  /** LCM RUNNING: only these are resized or migrated */
  running: boolean;
  /** USER_TEMPLATE CLOUDVAMP_PINNED=YES: resized, never migrated (lib/oned/cloud.ts) */
  pinned?: boolean;
  /** TEMPLATE/CPU in hundredths of a core (oned's HOST_SHARE unit); absent counts as 0 */
  cpu?: number;
  /** TEMPLATE/MEMORY in KiB */
  templateMemoryKiB: number;
  /** Memory the VM holds now (balloon target; TEMPLATE/MEMORY in resize mode). */
  currentKiB: number;
  /**
   * In resize mode, where currentKiB is oned's MEMORY (set at once), the
   * balloon's monitored size (REALMEMORY), which gets there only as the guest
   * inflates or deflates it (guest-figures.ts balloonMoving); absent otherwise
   */
  balloonKiB?: number;
  /** oned's copy of the original size (USER_TEMPLATE/CLOUDVAMP_ORIGINAL_MEMORY, KiB), if recorded */
  recordedOriginalKiB?: number;
  /** the last size cloudvamp set and published (USER_TEMPLATE/CLOUDVAMP_MEMORY, KiB), if any */
  cloudvampSetKiB?: number;
  balloon?: BalloonFigures;
  /** absent when the probe reports neither counter */
  counters?: GuestCounters;
  onegate?: OneGateFigures;
  overrides: VmOverrides;
}

export interface HostView {
  id: number;
  name: string;
  clusterId: number;
  /** MONITORED only (lib/oned/cloud.ts receivesVms): only such hosts receive migrations */
  enabled: boolean;
  /** HOST_SHARE/TOTAL_CPU, hundredths of a core; absent: CPU is not checked */
  cpu?: number;
  /** Physical memory (HOST_SHARE/TOTAL_MEM), KiB */
  totalKiB: number;
  /** Monitored free memory (MONITORING/CAPACITY/FREE_MEMORY), KiB, if known */
  freeKiB?: number;
  /** when freeKiB was measured (MONITORING/TIMESTAMP, epoch ms), if known */
  freeAt?: number;
  /**
   * The host's reserve keys as its TEMPLATE holds them (raw text: KiB, "N%", or
   * absent/empty): RESERVED_MEM, which oned subtracts (MAX_MEM = TOTAL_MEM −
   * RESERVED_MEM); CLOUDVAMP_RESERVED_MEM, the RESERVED_MEM cloudvamp last
   * wrote; CLOUDVAMP_BASE_RESERVED_MEM, the operator's own reserve cloudvamp
   * adds its regrowth reserve to (lib/elasticity/host-reserve.ts).
   */
  reserve?: HostReserveKeys;
  /** the host's IM_MAD and VM_MAD (absent in test doubles: treated as cloudvamp's) */
  drivers?: { im: string; vm: string };
}

/** Opt-in KSM tuning of the hosts (KSM_COMMAND): the adapter decides with lib/memory/ksm-policy.ts and runs the `ksm` action where it changed. */
export interface KsmTuner {
  tuneHosts(hosts: readonly HostView[]): Promise<void>;
}

export interface HostReserveKeys {
  reservedMem?: string;
  publishedReservedMem?: string;
  baseReservedMem?: string;
}

export interface ClusterView {
  /** Every VM that still exists (any state but DONE): a VM absent from here is forgotten. */
  vms: VmView[];
  hosts: HostView[];
}

export interface ClusterSource {
  snapshot(): Promise<ClusterView>;
  /**
   * `base` with only these VMs and hosts read again (one.vm.info, one.host.info):
   * the re-check before a step costs O(what the step touches), not a pool read.
   * A VM oned no longer has is dropped. Absent: the applier takes a whole snapshot.
   */
  refresh?(base: ClusterView, vmIds: readonly number[], hostIds: readonly number[]): Promise<ClusterView>;
  /**
   * Every VM's state, host and size, no hosts (`hosts: []`) and no USER_TEMPLATE
   * figures: what the re-check of a wave of shrinks reads (one.vmpool.info short
   * bodies + one.vmpool.monitoring), cheaper than a whole snapshot. Absent: a snapshot.
   */
  vmStates?(): Promise<ClusterView>;
}

export interface MemoryApplier {
  /** Sets the VM's memory to `kib` live. Rejects with a CloudvampError when it could not. */
  setMemory(vm: VmView, kib: number): Promise<void>;
}

export interface Migrator {
  /** Live-migrates and resolves once the VM runs on `hostId` (or rejects). */
  migrateLive(vmId: number, hostId: number): Promise<void>;
}

/** Figures CVEM used for a decision, published into the VM's USER_TEMPLATE. */
export type PublishedFigures = Record<string, string | number>;

export interface Publisher {
  publish(vmId: number, figures: PublishedFigures): Promise<void>;
  /**
   * Writes the VM's original size into oned (USER_TEMPLATE/CLOUDVAMP_ORIGINAL_MEMORY,
   * merge) and reads it back; rejects unless oned holds exactly `kib` afterwards.
   */
  recordOriginal(vmId: number, kib: number): Promise<void>;
}

/** Writes a host's reserve keys into its TEMPLATE (one.host.update, merge). */
export interface HostReservePublisher {
  publishHostReserve(hostId: number, template: Readonly<Record<string, string | number>>): Promise<void>;
}

export interface StateStore<S> {
  load(): Promise<S>;
  save(state: S): Promise<void>;
  /**
   * Takes the single-writer lock (two daemons on one state file would each
   * record the other's shrunk sizes as originals); resolves to its release.
   * Rejects with a CloudvampError naming the holder when another process has it.
   */
  lock?(): Promise<() => Promise<void>>;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export interface LogEvent {
  level: LogLevel;
  msg: string;
  [field: string]: unknown;
}
export type Logger = (event: LogEvent) => void;
