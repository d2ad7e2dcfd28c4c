/**
 * A seeded xorshift32 for tests that draw their own random cases (tables, operation sequences):
 * `rng(seed)` gives `rand(n)`, an integer in [0, n) for n up to 2^32; the same seed draws the same
 * sequence on every run. Not a test file itself.
 */
export function rng(seed: number): (n: number) => number {
  let x = (seed >>> 0) || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}
