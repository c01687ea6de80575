/** Events in simulated time: a binary heap ordered by (time, insertion order), so runs are deterministic. */
export interface SimEvent {
  atMs: number;
  seq: number;
  run: () => void | Promise<void>;
}

export class EventQueue {
  private readonly heap: SimEvent[] = [];
  private seq = 0;
  /** Events ever scheduled (the progress bar's denominator grows with it). */
  scheduled = 0;

  get size(): number {
    return this.heap.length;
  }

  at(atMs: number, run: () => void | Promise<void>): void {
    const event = { atMs, seq: this.seq++, run };
    this.scheduled++;
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  pop(): SimEvent | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l], heap[m])) m = l;
        if (r < heap.length && before(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
