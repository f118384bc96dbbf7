// The smallest memory cloudvamp ever gives a VM, in one place for both sides.
// The VMM driver refuses a balloon target below its floor (cloudvamp.conf
// MEMORY_FLOOR_MIB, this by default; lib/vmm/balloon.ts checkBalloonTarget),
// and the elasticity manager never plans a size below MEM_MIN, which may not be
// set lower than this (lib/elasticity/config.ts). So the manager never plans a
// size the driver refuses: a real run with MEM_MIN=65536 planned a shrink to
// 64 MiB, which the driver refused with its 128 MiB floor. An operator who
// raises MEMORY_FLOOR_MIB on the hosts raises MEM_MIN with it (docs/vmm.md);
// the manager also reads the driver's floor at start through VMM_CONFIG
// (lib/elasticity/config.ts withDriverFloor) and never plans below it.

/** KiB; a current distribution kernel still boots and runs in 128 MiB. */
export const MEMORY_FLOOR_KIB = 128 * 1024;
