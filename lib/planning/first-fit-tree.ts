// First fit in O(log n): a tournament tree over hosts in a fixed order,
// each node holding the largest free memory and the largest free CPU below
// it. A subtree is skipped when either maximum is too small; memory and CPU
// maxima may come from different hosts, so a search can still descend into a
// subtree that holds no fit, but then the leaves say no and it backs out.
export class FirstFitTree {
  private readonly size: number;
  private readonly mem: Float64Array;
  private readonly cpu: Float64Array;

  constructor(count: number) {
    let size = 1;
    while (size < Math.max(1, count)) size *= 2;
    this.size = size;
    this.mem = new Float64Array(2 * size).fill(-Infinity);
    this.cpu = new Float64Array(2 * size).fill(-Infinity);
  }

  set(position: number, freeMem: number, freeCpu: number): void {
    let i = position + this.size;
    this.mem[i] = freeMem;
    this.cpu[i] = freeCpu;
    for (i >>= 1; i >= 1; i >>= 1) {
      this.mem[i] = Math.max(this.mem[2 * i]!, this.mem[2 * i + 1]!);
      this.cpu[i] = Math.max(this.cpu[2 * i]!, this.cpu[2 * i + 1]!);
    }
  }

  freeMem(position: number): number {
    return this.mem[position + this.size]!;
  }

  freeCpu(position: number): number {
    return this.cpu[position + this.size]!;
  }

  /** The first position with at least this much free memory and CPU, or -1. */
  firstFit(needMem: number, needCpu: number): number {
    return this.search(1, needMem, needCpu);
  }

  private search(node: number, needMem: number, needCpu: number): number {
    if (this.mem[node]! < needMem || this.cpu[node]! < needCpu) return -1;
    if (node >= this.size) return node - this.size;
    const left = this.search(2 * node, needMem, needCpu);
    return left >= 0 ? left : this.search(2 * node + 1, needMem, needCpu);
  }
}
