/**
 * The walker's `levels`, read beside `trace` (spec/17-vtd-page-walk.md#vtd-walk-result): the level
 * of every entry read, negated for a second-stage entry, for V1, F1 and N1's 24 reads.
 */
import assert from "node:assert/strict";
import {
  PhysMem,
  VTD_DMA_READ,
  VtdFirstStage,
  VtdSecondStage,
  VtdWalk,
  vtdWalkFirstStage,
  vtdWalkNested,
  vtdWalkSecondStage,
} from "../../lib/internal.ts";

Deno.test("vtd levels: V1 reads SS levels 4..1, F1 FS levels 4..1", () => {
  const mem = new PhysMem(2 ** 40);
  mem.write64(0x100558, 0x101003n);
  mem.write64(0x101e68, 0x102003n);
  mem.write64(0x102778, 0x103003n);
  mem.write64(0x103918, 0x12_3456_7003n);
  const ss = new VtdSecondStage({ root: 0x100000 });
  const out = vtdWalkSecondStage(
    mem,
    ss,
    0x55f3_5df2_3456,
    VTD_DMA_READ,
    new VtdWalk({ trace: true }),
  );
  assert.deepEqual(out.levels, [-4, -3, -2, -1]);
  mem.write64(0x200558, 0x201027n);
  mem.write64(0x201e68, 0x202027n);
  mem.write64(0x202778, 0x203027n);
  mem.write64(0x203918, 0x12_3456_7067n);
  const fs = new VtdFirstStage({ root: 0x200000 });
  vtdWalkFirstStage(mem, fs, 0x55f3_5df2_3456, VTD_DMA_READ, out);
  assert.deepEqual(out.levels, [4, 3, 2, 1]);
  assert.equal(new VtdWalk().levels, null);
});

Deno.test("vtd levels: N1's 24 reads are 4 SS reads then the FS entry, per FS level", () => {
  const mem = new PhysMem(2 ** 40);
  mem.write64(0x100000, 0x101003n);
  mem.write64(0x101000, 0x102003n);
  mem.write64(0x102000, 0x103003n);
  for (let p = 1; p <= 5; p++) mem.write64(0x103000 + 8 * p, BigInt(0x8000_0000 + p * 0x1000) | 3n);
  mem.write64(0x8000_1008, 0x2027n);
  mem.write64(0x8000_2010, 0x3027n);
  mem.write64(0x8000_3018, 0x4027n);
  mem.write64(0x8000_4020, 0x5067n);
  const ss = new VtdSecondStage({ root: 0x100000, mode: "scalable" });
  const fs = new VtdFirstStage({ root: 0x1000 });
  const out = vtdWalkNested(
    mem,
    fs,
    ss,
    0x80_8060_4567,
    VTD_DMA_READ,
    new VtdWalk({ trace: true }),
  );
  const ssWalk = [-4, -3, -2, -1];
  assert.deepEqual(out.levels, [...ssWalk, 4, ...ssWalk, 3, ...ssWalk, 2, ...ssWalk, 1, ...ssWalk]);
  assert.equal(out.levels!.length, out.trace!.length);
  // a second walk through the same result starts afresh
  vtdWalkNested(mem, fs, ss, 0x80_8060_4567, VTD_DMA_READ, out);
  assert.equal(out.levels!.length, 24);
});
