/**
 * The bench harness every suite uses (issue 7). A suite is a file `bench/<name>.bench.ts` whose
 * default export is `async function suite(ctx: BenchContext): Promise<SuiteResult>`.
 *
 * Habits it enforces (ARCHITECTURE.md habit 10, "benchmarks cannot rot"):
 * - every task has a budget, checked on the median, p99, throughput and ratio to a floor;
 * - each suite measures its primitive floor in the same run and reports ratios to it, because
 *   this machine is shared and absolute times wander;
 * - each suite asserts at least one checksum of the results it produced, so nothing is
 *   optimised away and semantics cannot drift;
 * - a quick mode (short runs, budgets loosened by a factor) runs inside `npm test`.
 * See bench/README.md for how to write a suite.
 */
import { cpus, loadavg } from 'node:os';
import { type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { GCProfiler, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Bench, type Task } from 'tinybench';

/** Limits a task must meet. Times in microseconds per operation. */
export interface Budget {
  /** Median latency per operation, at most. */
  p50Us?: number;
  /** 99th percentile latency per operation (per sample: see TaskSpec.batch), at most. */
  p99Us?: number;
  /** Operations per second, at least. */
  minOpsPerSec?: number;
  /** Median divided by the floor's median (or the sum of several floors' medians), at most. */
  maxRatioToFloor?: number;
}

export interface TaskSpec {
  name: string;
  /**
   * The operation. Return a value (or store it somewhere the suite checks later) so the work
   * cannot be optimised away. May be async (it is then awaited inside the timed window).
   */
  fn: () => unknown;
  /**
   * Calls of fn per timed sample (default 1). For sub-microsecond operations use 16-256: the
   * timer's own cost then disappears, and samples are the mean of a batch, so the p99 is the
   * p99 of batch means (GC pauses are spread over the batch). Sync functions only.
   */
  batch?: number;
  budget?: Budget;
  /** Marks the suite's floor: other tasks report median / floor median. */
  floor?: boolean;
  /** Compare to these task(s) instead of the suite floor (medians summed, e.g. a tap vs its primitives). */
  ratioTo?: string | string[];
  /** Per-task time budget in ms (overrides the context's default). */
  timeMs?: number;
  /** Minimum samples (tinybench `iterations`). */
  minSamples?: number;
  /** Set up and tear down outside the timed window, once per phase (warmup and run). */
  beforeAll?: () => unknown;
  afterAll?: () => unknown;
}

/** One measured (or externally reported) task, as written to bench/results/latest.json. */
export interface TaskResult {
  suite: string;
  name: string;
  samples: number;
  /** Calls per sample (1 unless TaskSpec.batch). */
  batch: number;
  medianUs: number;
  p99Us: number;
  meanUs: number;
  opsPerSec: number;
  /** The floor this task is compared to (null: none, or this is the floor). */
  ratioTo: string | null;
  ratioToFloor: number | null;
  /** The budget as declared by the suite. */
  budget: Budget | null;
  /** The budget actually applied (declared, loosened in quick mode). */
  appliedBudget: Budget | null;
  pass: boolean;
  failures: string[];
  floor: boolean;
  /** Measurements taken (more than 1 when a quick-mode retry happened). */
  attempts: number;
  /**
   * Garbage collections while tinybench ran the task (warm-up included, last attempt), seen by a
   * perf_hooks GC observer: the device's own pauses, apart from the machine's noise. Null for
   * numbers a suite reported itself (ctx.report).
   */
  gc?: GcStats | null;
}

/** GC pauses seen during one measurement (perf_hooks 'gc' entries). */
export interface GcStats {
  /** Collections of any kind. */
  count: number;
  /** Scavenges (young generation). */
  minor: number;
  /** Mark-sweep-compact (full) collections, incremental marking steps and weak callbacks. */
  major: number;
  /** Sum of the pauses, ms. */
  pauseMs: number;
  /** Longest pause, ms. */
  maxPauseMs: number;
}

/** The machine's load while a suite ran (os.loadavg: 1, 5 and 15 minute averages). */
export interface SuiteLoad {
  cpus: number;
  loadAvgStart: number[];
  loadAvgEnd: number[];
  /** The suite ran in a child process of its own (bench/suite-process.ts). */
  ownProcess: boolean;
}

/** A scalar the suite measured itself (RSS in MB, records ingested per second, ...). */
export interface MetricResult {
  suite: string;
  name: string;
  value: number;
  unit: string;
  max?: number;
  min?: number;
  appliedMax?: number;
  appliedMin?: number;
  pass: boolean;
}

export interface ChecksumResult {
  label: string;
  actual: string;
  expected: string;
  pass: boolean;
}

export interface SuiteResult {
  suite: string;
  quick: boolean;
  tasks: TaskResult[];
  metrics: MetricResult[];
  checksums: ChecksumResult[];
  notes: string[];
  pass: boolean;
  /** Why the suite failed, in words (empty when it passed). */
  failures: string[];
  durationMs: number;
  /** The machine's load average at the suite's start and end (absent in results from before it was recorded). */
  load?: SuiteLoad;
}

/** The machine a run measured on (in the results JSON). */
export interface BenchMachine {
  cpuModel: string;
  cores: number;
  totalMemoryMb: number;
  node: string;
  platform: string;
  /** ISO date of the run. */
  date: string;
}

/** bench/results/latest.json (or --out): what bench/run.ts writes and bench/report-html.ts draws. */
export interface BenchReport {
  machine: BenchMachine;
  mode: 'quick' | 'full';
  looseness: number;
  pass: boolean;
  /** Each suite without its tasks and metrics (those are flattened below, each with its suite). */
  suites: Array<Omit<SuiteResult, 'tasks' | 'metrics'>>;
  tasks: TaskResult[];
  metrics: MetricResult[];
}

/** Numbers a suite reports for work it timed itself (e.g. autocannon HTTP loads). */
export interface ExternalMeasurement {
  name: string;
  samples: number;
  medianUs: number;
  p99Us: number;
  opsPerSec: number;
  meanUs?: number;
  budget?: Budget;
  floor?: boolean;
  ratioTo?: string | string[];
}

export interface BenchContextOptions {
  suite: string;
  quick: boolean;
  /** Budgets are multiplied (throughputs divided) by this; 1 in full mode. */
  looseness: number;
  /** Default time per task in ms. */
  timeMs: number;
  warmupMs: number;
  /**
   * Extra attempts for a task that misses an absolute budget (median, p99, ops/s). Default 2 in
   * quick mode, 0 in full mode: the smoke test runs beside other tests on a shared 2-core box,
   * where one preemption can own a p99; a real regression misses on every attempt.
   */
  retries?: number;
  /** Progress lines (task names as they run). */
  log?: (line: string) => void;
  /** The suite runs in a child process of its own (recorded with the load). */
  ownProcess?: boolean;
  /** The machine's load averages (default os.loadavg; tests pass their own). */
  loadAvg?: () => number[];
}

export const FULL_TIME_MS = 1_000;
export const FULL_WARMUP_MS = 200;
export const QUICK_TIME_MS = 60;
export const QUICK_WARMUP_MS = 15;
export const QUICK_LOOSENESS = 5;
/** Quick mode stops checking p99 budgets when the 1-minute load average reaches this many times the CPUs. */
export const QUICK_P99_DROPPED_AT = 2;

/** Whatever a task returned last, folded in so the JIT cannot prove results unused. */
let blackHole: unknown;
export function consume(value: unknown): void {
  blackHole = value;
}
export function lastConsumed(): unknown {
  return blackHole;
}

let collect: (() => void) | null | undefined;
/**
 * A full garbage collection now, so a measurement does not start with the previous task's
 * garbage half-way to a collection. Uses `gc` when the process was started with --expose-gc (the
 * runner's child processes are), otherwise exposes it once through V8's flags. Returns false
 * when no collector could be reached (the measurement then simply starts without one).
 */
export function collectGarbage(): boolean {
  if (collect === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === 'function') collect = exposed;
    else {
      try {
        setFlagsFromString('--expose-gc');
        collect = runInNewContext('gc') as () => void;
      } catch {
        collect = null;
      }
    }
  }
  if (collect === null) return false;
  collect();
  return true;
}

/** perf_hooks GC entry kinds (NODE_PERFORMANCE_GC_*): 1 minor, 2 major, 4 incremental, 8 weak callbacks. */
const GC_MINOR = 1;

/**
 * Starts watching GC pauses; the returned function stops and sums them. Node delivers a GC's
 * entry on a later turn of the event loop, hence the wait before the last ones are taken.
 */
export function watchGc(): () => Promise<GcStats> {
  const stats: GcStats = { count: 0, minor: 0, major: 0, pauseMs: 0, maxPauseMs: 0 };
  const add = (entries: readonly PerformanceEntry[]) => {
    for (const e of entries) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      stats.count++;
      if (kind === GC_MINOR) stats.minor++;
      else stats.major++;
      stats.pauseMs += e.duration;
      if (e.duration > stats.maxPauseMs) stats.maxPauseMs = e.duration;
    }
  };
  const observer = new PerformanceObserver((list) => add(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return async () => {
    // Entries of the last collections are queued on a later turn of the loop.
    for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
    add(observer.takeRecords());
    observer.disconnect();
    return stats;
  };
}

/** What allocationPerCall measured. */
export interface AllocationMeasurement {
  calls: number;
  /** V8 heap bytes allocated per call (freed by the collections in between plus the heap's growth). */
  bytesPerCall: number;
  /** Collections that ran during the calls, and their pauses in ms. */
  gcs: number;
  gcPauseMs: number;
}

/**
 * Heap bytes a function allocates per call: a full collection first, then `calls` calls under a
 * V8 GCProfiler; what every collection in between freed plus the heap's growth, over the calls.
 * (Small typed arrays live on the heap; large ArrayBuffer backing stores are outside it and not
 * counted.) Exact to a few bytes per call for thousands of calls.
 */
export function allocationPerCall(fn: () => unknown, calls: number): AllocationMeasurement {
  collectGarbage();
  const profiler = new GCProfiler();
  profiler.start();
  const start = getHeapStatistics().used_heap_size;
  let last: unknown;
  for (let i = 0; i < calls; i++) last = fn();
  const end = getHeapStatistics().used_heap_size;
  const profile = profiler.stop();
  consume(last);
  let freed = 0;
  let pauseUs = 0;
  for (const g of profile.statistics) {
    freed += g.beforeGC.heapStatistics.usedHeapSize - g.afterGC.heapStatistics.usedHeapSize;
    pauseUs += g.cost;
  }
  return { calls, bytesPerCall: (freed + end - start) / calls, gcs: profile.statistics.length, gcPauseMs: pauseUs / 1000 };
}

export class BenchContext {
  readonly suite: string;
  readonly quick: boolean;
  readonly looseness: number;
  readonly timeMs: number;
  readonly warmupMs: number;
  readonly retries: number;
  private readonly log: (line: string) => void;
  private readonly specs = new Map<string, { floor: boolean; ratioTo?: string | string[]; budget?: Budget }>();
  private readonly raw: TaskResult[] = [];
  private readonly metricResults: MetricResult[] = [];
  private readonly checks: ChecksumResult[] = [];
  private readonly notesList: string[] = [];
  private floorName: string | null = null;
  private readonly startedAt = performance.now();
  private readonly readLoad: () => number[];
  private readonly loadAvgStart: number[];
  private readonly ownProcess: boolean;

  constructor(options: BenchContextOptions) {
    this.suite = options.suite;
    this.quick = options.quick;
    this.looseness = options.looseness;
    this.timeMs = options.timeMs;
    this.warmupMs = options.warmupMs;
    this.retries = options.retries ?? (options.quick ? 2 : 0);
    this.log = options.log ?? (() => {});
    this.ownProcess = options.ownProcess ?? false;
    this.readLoad = options.loadAvg ?? loadavg;
    this.loadAvgStart = this.readLoad();
  }

  /** `full` in a full run, `quick` in quick mode: dataset sizes, iteration counts. */
  pick<T>(full: T, quick: T): T {
    return this.quick ? quick : full;
  }

  /** Measures tasks with tinybench, one after the other; results are also kept for result(). */
  async measure(tasks: TaskSpec[]): Promise<TaskResult[]> {
    const out: TaskResult[] = [];
    for (const spec of tasks) out.push(await this.measureOne(spec));
    return out;
  }

  private async measureOne(spec: TaskSpec): Promise<TaskResult> {
    this.register(spec.name, spec.floor ?? false, spec.ratioTo, spec.budget);
    this.log(`  ${this.suite} › ${spec.name}`);
    const absolute = spec.budget ? { ...this.applied(spec.budget), maxRatioToFloor: undefined } : null;
    let result = await this.runTinybench(spec);
    let attempts = 1;
    while (attempts <= this.retries && checkBudget(result, absolute).length > 0) {
      this.log(`  ${this.suite} › ${spec.name} missed its budget (${checkBudget(result, absolute).join('; ')}), measuring again`);
      result = await this.runTinybench(spec);
      attempts++;
    }
    result.attempts = attempts;
    result.budget = spec.budget ?? null;
    this.raw.push(result);
    return result;
  }

  private async runTinybench(spec: TaskSpec): Promise<TaskResult> {
    const batch = Math.max(1, Math.floor(spec.batch ?? 1));
    const bench = new Bench({
      time: spec.timeMs ?? this.timeMs,
      warmupTime: this.warmupMs,
      // p99 of fewer than ~100 samples is the maximum, i.e. one preemption.
      iterations: spec.minSamples ?? (this.quick ? 100 : 200),
      warmupIterations: this.quick ? 5 : 32,
      retainSamples: false,
      throws: true,
    });
    const fn = spec.fn;
    if (batch === 1) {
      bench.add(spec.name, fn, { beforeAll: spec.beforeAll as never, afterAll: spec.afterAll as never });
    } else {
      const now = bench.now;
      bench.add(
        spec.name,
        () => {
          let last: unknown;
          const start = now();
          for (let i = 0; i < batch; i++) last = fn();
          const elapsed = now() - start;
          consume(last);
          // Samples record the mean per call; the time budget still sees the whole batch.
          return { overriddenDuration: elapsed / batch, overriddenIterationCost: elapsed };
        },
        { beforeAll: spec.beforeAll as never, afterAll: spec.afterAll as never },
      );
    }
    // Each task starts from a collected heap; the pauses it causes itself are counted.
    collectGarbage();
    const gcDone = watchGc();
    await bench.run();
    const gc = await gcDone();
    const task = bench.tasks[0];
    return { ...toTaskResult(this.suite, spec.name, task, batch, spec.floor ?? false), gc };
  }

  /**
   * Bytes allocated per call of `fn` (see allocationPerCall), outside any timed window, recorded
   * as a metric `name` in B/call (with an optional max, loosened like budgets) and a note of the
   * collections it triggered.
   */
  allocation(name: string, fn: () => unknown, calls: number, limits: { max?: number; unit?: string } = {}): AllocationMeasurement {
    const m = allocationPerCall(fn, calls);
    this.metric(name, Math.round(m.bytesPerCall), limits.unit ?? 'B/call', limits.max === undefined ? {} : { max: limits.max });
    return m;
  }

  /** Records numbers the suite measured itself (e.g. an autocannon run). */
  report(m: ExternalMeasurement): TaskResult {
    this.register(m.name, m.floor ?? false, m.ratioTo, m.budget);
    const result: TaskResult = {
      suite: this.suite,
      name: m.name,
      samples: m.samples,
      batch: 1,
      medianUs: m.medianUs,
      p99Us: m.p99Us,
      meanUs: m.meanUs ?? m.medianUs,
      opsPerSec: m.opsPerSec,
      ratioTo: null,
      ratioToFloor: null,
      budget: m.budget ?? null,
      appliedBudget: null,
      pass: true,
      failures: [],
      floor: m.floor ?? false,
      attempts: 1,
      gc: null,
    };
    this.raw.push(result);
    return result;
  }

  /** A scalar with an optional max/min (loosened in quick mode like budgets). */
  metric(name: string, value: number, unit: string, limits: { max?: number; min?: number } = {}): MetricResult {
    const appliedMax = limits.max === undefined ? undefined : limits.max * this.looseness;
    const appliedMin = limits.min === undefined ? undefined : limits.min / this.looseness / this.quickLoadFactor();
    const pass = Number.isFinite(value) && (appliedMax === undefined || value <= appliedMax) && (appliedMin === undefined || value >= appliedMin);
    const m: MetricResult = { suite: this.suite, name, value, unit, ...limits, appliedMax, appliedMin, pass };
    this.metricResults.push(m);
    this.log(`  ${this.suite} › ${name} = ${formatNumber(value)} ${unit}`);
    return m;
  }

  /** Asserts a checksum of the suite's results (compared as strings). */
  checksum(label: string, actual: unknown, expected: unknown): boolean {
    const a = String(actual);
    const e = String(expected);
    this.checks.push({ label, actual: a, expected: e, pass: a === e });
    return a === e;
  }

  note(text: string): void {
    this.notesList.push(text);
  }

  private register(name: string, floor: boolean, ratioTo: string | string[] | undefined, budget: Budget | undefined): void {
    if (this.specs.has(name)) throw new Error(`bench ${this.suite}: task name "${name}" used twice`);
    this.specs.set(name, { floor, ratioTo, budget });
    if (floor) {
      if (this.floorName !== null) throw new Error(`bench ${this.suite}: two floor tasks (${this.floorName}, ${name})`);
      this.floorName = name;
    }
  }

  /**
   * In quick mode (the smoke test inside `npm test`, beside other test files on a shared box),
   * how much busier than its CPUs the machine is: max(1, 1-minute load average / CPUs), at the
   * suite's start or now, whichever is higher. A p99 there is the scheduler's time slices more
   * than the code's, and a throughput gets a share of the CPUs, so quick mode scales p99
   * budgets up and minimum throughputs (ops/s budgets, metric minimums) down by it, and from
   * QUICK_P99_DROPPED_AT on does not check p99 budgets at all; medians, ratios and maximum
   * metrics are not scaled. 1 in full mode: full runs keep their budgets and
   * record the load.
   */
  quickLoadFactor(): number {
    if (!this.quick) return 1;
    const n = Math.max(1, cpus().length);
    return Math.max(1, this.loadAvgStart[0] / n, this.readLoad()[0] / n);
  }

  private applied(budget: Budget): Budget {
    const out = loosen(budget, this.looseness);
    const factor = this.quickLoadFactor();
    // Twice oversubscribed or more, a descheduled task waits (load / CPUs) time slices of ~4 ms:
    // a p99 of a few hundred samples says nothing about the code then, so quick mode drops it.
    if (out.p99Us !== undefined && factor >= QUICK_P99_DROPPED_AT) delete out.p99Us;
    else if (out.p99Us !== undefined) out.p99Us *= factor;
    if (out.minOpsPerSec !== undefined) out.minOpsPerSec /= factor;
    return out;
  }

  /** Computes ratios, applies budgets and checksums; the value a suite returns. */
  result(): SuiteResult {
    const byName = new Map(this.raw.map((r) => [r.name, r]));
    const failures: string[] = [];
    for (const r of this.raw) {
      const spec = this.specs.get(r.name)!;
      const refs = spec.ratioTo === undefined ? (spec.floor || this.floorName === null ? [] : [this.floorName]) : ([] as string[]).concat(spec.ratioTo);
      if (refs.length > 0) {
        let sum = 0;
        for (const ref of refs) {
          const other = byName.get(ref);
          if (!other) throw new Error(`bench ${this.suite}: task "${r.name}" compares to unknown task "${ref}"`);
          sum += other.medianUs;
        }
        r.ratioTo = refs.join(' + ');
        r.ratioToFloor = sum > 0 ? r.medianUs / sum : null;
      }
      r.appliedBudget = r.budget ? this.applied(r.budget) : null;
      r.failures = checkBudget(r, r.appliedBudget);
      if (r.samples < 1 || !Number.isFinite(r.medianUs)) r.failures.push('no samples');
      r.pass = r.failures.length === 0;
      if (!r.pass) failures.push(`${r.name}: ${r.failures.join('; ')}`);
    }
    for (const m of this.metricResults) if (!m.pass) failures.push(`${m.name} = ${m.value} ${m.unit} outside its limits`);
    const loadFactor = this.quickLoadFactor();
    const scaled =
      this.raw.some((r) => r.budget?.p99Us !== undefined || r.budget?.minOpsPerSec !== undefined) || this.metricResults.some((m) => m.min !== undefined);
    if (loadFactor > 1 && scaled && !this.notesList.some((n) => n.startsWith('quick mode on a busy machine'))) {
      this.notesList.push(
        `quick mode on a busy machine: ${loadFactor >= QUICK_P99_DROPPED_AT ? 'p99 budgets not checked' : `p99 budgets also ×${formatNumber(loadFactor)}`}, minimum throughputs ÷${formatNumber(loadFactor)} (1-min load average / CPUs = ${formatNumber(loadFactor)})`,
      );
    }
    if (this.raw.length === 0 && this.metricResults.length === 0) failures.push('the suite measured nothing');
    if (this.checks.length === 0) failures.push('the suite asserted no checksum');
    for (const c of this.checks) if (!c.pass) failures.push(`checksum ${c.label}: got ${c.actual}, expected ${c.expected}`);
    return {
      suite: this.suite,
      quick: this.quick,
      tasks: [...this.raw],
      metrics: [...this.metricResults],
      checksums: [...this.checks],
      notes: [...this.notesList],
      pass: failures.length === 0,
      failures,
      durationMs: performance.now() - this.startedAt,
      load: { cpus: cpus().length, loadAvgStart: this.loadAvgStart, loadAvgEnd: this.readLoad(), ownProcess: this.ownProcess },
    };
  }
}

function toTaskResult(suite: string, name: string, task: Task | undefined, batch: number, floor: boolean): TaskResult {
  const r = task?.result;
  const empty: TaskResult = {
    suite,
    name,
    samples: 0,
    batch,
    medianUs: NaN,
    p99Us: NaN,
    meanUs: NaN,
    opsPerSec: 0,
    ratioTo: null,
    ratioToFloor: null,
    budget: null,
    appliedBudget: null,
    pass: false,
    failures: [],
    floor,
    attempts: 1,
    gc: null,
  };
  if (!r) return empty;
  if (r.state === 'errored') throw r.error;
  if (r.state !== 'completed' && r.state !== 'aborted-with-statistics') return empty;
  const latency = r.latency;
  const meanUs = latency.mean * 1000;
  return {
    ...empty,
    samples: latency.samplesCount,
    medianUs: latency.p50 * 1000,
    p99Us: latency.p99 * 1000,
    meanUs,
    opsPerSec: meanUs > 0 ? 1e6 / meanUs : 0,
  };
}

export function loosen(budget: Budget, looseness: number): Budget {
  const out: Budget = {};
  if (budget.p50Us !== undefined) out.p50Us = budget.p50Us * looseness;
  if (budget.p99Us !== undefined) out.p99Us = budget.p99Us * looseness;
  if (budget.minOpsPerSec !== undefined) out.minOpsPerSec = budget.minOpsPerSec / looseness;
  if (budget.maxRatioToFloor !== undefined) out.maxRatioToFloor = budget.maxRatioToFloor * looseness;
  return out;
}

export function checkBudget(r: Pick<TaskResult, 'medianUs' | 'p99Us' | 'opsPerSec' | 'ratioToFloor'>, b: Budget | null): string[] {
  if (!b) return [];
  const failures: string[] = [];
  if (b.p50Us !== undefined && !(r.medianUs <= b.p50Us)) failures.push(`median ${formatNumber(r.medianUs)} µs > ${formatNumber(b.p50Us)}`);
  if (b.p99Us !== undefined && !(r.p99Us <= b.p99Us)) failures.push(`p99 ${formatNumber(r.p99Us)} µs > ${formatNumber(b.p99Us)}`);
  if (b.minOpsPerSec !== undefined && !(r.opsPerSec >= b.minOpsPerSec)) failures.push(`${formatNumber(r.opsPerSec)} ops/s < ${formatNumber(b.minOpsPerSec)}`);
  if (b.maxRatioToFloor !== undefined) {
    if (r.ratioToFloor === null) failures.push('ratio budget but no floor to compare to');
    else if (!(r.ratioToFloor <= b.maxRatioToFloor)) failures.push(`ratio ${formatNumber(r.ratioToFloor)} > ${formatNumber(b.maxRatioToFloor)}`);
  }
  return failures;
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return Math.round(n).toLocaleString('en-US');
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  if (abs >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

/** "3 GC, max 0.42 ms" (or "-" when none was watched). */
export function describeGc(gc: GcStats | null | undefined): string {
  if (!gc) return '-';
  if (gc.count === 0) return '0';
  return `${gc.count} (${gc.major} major), max ${formatNumber(gc.maxPauseMs)} ms`;
}

/** "load 1.52 → 1.88 / 2 cpus" from a suite's recorded load (1-minute averages). */
export function describeLoad(load: SuiteLoad | undefined): string {
  if (!load) return 'load not recorded';
  const one = (a: number[]) => (a[0] ?? Number.NaN).toFixed(2);
  return `load ${one(load.loadAvgStart)} → ${one(load.loadAvgEnd)} (1-min avg) on ${load.cpus} CPUs${load.ownProcess ? ', own process' : ''}`;
}

export function describeBudget(b: Budget | null): string {
  if (!b) return '-';
  const parts: string[] = [];
  if (b.p50Us !== undefined) parts.push(`p50≤${formatNumber(b.p50Us)}`);
  if (b.p99Us !== undefined) parts.push(`p99≤${formatNumber(b.p99Us)}`);
  if (b.minOpsPerSec !== undefined) parts.push(`≥${formatNumber(b.minOpsPerSec)}/s`);
  if (b.maxRatioToFloor !== undefined) parts.push(`ratio≤${formatNumber(b.maxRatioToFloor)}`);
  return parts.join(' ') || '-';
}

/** The shape of a suite module. */
export type Suite = (ctx: BenchContext) => Promise<SuiteResult>;
