/**
 * Issue 10 item 1: the VT-d walker's fast path (spec/17-vtd-page-walk.md#vtd-fast-path) is
 * equivalent to the general walker. Over random tables — second stage alone, first stage alone and
 * nested, with random stage options, random bit flips in random entries and random requests — a
 * walk with the fast path enabled (no trace) and the same walk by the general walker alone (a
 * trace disables the fast path), on two identical memories, give the same address, page size,
 * permissions, level, fault, check, entries read (the same frames, in order) and leave the same
 * memory behind (A/D updates). Seeded fast-check: the same cases on every run.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  PhysMem,
  VtdWalk,
  vtdWalkFirstStage,
  vtdWalkNested,
  vtdWalkSecondStage,
} from "../../lib/internal.ts";
import { build, type Kind, PAGE, RAM, type Setup } from "./vtd_random_tables.ts";
import { rng } from "../rng.ts";

/** A PhysMem that records the frames the fast path looks up, and whether the general path read. */
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

const fields = (w: VtdWalk) => ({
  fault: w.fault,
  check: w.check,
  stage: w.stage,
  level: w.level,
  pa: w.pa,
  pageSize: w.pageSize,
  read: w.read,
  write: w.write,
  gpa: w.gpa,
  reads: w.reads,
});

const count = { fast: 0, general: 0 };

function walk(
  mem: PhysMem,
  kind: Kind,
  s: Setup,
  iova: number,
  access: { write: boolean; supervisor: boolean },
  out: VtdWalk,
): VtdWalk {
  if (kind === "ss") return vtdWalkSecondStage(mem, s.ss!, iova, access, out);
  if (kind === "fs") return vtdWalkFirstStage(mem, s.fs!, iova, access, out);
  return vtdWalkNested(mem, s.fs!, s.ss!, iova, access, out);
}

function check(kind: Kind, seed: number): void {
  const fast = new Recording(RAM), general = new PhysMem(RAM);
  const a = build(fast, kind, seed), b = build(general, kind, seed);
  const rand = rng(seed ^ 0x5bd1_e995);
  for (const iova of a.iovas) {
    for (let k = 0; k < 2; k++) {
      const access = { write: !!rand(2), supervisor: !!rand(2) };
      fast.frames.length = 0;
      fast.general = false;
      const x = walk(fast, kind, a, iova, access, new VtdWalk());
      const y = walk(general, kind, b, iova, access, new VtdWalk({ trace: true }));
      const what = `${kind} seed ${seed} iova 0x${iova.toString(16)} ${JSON.stringify(access)}`;
      assert.deepEqual(fields(x), fields(y), what);
      if (x.ok && !fast.general) {
        // the fast path translated (it never faults): it read the frames of the general walker's
        // entries, in order
        count.fast++;
        assert.deepEqual(fast.frames, y.trace!.map((pa) => pa - (pa % PAGE)), what);
      } else {
        count.general++;
      }
    }
  }
  for (const [from, to] of a.regions) {
    assert.deepEqual(fast.readBytes(from, to - from), general.readBytes(from, to - from));
  }
}

Deno.test("vtd fast path ≡ general walker: SS, FS and nested over random tables (seeded)", () => {
  count.fast = count.general = 0;
  fc.assert(
    fc.property(
      fc.constantFrom<Kind>("ss", "fs", "nested"),
      fc.integer({ min: 1, max: 0x7fff_ffff }),
      (kind, seed) => check(kind, seed),
    ),
    { seed: 0x10_f00d, numRuns: 150 },
  );
  // not vacuous: both the fast path and the fallback ran many times
  assert.ok(count.fast > 500, `fast path translated ${count.fast} walks`);
  assert.ok(count.general > 500, `general walker ran ${count.general} walks`);
});
