/**
 * A fuzzer that goes deep (issue 11, item 2): long sequences of iommufd calls — explicitly sized,
 * mean well above 25 calls, some above 100 — on mock0 and on dmar0, over the world of
 * tests/isolation/world.ts (a VMM, two devices, a victim process, a mirror of every IOAS).
 *
 * After every call: device reach against the mirror (sampled), memory.current ≤ memory.max and
 * locked_vm ≤ RLIMIT_MEMLOCK. After every failed call: the kernel's real guarantee (nothing
 * changes, but second-stage table pages may stay after a failed IOAS_MAP/COPY on VT-d; issue 14
 * item I). After close: every counter back to its value before open, every group released.
 * A failing case shrinks and is printed as a runnable snippet.
 *
 * DEEP_FUZZ_RUNS (per driver), DEEP_FUZZ_SEED and DEEP_FUZZ_MAX (the longest sequence) override
 * the defaults; DEEP_FUZZ_STATS=1 prints runs × mean length and time.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  apply,
  assertProperty,
  checkClose,
  checkFailure,
  checkLimits,
  checkReach,
  counters,
  type Driver,
  makeWorld,
  objectsOf,
  snippet,
  wop,
} from "../isolation/world.ts";

const RUNS = Number(Deno.env.get("DEEP_FUZZ_RUNS") ?? 12);
const SEED = Number(Deno.env.get("DEEP_FUZZ_SEED") ?? 20261202);
const MAX = Number(Deno.env.get("DEEP_FUZZ_MAX") ?? 140);

for (const driver of ["mock0", "dmar0"] as Driver[]) {
  Deno.test(`deep fuzz: long call sequences on ${driver} (seed ${SEED}, ${RUNS} runs)`, () => {
    const lengths: number[] = [];
    let calls = 0, failed = 0;
    const t0 = performance.now();
    assertProperty(
      fc.property(
        // size "max": without it fast-check keeps arrays "small" (about 10 elements).
        fc.array(wop, { minLength: 20, maxLength: MAX, size: "max" }),
        fc.constantFrom(8, 64, 1024),
        fc.array(fc.nat(15), { minLength: 1, maxLength: 3 }),
        (seq, lim, samples) => {
          lengths.push(seq.length);
          const w = makeWorld(driver, lim);
          seq.forEach((o, step) => {
            const where = `step ${step} ${JSON.stringify(o)}`;
            const before = counters(w), objects = objectsOf(w);
            const { name, error } = apply(w, o);
            calls++;
            if (error) {
              failed++;
              checkFailure(w, name, before, objects, where);
            }
            checkReach(w, where, samples);
            checkLimits(w, where);
          });
          checkClose(w);
        },
      ),
      { seed: SEED, numRuns: RUNS },
      ([seq, lim]) => snippet(driver, lim, seq),
    );
    const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
    const long = lengths.filter((n) => n >= 100).length;
    if (Deno.env.get("DEEP_FUZZ_STATS")) {
      console.log(
        `${driver}: ${lengths.length} runs × mean ${mean.toFixed(1)} calls (${long} ≥ 100), ` +
          `${calls} calls, ${failed} failed, seed ${SEED}, ` +
          `${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
    // The sequences are long (what FUZZ_OPS never achieved), and some very long.
    assert.ok(mean >= 25, `mean length ${mean}`);
    if (RUNS >= 10 && MAX >= 120) assert.ok(long > 0, "no sequence of 100 calls or more");
  });
}
