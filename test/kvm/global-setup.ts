// Global set-up of the `kvm` vitest project: checks that this machine can run
// real guests (never skips: a missing piece fails the run with the fix),
// builds the guest if its inputs changed, starts two libvirt hosts and
// hands their URIs and the accelerator to the tests through `inject()`.
// The returned teardown stops the hosts and their guests.
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import {
  type Accel,
  accel,
  checkPrerequisites,
  ensureGuestBuilt,
  hostsDown,
  hostsUp,
  hostTcpUri,
  hostUri,
  lockHostSet,
  STATE_DIR,
} from '../harness/index.js';

export interface KvmHost {
  /** from this machine: the host's libvirtd unix socket */
  uri: string;
  /** from the other hosts: p2p migration destination */
  tcpUri: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** hosts 1 and 2, at index 0 and 1 */
    kvmHosts: KvmHost[];
    kvmAccel: Accel;
  }
}

const HOSTS = 2;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const unlock = await lockHostSet(STATE_DIR, 'kvm');
  try {
    await checkPrerequisites();
    const t0 = Date.now();
    await ensureGuestBuilt();
    const t1 = Date.now();
    const acc = await accel();
    const t2 = Date.now();
    await hostsDown(); // leftovers of an interrupted run
    await hostsUp(HOSTS);
    const t3 = Date.now();
    console.log(
      `kvm global setup: guest build check ${t1 - t0} ms, accel ${acc} (${t2 - t1} ms), ${HOSTS} hosts up in ${t3 - t2} ms`,
    );
    const hosts: KvmHost[] = [];
    for (let i = 1; i <= HOSTS; i++) hosts.push({ uri: hostUri(i), tcpUri: hostTcpUri(i) });
    project.provide('kvmHosts', hosts);
    project.provide('kvmAccel', acc);
  } catch (err) {
    await hostsDown().catch((e: unknown) => console.error(`kvm global setup: hostsDown failed too: ${String(e)}`));
    await unlock();
    throw err;
  }
  return async () => {
    try {
      await hostsDown();
    } finally {
      await unlock();
    }
  };
}
