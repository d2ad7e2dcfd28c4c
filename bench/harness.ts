/**
 * Timing helpers for `bench/report.ts`: runs of a function, each long enough to time, and the
 * summary row `bench/report.json` holds for a figure.
 *
 * @module
 */
import process from "node:process";

/** One figure of the report: the median, minimum and maximum over `runs` runs. */
export interface Result {
  name: string;
  unit: "ns" | "ms" | "MiB" | "pages" | "x";
  median: number;
  min: number;
  max: number;
  runs: number;
  /** What one run measured, when the name alone does not say. */
  note?: string;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Rounds to 3 significant digits (at least 0 decimals for large values). */
function round(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(x))));
  return Number(x.toFixed(digits));
}

/** The report row for the values of `xs.length` runs. */
export function summarize(
  name: string,
  unit: Result["unit"],
  xs: number[],
  note?: string,
): Result {
  if (xs.length === 0) throw new Error(`${name}: no runs`);
  const r: Result = {
    name,
    unit,
    median: round(median(xs)),
    min: round(Math.min(...xs)),
    max: round(Math.max(...xs)),
    runs: xs.length,
  };
  if (note) r.note = note;
  return r;
}

/**
 * The process's CPU time (user + system) in ms. The ns figures use it rather than wall time: this
 * machine is shared, and wall time counts the time other processes hold the CPU. The C walker
 * uses the same clock (CLOCK_PROCESS_CPUTIME_ID).
 */
export function cpuMs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

/**
 * Times `fn` (which performs `ops` operations per call) in `runs` runs of at least `minMs` of CPU
 * time each, after a warm-up run; returns CPU ns per operation for each run.
 */
export function timeRuns(fn: () => void, ops: number, runs: number, minMs: number): number[] {
  // Warm up and calibrate: calls per run so that a run lasts at least minMs.
  let calls = 1;
  for (;;) {
    const t = cpuMs();
    for (let i = 0; i < calls; i++) fn();
    const ms = cpuMs() - t;
    if (ms >= minMs / 4) {
      calls = Math.max(1, Math.ceil(calls * minMs / Math.max(ms, 1e-3)));
      break;
    }
    calls *= 4;
  }
  const out: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = cpuMs();
    for (let i = 0; i < calls; i++) fn();
    out.push((cpuMs() - t) * 1e6 / (calls * ops));
  }
  return out;
}

const GNU_TIME = "/usr/bin/time";
const hasGnuTime = (() => {
  try {
    return Deno.statSync(GNU_TIME).isFile;
  } catch {
    return false;
  }
})();

/**
 * Wall time of one command in ms, and its CPU time (user + system, its descendants included) when
 * GNU time is installed; throws with the command's output when it fails.
 */
export async function timeCommand(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ wall: number; cpu?: number }> {
  const cpuFile = hasGnuTime ? await Deno.makeTempFile({ prefix: "bench-time-" }) : undefined;
  const argv = cpuFile ? ["-f", "%U %S", "-o", cpuFile, cmd, ...args] : args;
  const t = performance.now();
  const out = await new Deno.Command(cpuFile ? GNU_TIME : cmd, {
    args: argv,
    cwd: opts.cwd,
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wall = performance.now() - t;
  if (!out.success) {
    const dec = new TextDecoder();
    throw new Error(
      `${cmd} ${args.join(" ")} failed:\n${dec.decode(out.stdout)}${dec.decode(out.stderr)}`,
    );
  }
  if (!cpuFile) return { wall };
  const [user, sys] = (await Deno.readTextFile(cpuFile)).trim().split(/\s+/).map(Number);
  await Deno.remove(cpuFile);
  return { wall, cpu: (user + sys) * 1000 };
}
