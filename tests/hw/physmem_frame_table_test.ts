/**
 * Issue 10 item 1: physical memory's frame table (spec/02-physical-memory.md#frames) is flat below
 * 8 GiB and chunked above. Frames on both sides of the 8 GiB line, of the 16 TiB line and near
 * 2^52 read back what was written, `slotAt()` agrees with the scalar methods, discards forget on
 * both sides (one frame at a time and as a block larger than what is backed), and the flat table
 * grows only as far as the highest frame written below 8 GiB.
 */
import assert from "node:assert/strict";
import { PAGE_SIZE, PhysMem } from "../../lib/internal.ts";

const GiB = 2 ** 30;
const EDGES = [
  0,
  PAGE_SIZE,
  8 * GiB - PAGE_SIZE, // the last frame of the flat table
  8 * GiB, // the first chunked frame
  8 * GiB + 4 * 2 ** 20,
  2 ** 44 - PAGE_SIZE, // the last frame below 16 TiB
  2 ** 44, // the first frame of the far chunks
  2 ** 52 - PAGE_SIZE,
];

const hi = (pa: number) => Math.floor(pa / 2 ** 32);

Deno.test("physmem frame table: frames either side of 8 GiB, 16 TiB and 2^52", () => {
  const ram = new PhysMem(2 ** 52);
  EDGES.forEach((pa, i) => ram.write64Parts(pa + 8, 0x1000 + i, 0x2000 + i));
  assert.equal(ram.backedFrames, EDGES.length);
  const out = new Uint32Array(2);
  const slots = new Set<number>();
  EDGES.forEach((pa, i) => {
    ram.read64Parts(pa + 8, out);
    assert.deepEqual([...out], [0x1000 + i, 0x2000 + i], `0x${pa.toString(16)}`);
    assert.equal(ram.read32(pa + 12), 0x2000 + i);
    // slotAt finds the frame from either half of an address inside it
    const s = ram.slotAt(hi(pa), (pa + 0xff8) >>> 0);
    assert.ok(s >= 0);
    assert.equal(ram.words[s * 1024 + 2], 0x1000 + i);
    slots.add(s);
    // the frames next to it have no buffer
    if (pa + PAGE_SIZE < 2 ** 52 && !EDGES.includes(pa + PAGE_SIZE)) {
      assert.equal(ram.slotAt(hi(pa + PAGE_SIZE), (pa + PAGE_SIZE) >>> 0), -1);
    }
  });
  assert.equal(slots.size, EDGES.length, "one slot per frame");
  // the flat table reaches the frame below 8 GiB and no further
  assert.equal(ram.lowFrames.length, 2 ** 21);
});

Deno.test("physmem frame table: the flat table grows by doubling, to the highest frame written", () => {
  const ram = new PhysMem(64 * GiB);
  assert.equal(ram.lowFrames.length, 0);
  ram.write8(0x1000, 1);
  assert.equal(ram.lowFrames.length, 1024);
  ram.write8(3000 * PAGE_SIZE, 1);
  assert.equal(ram.lowFrames.length, 4096);
  ram.write8(9 * GiB, 1); // above 8 GiB: a chunk, not the flat table
  assert.equal(ram.lowFrames.length, 4096);
  assert.equal(ram.read8(3000 * PAGE_SIZE), 1);
  assert.equal(ram.read8(9 * GiB), 1);
  assert.equal(ram.slotAt(0, 5000 * PAGE_SIZE), -1, "beyond the flat table: no buffer");
});

Deno.test("physmem frame table: discard on both sides of 8 GiB, frame by frame and as a block", () => {
  const ram = new PhysMem(64 * GiB);
  const first = 8 * GiB / PAGE_SIZE - 4; // 4 flat frames, then 4 chunked ones
  for (let i = 0; i < 8; i++) ram.write32((first + i) * PAGE_SIZE, 0xa0 + i);
  assert.equal(ram.backedFrames, 8);
  ram.discard(first + 2, 4); // two flat, two chunked: one at a time (count <= backed)
  assert.equal(ram.backedFrames, 4);
  for (let i = 0; i < 8; i++) {
    assert.equal(ram.read32((first + i) * PAGE_SIZE), i >= 2 && i < 6 ? 0 : 0xa0 + i);
  }
  ram.discard(first - 512, 1024); // a block larger than what is backed: the table walk
  assert.equal(ram.backedFrames, 0);
  for (let i = 0; i < 8; i++) assert.equal(ram.read32((first + i) * PAGE_SIZE), 0);
  // the slots are reused
  ram.write32(0x1000, 7);
  assert.equal(ram.backedFrames, 1);
  assert.ok(ram.slotAt(0, 0x1000) < 8);
});
