/**
 * A tracer on the model's one fault-injection hook, for fail-nth sweeps over whole scenarios.
 *
 * should_fail() (spec/03, lib/mm/fault-inject.ts) reads the current task's `fail_nth`, decrements
 * it, and fails when it reaches zero. The tracer puts an accessor on `fail_nth` of every task
 * `Machine.spawn()` makes while it is installed, so that without touching the model it can
 *
 * - count every injection point a scenario passes, and name its allocation site (the first stack
 *   frame outside lib/mm/, iommu-pages and the iommufd_should_fail() wrapper);
 * - make the Nth point of the whole scenario (over all its tasks) fail;
 * - or, the second way, make memory.max be hit at the Nth charge: an accessor on `max` of each
 *   spawned task's memory cgroup counts the charges checked against it, and at the Nth sets the
 *   real limit to the usage, so that the charge and every later one fail for real.
 *
 * A task's own use of fail_nth (a test that arms it itself) passes through unchanged.
 */
import { Machine, OOM_SCORE_ADJ_MIN, type Process } from "../../lib/internal.ts";

export type Mode =
  | { kind: "off" }
  | { kind: "count" }
  | { kind: "tally" }
  | { kind: "fail-nth"; n: number }
  | { kind: "memory-max"; n: number };

const SENTINEL = 2 ** 40;

/** What one traced run saw. */
export interface Trace {
  /** Fault-injection points passed, in order, by site. */
  points: string[];
  /** Charges checked against a spawned task's memory.max, by site. */
  charges: string[];
  /** The site that was made to fail, if any. */
  injected: string | null;
  /** Every task spawned during the run (to be killed afterwards). */
  tasks: Process[];
}

let mode: Mode = { kind: "off" };
let trace: Trace = { points: [], charges: [], injected: null, tasks: [] };
let injectNow = false;
let suspended = false;
let spent = false;

// Frames are lib/ files, or spec/ chapters once `deno task tangle` has written source maps: skip
// the allocators' files and chapters (lib/mm/ is chapters 02-04), and allocators by name.
const SKIP_FILE =
  /\/lib\/mm\/|\/lib\/iommu\/iommu-pages\.ts|\/tests\/fail_nth\/|\/spec\/0[234]-[^/]*\.md$/;
const ALLOCATOR =
  /^(kmem_cache_alloc|k[mvz]alloc\w*|kcalloc|krealloc|\w*alloc_pages?\w*|folio_alloc\w*|iommu_alloc_pages?\w*|page_counter_try_charge|\w*charge\w*)$/;
const SKIP_FN = /should_fail|^(Object\.)?(get|set) |^Proxy\./;

/** The allocation site of the current stack: `function (lib/file.ts:line)`. */
export function site(): string {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 60;
  const stack = new Error().stack!.split("\n").slice(1);
  Error.stackTraceLimit = limit;
  for (const line of stack) {
    const m = line.match(/at (?:(.+?) \()?(?:file:\/\/)?([^()]+?):(\d+):\d+\)?$/);
    if (!m) continue;
    const [, fn = "<anonymous>", file, ln] = m;
    if (SKIP_FILE.test(file) || SKIP_FN.test(fn) || ALLOCATOR.test(fn)) continue;
    const rel = file.replace(/^.*?\/(lib|tests|examples|spec)\//, "$1/");
    return `${fn.replace(/^(Process|task_struct|Object)\./, "")} (${rel}:${ln})`;
  }
  return "<unknown>";
}

function instrument(task: Process): void {
  trace.tasks.push(task);
  let own = task.task.fail_nth;
  Object.defineProperty(task.task, "fail_nth", {
    configurable: true,
    enumerable: true,
    get() {
      if (own || suspended || mode.kind === "off" || mode.kind === "memory-max" || spent) {
        return own;
      }
      if (injectNow) return 0;
      return SENTINEL;
    },
    set(v: number) {
      if (own || suspended || mode.kind === "off" || mode.kind === "memory-max" || spent) {
        own = v;
        return;
      }
      // should_fail() decremented the sentinel: one injection point passed. (Sites are named
      // when counting, and at the injected point; finding them is the tracer's main cost.)
      if (injectNow) {
        injectNow = false;
        spent = true;
        return;
      }
      const n = trace.points.length + 1;
      if (mode.kind === "tally") {
        trace.points.push("");
        return;
      }
      const injecting = mode.kind === "fail-nth" && n === mode.n;
      trace.points.push(mode.kind === "count" || injecting ? site() : "");
      if (injecting) {
        injectNow = true;
        trace.injected = trace.points[n - 1];
      }
    },
  });
  const counter = task.cgroup.memory;
  if (Object.getOwnPropertyDescriptor(counter, "max")?.get) return;
  let max = counter.max;
  Object.defineProperty(counter, "max", {
    configurable: true,
    enumerable: true,
    get() {
      if (
        !suspended &&
        (mode.kind === "count" || mode.kind === "tally" || (mode.kind === "memory-max" && !spent))
      ) {
        // Count a charge only when called from page_counter_try_charge().
        // Only the caller's frame is needed: a short stack keeps this cheap.
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 2;
        const stack = new Error().stack!;
        Error.stackTraceLimit = limit;
        if (/at page_counter_try_charge/.test(stack)) {
          const injecting = mode.kind === "memory-max" && trace.charges.length + 1 === mode.n;
          const where = mode.kind === "count" || injecting ? site() : "";
          if (mode.kind === "tally") {
            trace.charges.push("");
            return max;
          }
          trace.charges.push(where);
          if (injecting) {
            spent = true;
            trace.injected = where;
            max = counter.usage;
          }
        }
      }
      return max;
    },
    set(v: number) {
      max = v;
    },
  });
  if (mode.kind === "memory-max") task.task.signal.oom_score_adj = OOM_SCORE_ADJ_MIN;
}

const original = Machine.prototype.spawn;

/** Run `fn` (a scenario's setup) without counting or injecting. */
export function unswept<T>(fn: () => T): T {
  suspended = true;
  try {
    return fn();
  } finally {
    suspended = false;
  }
}

function begin(m: Mode): void {
  mode = m;
  trace = { points: [], charges: [], injected: null, tasks: [] };
  injectNow = false;
  spent = false;
  Machine.prototype.spawn = function (this: Machine, ...args: Parameters<Machine["spawn"]>) {
    const task = original.apply(this, args);
    instrument(task);
    return task;
  };
}

function end(error: unknown): { trace: Trace; error: unknown } {
  Machine.prototype.spawn = original;
  const t = trace;
  mode = { kind: "off" };
  trace = { points: [], charges: [], injected: null, tasks: [] };
  return { trace: t, error };
}

/** Run `body` with the tracer in mode `m`; every task spawned meanwhile is instrumented. */
export function traced(m: Mode, body: () => void): { trace: Trace; error: unknown } {
  begin(m);
  try {
    body();
  } catch (e) {
    return end(e);
  }
  return end(null);
}

/** traced() for a body that awaits (an example module's top-level code). */
export async function tracedAsync(
  m: Mode,
  body: () => Promise<unknown>,
): Promise<{ trace: Trace; error: unknown }> {
  begin(m);
  try {
    await body();
  } catch (e) {
    return end(e);
  }
  return end(null);
}
