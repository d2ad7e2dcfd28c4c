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
 *   real limit to the usage, so that the charge and every later one fail for real. A counting run
 *   tells reads by page_counter_try_charge() from the others by the caller's frame and notes
 *   which read each charge was; an injecting run repeats it, so it counts reads alone and checks
 *   the caller once, at the read it injects.
 *
 * A task's own use of fail_nth (a test that arms it itself) passes through unchanged.
 */
import { Machine, OOM_SCORE_ADJ_MIN, type Process } from "../../lib/internal.ts";

export type Mode =
  | { kind: "off" }
  /** Names every point and charge; past `upTo` of them, the run stops (CountLimit is thrown). */
  | { kind: "count"; upTo?: number }
  | { kind: "fail-nth"; n: number }
  /** `at`: which read of `max` was the Nth charge in the counting run (its `chargeReads`). */
  | { kind: "memory-max"; n: number; at: number };

const SENTINEL = 2 ** 40;

/** What one traced run saw. */
export interface Trace {
  /** Fault-injection points passed, in order, by site. */
  points: string[];
  /** Charges checked against a spawned task's memory.max, by site. */
  charges: string[];
  /** For each charge, which read of a traced `max` it was (counting runs). */
  chargeReads: number[];
  /** The site that was made to fail, if any. */
  injected: string | null;
  /** Every task spawned during the run (to be killed afterwards). */
  tasks: Process[];
}

let mode: Mode = { kind: "off" };
let trace: Trace = { points: [], charges: [], chargeReads: [], injected: null, tasks: [] };
/** Reads of a traced counter's `max` so far in this run. */
let maxReads = 0;
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

/** V8's structured stack below `fn`'s frame, `limit` frames deep. */
// deno-lint-ignore ban-types
function callSites(limit: number, fn: Function): CallSite[] {
  // deno-lint-ignore no-explicit-any
  const E = Error as any;
  const [depth, prepare] = [Error.stackTraceLimit, E.prepareStackTrace];
  Error.stackTraceLimit = limit;
  E.prepareStackTrace = (_: Error, sites: CallSite[]) => sites;
  const holder: { stack?: CallSite[] } = {};
  Error.captureStackTrace(holder, fn);
  const sites = holder.stack ?? []; // formatted when first read, by the prepareStackTrace of then
  [Error.stackTraceLimit, E.prepareStackTrace] = [depth, prepare];
  return sites;
}

/** The parts of V8's CallSite the tracer reads. */
interface CallSite {
  getFunctionName(): string | null;
  getScriptNameOrSourceURL(): string | null;
  isConstructor(): boolean;
  isAsync(): boolean;
  getTypeName(): string | null;
  isToplevel(): boolean;
  toString(): string;
}

/**
 * The allocation site of the current stack: `function (lib/file.ts:line)`.
 *
 * A formatted frame costs a source-map lookup (lib/ → spec/), so frames are formatted one by one
 * and only where neither their script (skippedScript) nor the function's name already rules the
 * frame out: a plain function (not a method or constructor, whose formatted names carry a prefix)
 * named like an allocator.
 */
export function site(): string {
  // The site is rarely deep: look in the top 16 frames first (capturing costs by the frame).
  return siteIn(callSites(16, site)) ?? siteIn(callSites(60, site)) ?? "<unknown>";
}

function siteIn(frames: CallSite[]): string | null {
  for (const frame of frames) {
    if (skippedScript(frame.getScriptNameOrSourceURL())) continue;
    // The name first: the kind of call is asked (four calls into V8) only of an allocator's name.
    const name = frame.getFunctionName();
    const plain = () =>
      !frame.isConstructor() && !frame.isAsync() &&
      (frame.isToplevel() || frame.getTypeName() === null);
    if (name && (ALLOCATOR.test(name) || SKIP_FN.test(name)) && plain()) continue;
    const m = `at ${frame}`.match(/at (?:(.+?) \()?(?:file:\/\/)?([^()]+?):(\d+):\d+\)?$/);
    if (!m) continue;
    const [, fn = "<anonymous>", file, ln] = m;
    if (SKIP_FILE.test(file) || SKIP_FN.test(fn) || ALLOCATOR.test(fn)) continue;
    const rel = file.replace(/^.*?\/(lib|tests|examples|spec)\//, "$1/");
    return `${fn.replace(/^(Process|task_struct|Object)\./, "")} (${rel}:${ln})`;
  }
  return null;
}

/**
 * Whether SKIP_FILE rules out every frame of a script, wherever its source map puts the frame: the
 * tracer's own files, and a generated file of lib/ whose chapters, named in its header, are all
 * allocator chapters (02-04) — lib/mm/, and also lib/kernel/task.ts and current.ts, whose
 * syscall() and runAs() frames lie under every user access. A frame's script name needs no source
 * map, and most frames of a point are the allocator's: formatting them (a source-map lookup each)
 * was most of a count's time.
 */
function skippedScript(url: string | null): boolean {
  if (!skipScripts || !url) return false;
  let skipped = skippedScripts.get(url);
  if (skipped === undefined) {
    const path = url.replace(/^file:\/\//, "");
    skipped = /\/tests\/fail_nth\/[^/]*$/.test(path);
    if (!skipped && /\/lib\/.*\.ts$/.test(path)) {
      const header = Deno.readTextFileSync(path).split("\n", 2);
      const chapters = header[0].includes("generated by `deno task tangle`")
        ? header[1].replace(/^\/\/ /, "").split(", ")
        : [];
      skipped = chapters.length > 0 && chapters.every((c) => SKIP_FILE.test(`/${c}`));
    }
    skippedScripts.set(url, skipped);
  }
  return skipped;
}
const skippedScripts = new Map<string, boolean>();
let skipScripts = true;

/** Turn skipping frames by their script off or on (tracer_test.ts compares the sites both ways). */
export function skipFramesByScript(on: boolean): void {
  skipScripts = on;
}

/** Whether the current read of `max` is page_counter_try_charge() checking a charge. */
function fromTryCharge(): boolean {
  // Frame 0 is the accessor, frame 1 its caller; a name needs no source map.
  return callSites(2, fromTryCharge)[1]?.getFunctionName() === "page_counter_try_charge";
}

/**
 * Thrown at every point and charge of a counting run past its `upTo`: the run, too large to
 * sweep, is abandoned there (its machine with it: nothing of it is checked or reused).
 */
class CountLimit extends Error {}

/** A counting run names the site; past its limit it stops the run. */
function tally(m: { upTo?: number }, sites: string[]): void {
  if (m.upTo !== undefined && trace.points.length + trace.charges.length > m.upTo) {
    throw new CountLimit(`more than ${m.upTo} injection points and charges`);
  }
  sites.push(site());
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
      if (mode.kind === "count") {
        tally(mode, trace.points);
        return;
      }
      const injecting = mode.kind === "fail-nth" && n === mode.n;
      trace.points.push(injecting ? site() : "");
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
      if (suspended || spent) return max;
      if (mode.kind === "memory-max") {
        // The run repeats the counting run up to here, so the Nth charge is the same read of
        // `max` (over every traced counter) as it was then; one stack confirms it.
        if (++maxReads !== mode.at) return max;
        if (!fromTryCharge()) {
          throw new Error(`fail-nth tracer: read ${mode.at} of memory.max is not a charge now`);
        }
        trace.charges.push(...Array(mode.n - trace.charges.length - 1).fill(""));
        const where = site();
        trace.charges.push(where);
        spent = true;
        trace.injected = where;
        max = counter.usage;
      } else if (mode.kind === "count" && (++maxReads, fromTryCharge())) {
        tally(mode, trace.charges);
        trace.chargeReads.push(maxReads);
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
  trace = { points: [], charges: [], chargeReads: [], injected: null, tasks: [] };
  maxReads = 0;
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
  trace = { points: [], charges: [], chargeReads: [], injected: null, tasks: [] };
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
