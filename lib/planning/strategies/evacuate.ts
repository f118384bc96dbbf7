// evacuate HOST: empty one host for maintenance. Its VMs go, largest first,
// each to the best-fitting other host; the host is kept free of arrivals
// while the plan runs, including staging moves.
import { notFoundError } from '../../errors';
import { indexCluster, loadsOf, placementOf } from '../indexed';
import type { Cluster, Constraints, Host, Infeasible, Target } from '../model';
import type { Strategy } from '../strategy';
import { bestFit, moveVm } from './best-fit';

export type EvacuateArgs = {
  /** The host to empty: its id or its name. */
  host: string;
};

export const evacuate: Strategy<EvacuateArgs> = {
  name: 'evacuate',
  summary: 'move every VM off HOST (id or name) for maintenance',
  defaults: { host: '' },
  validate(args) {
    return typeof args.host === 'string' && args.host.trim() !== '' ? [] : ['evacuate needs the host to empty: cloudvamp-plan evacuate HOST'];
  },
  plan(cluster, args, constraints) {
    return evacuateTarget(cluster, args, constraints);
  },
};

export function findHost(cluster: Cluster, idOrName: string): Host {
  const byId = /^\d+$/.test(idOrName) ? cluster.hosts.find((h) => h.id === Number(idOrName)) : undefined;
  const host = byId ?? cluster.hosts.find((h) => h.name === idOrName);
  if (!host) {
    const known = cluster.hosts.map((h) => `${h.id} (${h.name})`).join(', ');
    throw notFoundError(`host ${idOrName} is not in the cluster; hosts are: ${known}`);
  }
  return host;
}

function evacuateTarget(cluster: Cluster, args: EvacuateArgs, constraints: Constraints): Target {
  const host = findHost(cluster, args.host.trim());
  const excluded = { ...constraints, excludedHosts: [...constraints.excludedHosts, host.id] };
  const ix = indexCluster(cluster, excluded);
  const h = ix.hostIndex.get(host.id)!;
  const where = Int32Array.from(ix.home);
  const loads = loadsOf(ix, where);
  const leaving: number[] = [];
  for (let v = 0; v < ix.vmCount; v++) if (where[v] === h) leaving.push(v);
  leaving.sort((a, b) => ix.vmMem[b]! - ix.vmMem[a]! || ix.vmCpu[b]! - ix.vmCpu[a]! || a - b);
  const unresolved: Infeasible[] = [];
  const pinned = leaving.filter((v) => !ix.movable[v]).map((v) => ix.vmIds[v]!);
  if (pinned.length > 0) {
    unresolved.push({ reason: 'pinned', message: `VMs ${pinned.join(', ')} are pinned to host ${host.id}; unpin them to empty it`, vms: pinned, hosts: [host.id] });
  }
  const homeless: number[] = [];
  for (const v of leaving) {
    if (!ix.movable[v]) continue;
    const to = bestFit(ix, loads, v, h, where);
    if (to < 0) homeless.push(ix.vmIds[v]!);
    else moveVm(ix, loads, where, v, to);
  }
  if (homeless.length > 0) {
    unresolved.push({ reason: 'no-room', message: `no other host has room for VMs ${homeless.join(', ')}; free memory elsewhere or enable another host`, vms: homeless, hosts: [host.id] });
  }
  const staying = leaving.length - (leaving.length - pinned.length - homeless.length);
  return {
    placement: placementOf(ix, where),
    alsoExclude: [host.id],
    notes: [`host ${host.id} (${host.name}): ${leaving.length} VMs, ${leaving.length - staying} to migrate${staying > 0 ? `, ${staying} would stay` : ''}`],
    unresolved,
  };
}
