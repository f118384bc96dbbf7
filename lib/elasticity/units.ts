// Sizes in this feature are KiB, as libvirt and the probes count them; oned's
// one.vm.resize takes whole MiB, and the reasons and logs an operator reads
// speak MiB. One place for both, so every file rounds and prints alike. Pure.

export const MiB = 1024;
/** KiB as whole MiB, for the reasons decisions give and the lines the manager logs. */
export const mib = (kib: number) => `${Math.round(kib / MiB)} MiB`;
/** KiB rounded up to whole MiB. */
export const ceilMiB = (kib: number) => Math.ceil(kib / MiB) * MiB;
/** KiB rounded down to whole MiB. */
export const floorMiB = (kib: number) => Math.floor(kib / MiB) * MiB;
