/**
 * read64 throughput of simulated physical memory: the page walker's access pattern (aligned
 * 64-bit reads within a few frames) and a scattered one.
 *
 * @module
 */
import { PAGE_SIZE, PhysMem } from "./model.ts";
import { bench } from "./cases.ts";

const ram = new PhysMem(64 * 2 ** 30);
const frames = Array.from({ length: 512 }, (_, i) => (i * 7919 % 4_000_000 + 1024) * PAGE_SIZE);
for (const base of frames) ram.write64(base + 8, BigInt(base) | 0x67n);
const out = new Uint32Array(2);

bench("physmem_read64parts_same_frame_ns", "read64Parts, same frame", "read64", () => {
  for (let i = 0; i < 512; i++) ram.read64Parts(frames[0] + i * 8, out);
}, 512);

bench("physmem_read64parts_scattered_ns", "read64Parts, 512 scattered frames", "read64", () => {
  for (let i = 0; i < 512; i++) ram.read64Parts(frames[i] + 8, out);
}, 512);

bench(
  "physmem_read64_bigint_scattered_ns",
  "read64 (bigint), 512 scattered frames",
  "read64",
  () => {
    for (let i = 0; i < 512; i++) ram.read64(frames[i] + 8);
  },
  512,
);
