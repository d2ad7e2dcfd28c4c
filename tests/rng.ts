/**
 * A seeded xorshift32 for tests that draw their own random cases (tables, operation sequences):
 * `rng(seed)` gives `rand(n)`, an integer in [0, n) for n up to 2^32; the same seed draws the same
 * sequence on every run. It is the model's own `vtdPrng` (spec/17), under a neutral name.
 */
export { vtdPrng as rng } from "../lib/internal.ts";
