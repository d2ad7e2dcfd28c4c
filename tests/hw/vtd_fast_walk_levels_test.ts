/**
 * Issue 10 item 1: the second-stage fast path (spec/17-vtd-page-walk.md#vtd-fast-path) at every
 * table depth the model has — AW 0..3, 2 to 5 levels — where the random tables of
 * vtd_fast_walk_test.ts have 4 or 5. The fast path finds each level's index in a window over the
 * input that it shifts 9 bits per level, and starts it where the top level's index is: a depth it
 * never ran would go unchecked. Over mappings of every size the depth allows, with random entry
 * bits flipped (large-page, reserved, rights, accessed, dirty), each walk with the fast path
 * enabled equals the same walk by the general walker (a trace disables the fast path): address,
 * page size, permissions, level, fault, reads, and the frames read, in order.
 */
import assert from "node:assert/strict";
import {
  PhysMem,
  vtdMapSecondStage,
  vtdPrng,
  VtdSecondStage,
  VtdTableArena,
  VtdWalk,
  vtdWalkSecondStage,
} from "../../lib/internal.ts";

/** Records the frames the fast path looks up, and whether the general walker read an entry. */
class Recording extends PhysMem {
  frames: number[] = [];
  general = false;
  override slotAt(hi: number, lo: number): number {
    this.frames.push(hi * 2 ** 32 + ((lo & ~0xfff) >>> 0));
    return super.slotAt(hi, lo);
  }
  override read64Parts(pa: number, out: Uint32Array): void {
    this.general = true;
    super.read64Parts(pa, out);
  }
}

const PAGE = 4096;
/** Bits of an entry's low word the flips pick from: R, W, A, PS, SNP, D and reserved 8-11. */
const FLIPS = [0, 1, 7, 8, 9, 10, 11];

function check(aw: number, seed: number, counts: { fast: number; general: number }): void {
  const rand = vtdPrng(seed);
  // (inputs as numbers: below 2^53 at 5 levels)
  const width = Math.min(30 + 9 * aw, 53);
  const opts = {
    root: 0x10_0000,
    aw,
    mgaw: 57,
    sllps: rand(4),
    ssade: rand(2) === 1,
    mode: rand(2) ? "scalable" as const : "legacy" as const,
  };
  const fast = new Recording(2 ** 36), general = new PhysMem(2 ** 36);
  const ss = new VtdSecondStage(opts);
  const arenas = [new VtdTableArena(0x10_1000), new VtdTableArena(0x10_1000)];
  const sizes = [PAGE, 2 ** 21, 2 ** 30].filter((_, i) => i === 0 || ss.largeAt & (1 << (i + 1)));
  const iovas: number[] = [];
  const entries: number[] = [];
  for (let i = 0; i < 24; i++) {
    const size = sizes[rand(sizes.length)];
    // an IOVA anywhere below 2^width, size-aligned, its top bits random so every index varies
    const frames = 2 ** (width - Math.log2(size));
    const r = (rand(0x1_0000) * 0x1_0000 + rand(0x1_0000)) * 0x1_0000 + rand(0x1_0000);
    const iova = (r % frames) * size;
    const pa = (1 + rand(15)) * 2 ** 30 + (size === 2 ** 30 ? 0 : rand(512) * size);
    const prot = { read: true, write: rand(2) === 1 };
    for (const [k, mem] of [fast, general].entries()) {
      try {
        vtdMapSecondStage(mem, ss, iova, pa, size, prot, arenas[k].alloc);
      } catch {
        // an overlap with an earlier mapping of another size: the earlier one stays
      }
    }
    iovas.push(iova + rand(size / PAGE) * PAGE + rand(PAGE), iova);
  }
  for (let at = 0x10_0000; at < arenas[0].next; at += 8) {
    if (fast.read64(at) !== 0n) entries.push(at);
  }
  // flip one bit in a few entries, the same in both memories
  for (let i = 0; i < 6 && entries.length > 0; i++) {
    const at = entries[rand(entries.length)], bit = FLIPS[rand(FLIPS.length)];
    for (const mem of [fast, general]) mem.write64(at, mem.read64(at) ^ (1n << BigInt(bit)));
  }
  for (const iova of iovas) {
    for (const write of [false, true]) {
      const access = { write };
      fast.frames.length = 0;
      fast.general = false;
      const x = vtdWalkSecondStage(fast, ss, iova, access, new VtdWalk());
      const y = vtdWalkSecondStage(general, ss, iova, access, new VtdWalk({ trace: true }));
      const what = `aw ${aw} seed ${seed} iova 0x${iova.toString(16)} write ${write}`;
      const f = (w: VtdWalk) => [w.fault, w.level, w.pa, w.pageSize, w.read, w.write, w.reads];
      assert.deepEqual(f(x), f(y), what);
      if (x.ok && !fast.general) {
        counts.fast++;
        assert.deepEqual(fast.frames, y.trace!.map((pa) => pa - (pa % PAGE)), what);
      } else {
        counts.general++;
      }
    }
  }
}

Deno.test("vtd second-stage fast path ≡ general walker at 2, 3, 4 and 5 levels (seeded)", () => {
  for (let aw = 0; aw <= 3; aw++) {
    const counts = { fast: 0, general: 0 };
    for (let seed = 1; seed <= 40; seed++) check(aw, seed * 7919 + aw, counts);
    // not vacuous at this depth: the fast path translated, and declined, many walks
    assert.ok(counts.fast > 200, `AW ${aw}: the fast path translated ${counts.fast} walks`);
    assert.ok(counts.general > 50, `AW ${aw}: the general walker ran ${counts.general} walks`);
  }
});
