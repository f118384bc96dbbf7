// Exact search for small instances: A* over whole placements, one live
// migration per step, any VM to any host with room (so detours through any
// number of hosts are found). Used when the greedy sequencer deadlocks or had
// to stage, where a cheaper or the only path may need a cleverer detour. The
// heuristic (cost of moving every misplaced VM once) never overestimates when a
// VM's cost does not depend on its hosts, which holds for the cost functions
// in cost.ts.
import type { IndexedCluster } from './indexed';
import { EPSILON } from './indexed';
import { mayArrive } from './rules';

export interface SingleMove {
  vm: number;
  from: number;
  to: number;
  cost: number;
}

export type ExactResult =
  | { found: true; moves: SingleMove[]; totalCost: number }
  | { found: false; exhausted: boolean };

/** True when the state space is small enough that a budgeted search is worth trying. */
export function smallEnoughForExactSearch(ix: IndexedCluster): boolean {
  return ix.hostCount <= 10 && ix.vmCount <= 16;
}

export function exactSequence(
  ix: IndexedCluster,
  goal: Int32Array,
  moveCost: (v: number, from: number, to: number) => number,
  budget: number,
): ExactResult {
  const start = Int32Array.from(ix.home);
  const key = (where: Int32Array) => String.fromCharCode(...where);
  const remaining = (where: Int32Array) => {
    let h = 0;
    for (let v = 0; v < ix.vmCount; v++) if (where[v] !== goal[v]) h += moveCost(v, where[v]!, goal[v]!);
    return h;
  };
  interface Node {
    where: Int32Array;
    g: number;
    parent: Node | undefined;
    move: SingleMove | undefined;
  }
  const best = new Map<string, number>();
  const open = new MinHeap<Node>();
  best.set(key(start), 0);
  open.push(remaining(start), { where: start, g: 0, parent: undefined, move: undefined });
  let expanded = 0;
  const mem = new Float64Array(ix.hostCount);
  const cpu = new Float64Array(ix.hostCount);
  while (open.size > 0) {
    const node = open.pop()!;
    if ((best.get(key(node.where)) ?? Infinity) < node.g) continue;
    if (remaining(node.where) === 0 && node.where.every((h, v) => h === goal[v])) {
      const moves: SingleMove[] = [];
      for (let n: Node | undefined = node; n?.move; n = n.parent) moves.push(n.move);
      moves.reverse();
      return { found: true, moves, totalCost: node.g };
    }
    if (++expanded > budget) return { found: false, exhausted: true };
    mem.fill(0);
    cpu.fill(0);
    for (let v = 0; v < ix.vmCount; v++) {
      mem[node.where[v]!]! += ix.vmMem[v]!;
      cpu[node.where[v]!]! += ix.vmCpu[v]!;
    }
    for (let v = 0; v < ix.vmCount; v++) {
      if (!ix.movable[v]) continue;
      const from = node.where[v]!;
      for (let to = 0; to < ix.hostCount; to++) {
        if (to === from || !ix.receives[to]) continue;
        // The source still holds the VM during the move, so only the destination is checked.
        if (mem[to]! + ix.vmMem[v]! > ix.capMem[to]! + EPSILON || cpu[to]! + ix.vmCpu[v]! > ix.capCpu[to]! + EPSILON) continue;
        if (!mayArrive(ix.rules, v, to, node.where)) continue;
        const where = Int32Array.from(node.where);
        where[v] = to;
        const cost = moveCost(v, from, to);
        const g = node.g + cost;
        const k = key(where);
        if ((best.get(k) ?? Infinity) <= g) continue;
        best.set(k, g);
        open.push(g + remaining(where), { where, g, parent: node, move: { vm: v, from, to, cost } });
      }
    }
  }
  return { found: false, exhausted: false };
}

class MinHeap<T> {
  private readonly keys: number[] = [];
  private readonly items: T[] = [];
  get size(): number {
    return this.items.length;
  }
  push(priority: number, item: T): void {
    let i = this.items.length;
    this.keys.push(priority);
    this.items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.keys[parent]! <= priority) break;
      this.keys[i] = this.keys[parent]!;
      this.items[i] = this.items[parent]!;
      i = parent;
    }
    this.keys[i] = priority;
    this.items[i] = item;
  }
  pop(): T | undefined {
    const top = this.items[0];
    const lastKey = this.keys.pop()!;
    const lastItem = this.items.pop()!;
    const n = this.items.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.keys[child + 1]! < this.keys[child]!) child++;
      if (this.keys[child]! >= lastKey) break;
      this.keys[i] = this.keys[child]!;
      this.items[i] = this.items[child]!;
      i = child;
    }
    this.keys[i] = lastKey;
    this.items[i] = lastItem;
    return top;
  }
}
