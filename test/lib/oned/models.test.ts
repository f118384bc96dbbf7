import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CloudvampError } from '../../../lib/errors';
import {
  HostState,
  LcmState,
  mergeVmMonitoring,
  parseHost,
  parseHostPool,
  parseMonitoringData,
  parseVm,
  parseVmPool,
  VmState,
} from '../../../lib/oned/models';
import { ONED_FIXTURE_DIR } from '../../support/oned-server';

const fixture = (name: string) => readFileSync(ONED_FIXTURE_DIR + name, 'utf8');

describe('parseVm', () => {
  it('reads a running ballooned VM, custom monitoring keys and OneGate values included', () => {
    expect(parseVm(fixture('vm-running-ballooned.xml'))).toEqual({
      id: 42,
      name: 'web-1',
      uid: 0,
      gid: 0,
      state: VmState.ACTIVE,
      lcmState: LcmState.RUNNING,
      deployId: 'one-42',
      lastPoll: 1767225600,
      hostId: 0,
      hostname: 'kvm-node-1',
      vmMad: 'kvm',
      historySeq: 1,
      runningSince: 1767182400,
      templateMemoryMiB: 2048,
      memoryMaxMiB: 4096,
      memoryResizeMode: 'BALLOONING',
      cpu: 1,
      vcpu: 2,
      imageIds: [0],
      userTemplate: {
        CLOUDVAMP_MEM_OVER: '0.5',
        CLOUDVAMP_MIN_FREE_MEM: '262144',
        DESCRIPTION: 'front-end web server, "blue" pool',
        HYPERVISOR: 'kvm',
        LOGO: 'images/logos/debian.png',
        MEM_FREE: '1310720',
        MEM_TOTAL: '2010112',
        MEM_TOTAL_REAL: '4046844',
      },
      monitoring: {
        CPU: '3.5',
        CPU_FORECAST: '3.2',
        DISKRDBYTES: '734003200',
        DISKRDIOPS: '21034',
        DISKWRBYTES: '402653184',
        DISKWRIOPS: '9921',
        ID: '42',
        MAXMEMORY: '4194304',
        MEMORY: '1712340',
        MEMORY_FORECAST: '1700000',
        NETRX: '98234112',
        NETTX: '12582912',
        PACKEDMEMORY: '2097152',
        REALMEMORY: '2097152',
        TIMESTAMP: '1767225600',
        USEDMEMORY: '2097152',
      },
    });
  });

  it('takes the host from the last HISTORY record and leaves absent template fields out', () => {
    const plain = parseVm(fixture('vm-running-plain.xml'));
    expect(plain).toMatchObject({ id: 43, hostId: 1, hostname: 'kvm-node-2', templateMemoryMiB: 4096, cpu: 2, vcpu: 4 });
    expect(plain).not.toHaveProperty('memoryMaxMiB');
    expect(plain).not.toHaveProperty('memoryResizeMode');
    expect(parseVm(fixture('vm-poweroff.xml'))).toMatchObject({ id: 44, state: VmState.POWEROFF, lcmState: LcmState.LCM_INIT, hostId: 0 });
  });

  it('reads a pending VM without history', () => {
    const pending =
      '<VM><ID>7</ID><NAME>new</NAME><STATE>1</STATE><LCM_STATE>0</LCM_STATE><DEPLOY_ID/><MONITORING/>' +
      '<TEMPLATE><CPU>0.5</CPU><MEMORY>512</MEMORY></TEMPLATE><USER_TEMPLATE/><HISTORY_RECORDS/></VM>';
    const vm = parseVm(pending);
    expect(vm).toMatchObject({ id: 7, state: VmState.PENDING, deployId: '', cpu: 0.5, userTemplate: {}, monitoring: {} });
    expect(vm).not.toHaveProperty('hostId');
  });

  it('names the VM and field when oned sends something unusable', () => {
    const broken = fixture('vm-running-plain.xml').replace('<MEMORY><![CDATA[4096]]></MEMORY>', '<MEMORY>lots</MEMORY>');
    expect(() => parseVm(broken)).toThrow(/VM 43 has TEMPLATE\/MEMORY = 'lots', not an integer/);
    expect(() => parseVm('<VM><ID>1</ID>')).toThrow(CloudvampError);
    expect(() => parseVm('<HOST/>')).toThrow(/expected a <VM> document/);
    // malformed: one strict pass refuses it, naming the document
    expect(() => parseVm(fixture('vm-running-plain.xml').replace('</NAME>', ''))).toThrow(/malformed VM XML/);
    expect(() => parseVmPool(`<VM_POOL>${fixture('vm-running-plain.xml')}`)).toThrow(/malformed VM_POOL XML/);
    expect(() => parseVm(fixture('vm-running-plain.xml').replace('<NAME>', '<NAME>&nbsp;'))).toThrow(/malformed VM XML/);
  });

  it('takes the first of a repeated scalar and reads escaped text and keys named like Object members', () => {
    const vm = parseVm(
      fixture('vm-running-plain.xml').replace('<USER_TEMPLATE>', '<USER_TEMPLATE><NOTE>a &amp; b &lt;c&gt;</NOTE><NOTE>second</NOTE><constructor>x</constructor><toString>y</toString>'),
    );
    expect(vm.userTemplate).toMatchObject({ NOTE: 'a & b <c>', constructor: 'x', toString: 'y' });
  });

  it('reads a pool of one and of several', () => {
    const one = `<VM_POOL>${fixture('vm-running-plain.xml')}</VM_POOL>`;
    expect(parseVmPool(one).map((vm) => vm.id)).toEqual([43]);
    const three = `<VM_POOL>${['vm-running-ballooned.xml', 'vm-running-plain.xml', 'vm-poweroff.xml'].map(fixture).join('')}</VM_POOL>`;
    expect(parseVmPool(three).map((vm) => vm.id)).toEqual([42, 43, 44]);
    expect(parseVmPool('<VM_POOL/>')).toEqual([]);
  });
});

describe('parseHost', () => {
  it('reads HOST_SHARE, the custom template and the monitored capacity', () => {
    expect(parseHost(fixture('host-kvm-cloudvamp.xml'))).toEqual({
      id: 0,
      name: 'kvm-node-1',
      state: HostState.MONITORED,
      imMad: 'cloudvamp',
      vmMad: 'kvm',
      clusterId: 0,
      cluster: 'default',
      hostShare: {
        memUsageKiB: 3145728,
        cpuUsage: 200,
        totalMemKiB: 17441792,
        totalCpu: 800,
        maxMemKiB: 17441792,
        maxCpu: 800,
        runningVms: 2,
      },
      vmIds: [42, 44],
      template: expect.objectContaining({ PACKEDMEMORY: '1048576', CLOUDVAMP_VERSION: '0.1.0', TOTALMEMORY: '17441792', RESERVED_MEM: '' }),
      monitoring: { timestamp: 1767225590, freeMemoryKiB: 12058624, usedMemoryKiB: 4334592, freeCpu: 742, usedCpu: 58 },
    });
  });

  it('copes with a pool body whose MONITORING is empty and with one VM id', () => {
    const stale = fixture('host-kvm-plain.xml').replace(/<MONITORING>[\s\S]*<\/MONITORING>/, '<MONITORING/>');
    const [host] = parseHostPool(`<HOST_POOL>${stale}</HOST_POOL>`);
    expect(host).toMatchObject({ id: 1, vmIds: [43], monitoring: {} });
  });
});

describe('monitoring records', () => {
  it('parses MONITORING_DATA with custom keys', () => {
    const records = parseMonitoringData(fixture('vmpool-monitoring-last.xml'));
    expect(records.map((r) => [r.vmId, r.timestamp])).toEqual([
      [42, 1767225600],
      [43, 1767225605],
    ]);
    expect(records[0]!.values).toMatchObject({ PACKEDMEMORY: '2097152', MEMORY: '1712340' });
  });

  it("replaces each VM's monitoring with its newest record and leaves the others alone", () => {
    const vms = parseVmPool(`<VM_POOL>${fixture('vm-running-ballooned.xml')}${fixture('vm-poweroff.xml')}</VM_POOL>`);
    const merged = mergeVmMonitoring(vms, [
      { vmId: 42, timestamp: 200, values: { MEMORY: '2', PACKEDMEMORY: '9' } },
      { vmId: 42, timestamp: 100, values: { MEMORY: '1' } },
      { vmId: 99, timestamp: 300, values: { MEMORY: '3' } },
    ]);
    expect(merged[0]!.monitoring).toEqual({ MEMORY: '2', PACKEDMEMORY: '9' });
    expect(merged[1]).toBe(vms[1]);
    expect(vms[0]!.monitoring['MEMORY']).toBe('1712340');
  });
});
