import assert from "node:assert/strict";
import { PAGE_SIZE, PhysMem } from "../../lib/internal.ts";

Deno.test("physmem: scalar widths are little-endian and share bytes", () => {
  const ram = new PhysMem(16 * PAGE_SIZE);
  ram.write64(0x1000, 0x1122_3344_5566_7788n);
  assert.equal(ram.read8(0x1000), 0x88);
  assert.equal(ram.read16(0x1000), 0x7788);
  assert.equal(ram.read32(0x1004), 0x1122_3344);
  assert.equal(ram.read64(0x1000), 0x1122_3344_5566_7788n);
  const out = new Uint32Array(2);
  ram.read64Parts(0x1000, out);
  assert.deepEqual([...out], [0x5566_7788, 0x1122_3344]);
  ram.write64Parts(0x2000, 0xffff_ffff, 0x8000_0000);
  assert.equal(ram.read64(0x2000), 0x8000_0000_ffff_ffffn);
});

Deno.test("physmem: accesses that straddle two frames", () => {
  const ram = new PhysMem(16 * PAGE_SIZE);
  ram.write64(PAGE_SIZE - 3, 0x0102_0304_0506_0708n);
  assert.equal(ram.read64(PAGE_SIZE - 3), 0x0102_0304_0506_0708n);
  assert.equal(ram.read32(PAGE_SIZE - 2), 0x0405_0607);
  assert.equal(ram.read16(PAGE_SIZE - 1), 0x0506);
  assert.equal(ram.backedFrames, 2);
  const bytes = Uint8Array.from({ length: 3 * PAGE_SIZE }, (_, i) => (i % 251) + 1);
  ram.writeBytes(5 * PAGE_SIZE + 7, bytes);
  assert.deepEqual(ram.readBytes(5 * PAGE_SIZE + 7, bytes.length), bytes);
});

Deno.test("physmem: unwritten frames read as zero and cost nothing; zeros allocate nothing", () => {
  const ram = new PhysMem(64 * 2 ** 30);
  assert.equal(ram.read64(2 ** 35 + 8), 0n);
  ram.write32(0x5000, 0);
  ram.write64(0x6000, 0n);
  ram.writeBytes(0x7000, new Uint8Array(3 * PAGE_SIZE));
  assert.equal(ram.backedFrames, 0);
  assert.deepEqual(ram.readBytes(0x7ff0, 32), new Uint8Array(32));
});

Deno.test("physmem: discard forgets contents and backing", () => {
  const ram = new PhysMem(16 * PAGE_SIZE);
  ram.write8(3 * PAGE_SIZE + 1, 9);
  assert.equal(ram.read8(3 * PAGE_SIZE + 1), 9);
  ram.discard(3, 1);
  assert.equal(ram.read8(3 * PAGE_SIZE + 1), 0);
  assert.equal(ram.backedFrames, 0);
});

Deno.test("physmem: accesses outside RAM throw", () => {
  const ram = new PhysMem(16 * PAGE_SIZE);
  assert.throws(() => ram.read8(16 * PAGE_SIZE), RangeError);
  assert.throws(() => ram.read64(16 * PAGE_SIZE - 4), RangeError);
  assert.throws(() => ram.write32(-4, 1), RangeError);
  assert.throws(() => new PhysMem(2 ** 53), RangeError);
  assert.throws(() => new PhysMem(PAGE_SIZE + 1), RangeError);
});

Deno.test("physmem: the whole 52-bit space is addressable", () => {
  const ram = new PhysMem(2 ** 52);
  const top = 2 ** 52 - 8;
  ram.write64(top, 0xfeed_face_cafe_beefn);
  assert.equal(ram.read64(top), 0xfeed_face_cafe_beefn);
  assert.equal(ram.backedFrames, 1);
});
