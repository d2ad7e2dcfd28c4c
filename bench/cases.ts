/**
 * One registry for the micro-benchmarks: each `bench()` call registers a case with `deno bench`
 * (as `Deno.bench` does; under `deno run` that is a no-op) and records it under its report name,
 * so `bench/report.ts` can time the same function and write its median to `bench/report.json`.
 *
 * @module
 */

/** A micro-benchmark: one operation, timed per call. */
export interface BenchCase {
  /** The name in `bench/report.json`, snake_case with its unit as suffix: `_ns` or `_ms`. */
  report: string;
  /** What `deno bench` prints. */
  name: string;
  group: string;
  /** Operations one call performs (the figure is ns per operation). */
  ops: number;
  fn: () => void;
}

/** Every case registered so far, in registration order. */
export const cases: BenchCase[] = [];

/** Registers `fn` with `deno bench` and with the report under `report`. */
export function bench(
  report: string,
  name: string,
  group: string,
  fn: () => void,
  ops = 1,
): void {
  cases.push({ report, name, group, ops, fn });
  Deno.bench(name, { group }, fn);
}
