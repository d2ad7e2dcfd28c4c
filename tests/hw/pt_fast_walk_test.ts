/**
 * Issue 10 item 1: the fast walker of chapter 21 (spec/21-riscv-iommu.md#pt-walk-fast) ≡ the general
 * `ptWalk`, for every format the model has: RISC-V Sv39/48/57 and their x4 G-stages, Arm LPAE
 * (stages 1 and 2, 4/16/64 KiB granules, concatenated roots, HA), AMD v1 (modes 1–6, DTE IR/IW) and
 * VT-d's second and first stages (both check orders, SSADE, large pages, 5-level). Over random tables
 * written by the generic table writer (PtDomain) plus random damage (bit flips, garbage and cleared
 * entries), random requests (access, privilege, SUM, implicit, A/D updating) and random `pas`:
 * `ptWalkQuick` gives the same answer as `ptWalk` — address, page size, level, permissions, entry,
 * fault kind and reason — with the same reads in order, the same writes and the same memory after;
 * and the fast walker does take every walk the general walker finishes with no A/D write and no
 * level skip (so it is not a fast path that always gives up). Seeded fast-check.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  amdV1Format,
  armLpaeFormat,
  type ArmLpaeParams,
  PhysMem,
  type PtAccess,
  PtDomain,
  PtFastWalker,
  type PtFormat,
  PtPhysMemory,
  type PtRequest,
  PtSparseMemory,
  ptWalk,
  ptWalkQuick,
  riscvFormat,
  VtdFirstStage,
  vtdFirstStageFormat,
  VtdSecondStage,
  vtdSecondStageFormat,
} from "../../lib/internal.ts";
import { rng } from "../rng.ts";

type Rand = (n: number) => number;
type Family = "riscv" | "arm" | "amd" | "vtd";

const ARM: ArmLpaeParams[] = [
  { stage: 1, granule: 4096, ias: 48, oas: 48 },
  { stage: 1, granule: 4096, ias: 39, oas: 40, ha: true },
  { stage: 1, granule: 16384, ias: 47, oas: 44, ha: true },
  { stage: 1, granule: 65536, ias: 42, oas: 40 },
  { stage: 2, granule: 4096, ias: 40, oas: 40, startLevel: 1 },
  { stage: 2, granule: 16384, ias: 40, oas: 48, startLevel: 2 },
  { stage: 2, granule: 65536, ias: 48, oas: 48, ha: true },
];

/** A random format of `family`. */
function format(family: Family, rand: Rand): PtFormat {
  const pick = <T>(xs: T[]) => xs[rand(xs.length)];
  switch (family) {
    case "riscv":
      return riscvFormat(8 + rand(3), !!rand(2));
    case "arm":
      return armLpaeFormat(pick(ARM));
    case "amd":
      return amdV1Format({ mode: 1 + rand(6), ir: rand(6) !== 0, iw: rand(6) !== 0 });
    case "vtd":
      return rand(2)
        ? vtdSecondStageFormat(
          new VtdSecondStage({
            root: 0,
            aw: 2 + rand(2),
            mgaw: pick([39, 48, 57]),
            mode: pick(["legacy", "scalable"] as const),
            sllps: rand(4),
            ssade: !!rand(2),
            snoopControl: !!rand(2),
            order: pick(["qemu", "spec"] as const),
          }),
        )
        : vtdFirstStageFormat(
          new VtdFirstStage({
            root: 0,
            flpm: rand(4) === 0 ? 1 : 0,
            fl1gp: !!rand(4),
            nxe: !!rand(2),
            wpe: !!rand(2),
            order: pick(["qemu", "spec"] as const),
          }),
        );
  }
}

/** A random bigint below 2^bits. */
function big(rand: Rand, bits: number): bigint {
  let v = 0n;
  for (let b = 0; b < bits; b += 16) v = (v << 16n) | BigInt(rand(0x1_0000));
  return v & ((1n << BigInt(bits)) - 1n);
}

const words = (m: PtSparseMemory) => [...m.words].sort((a, b) => (a[0] < b[0] ? -1 : 1));

/**
 * Sparse memory whose writes since `mark()` `undo()` takes back: the fast walks run on the tables
 * themselves, which are then restored, instead of on a copy made for each walk (a copy of tables
 * with thousands of words cost most of this file's time).
 */
class UndoMemory extends PtSparseMemory {
  #undo: [bigint, bigint][] = [];
  override write64(pa: bigint, value: bigint): void {
    this.#undo.push([pa, this.read64(pa)]);
    super.write64(pa, value);
  }
  mark(): void {
    this.#undo = [];
  }
  undo(): void {
    for (const [pa, old] of this.#undo.reverse()) super.write64(pa, old);
    this.#undo = [];
  }
}

/** Whether two memories hold the same words (what comparing `words()` asserts, without sorting). */
function sameWords(a: PtSparseMemory, b: PtSparseMemory): boolean {
  if (a.words.size !== b.words.size) return false;
  for (const [k, v] of a.words) if (b.words.get(k) !== v) return false;
  return true;
}

/** Random tables of a random format of `family`, damaged, and walks compared; fast walks counted. */
function check(family: Family, seed: number): { fast: number; walks: number } {
  const rand = rng(seed);
  const fmt = format(family, rand);
  const mem = new UndoMemory();
  // tables below 2 GiB, just under 4 GiB (walks from a shifted root then cross it) or high up
  const arena = [0x8000_0000n, 0xffff_f000n, BigInt(1 + rand(1 << 20)) << 24n][rand(3)];
  const dom = new PtDomain(fmt, mem, arena);
  const shifts = dom.pgsizeShifts.filter((s) => s < fmt.inputBits - 1 && s <= 40);
  const oaBits = Math.min(fmt.maxOaBits, 52);
  const inBits = Math.min(fmt.inputBits - 1, 62);
  const base = big(rand, inBits) & ~((1n << 32n) - 1n) & ((1n << BigInt(inBits)) - 1n);
  const mapped: [bigint, number][] = [];
  for (let i = 0; i < 24; i++) {
    const s = rand(3) ? shifts[0] : shifts[rand(shifts.length)];
    const size = 1n << BigInt(s);
    const iova = ((base + BigInt(rand(64)) * size * BigInt(1 + rand(3))) / size) * size;
    const oa = (big(rand, oaBits) / size) * size;
    const attrs = {
      read: rand(8) !== 0,
      write: rand(3) !== 0,
      exec: rand(3) !== 0,
      user: rand(3) !== 0,
      memType: rand(4) ? 0 : rand(4),
    };
    try {
      dom.map_pages(iova, oa, size, attrs);
      mapped.push([iova, s]);
    } catch {
      // overlaps an earlier mapping, or outside what the format maps: skip it
    }
  }
  // earlier traffic: walks with A/D updating leave A (and D) set on some paths (VT-d SSADE tables
  // are written without A; RISC-V's and first stage's leaves may lack D)
  for (const [iova] of mapped) {
    if (rand(2)) continue;
    const access = rand(2) ? "r" as const : "w" as const;
    ptWalk(fmt, mem, dom.root, iova, { access, priv: "u", adUpdate: true });
  }
  // damage, light in half the runs (one upper-level entry hit spoils every walk below it), heavy in
  // the others: bit flips, garbage and cleared entries, in the tables written
  const heavy = rand(2) === 1;
  const keys = [...mem.words.keys()];
  const tables = [...new Set(keys.map((k) => k & ~0xfffn))];
  for (let i = 0, n = heavy ? 4 + rand(16) : rand(3); i < n && keys.length > 0; i++) {
    const k = keys[rand(keys.length)], e = mem.read64(k);
    const r = rand(10);
    // a flip: a control bit (11:0) half the time, a high bit (63:48) or any bit else
    const bit = r < 2 ? rand(12) : r < 3 ? 48 + rand(16) : rand(64);
    if (r < 4) mem.write64(k, e ^ (1n << BigInt(bit)));
    else if (r === 4) mem.write64(k, e ^ big(rand, 12));
    else if (r === 5) mem.write64(k, 0n);
    else if (r === 6) mem.write64(k, big(rand, 64));
    // a run of ones from bit 12 up (AMD's NextLevel-7 size encoding, misaligned addresses)
    else if (r === 7) mem.write64(k, e | (((1n << BigInt(rand(44))) - 1n) << 12n));
    else mem.write64(tables[rand(tables.length)] + BigInt(rand(512)) * 8n, e);
  }
  // damage on the paths of mapped inputs: a control bit (11:0) of an entry a walk reads
  const hurt: [bigint, number][] = [];
  for (const [iova, size] of mapped) {
    if (rand(heavy ? 2 : 6) !== 0) continue;
    hurt.push([iova, size]);
    const reads: bigint[] = [];
    ptWalk(fmt, mem, dom.root, iova, { access: "r" }, { reads });
    if (reads.length === 0) continue;
    const k = reads[rand(reads.length)];
    // one of bits 10:5 (A, D, AF, NextLevel, PS, stage-2 rights), 11:0, 16:12 (the low address
    // bits a larger granule or page ignores), 63:48 (PBMT, N, XN, IR/IW, reserved)
    const bits = [5 + rand(6), rand(12), 12 + rand(5), 48 + rand(16)];
    mem.write64(k, mem.read64(k) ^ (1n << BigInt(bits[rand(4)])));
  }
  const walker = new PtFastWalker();
  let fast = 0;
  const walks = 40;
  for (let i = 0; i < walks; i++) {
    const r = rand(10);
    let va: bigint;
    if (r < 7 && mapped.length > 0) {
      // a mapped input, one whose path was damaged half the time
      const [iova, s] = hurt.length > 0 && rand(2)
        ? hurt[rand(hurt.length)]
        : mapped[rand(mapped.length)];
      va = iova + (big(rand, 64) & ((1n << BigInt(s)) - 1n));
    } else if (r < 9) va = base + big(rand, 34);
    else va = big(rand, 64);
    const access = (["r", "w", "x"] as PtAccess[])[rand(3)];
    const req: PtRequest = {
      access,
      ...(rand(3) ? { priv: rand(2) ? "u" as const : "s" as const } : {}),
      sum: !!rand(2),
      implicit: !!rand(2),
      adUpdate: !!rand(2),
      firstStageAdUpdate: !!rand(2),
    };
    const pas = rand(4) === 0 ? 32 + rand(24) : undefined;
    // now and then from a root moved by a few entries (an entry address then carries into bit 32)
    const root = rand(8) === 0 ? dom.root + BigInt(rand(512)) * 8n : dom.root;
    const what = `${fmt.name} seed ${seed} root 0x${root.toString(16)} va 0x${va.toString(16)} ${
      JSON.stringify(req)
    } pas ${pas}`;
    const before = mem.clone();
    const gReads: bigint[] = [], gWrites: [bigint, bigint][] = [];
    const general = ptWalk(fmt, before, root, va, req, { pas, reads: gReads, writes: gWrites });
    mem.mark();
    const took = walker.walk(
      fmt,
      mem,
      Number(root >> 32n),
      Number(root & 0xffff_ffffn),
      Number(va >> 32n),
      Number(va & 0xffff_ffffn),
      req,
      pas ?? 64,
    );
    // the quick walk on the tables as the fast walk left them (then restored for the next walk)
    const qReads: bigint[] = [], qWrites: [bigint, bigint][] = [];
    const quick = ptWalkQuick(fmt, mem, root, va, req, { pas, reads: qReads, writes: qWrites });
    assert.deepEqual(quick, general, what);
    assert.deepEqual(qReads, gReads, `${what}: reads`);
    assert.deepEqual(qWrites, gWrites, `${what}: writes`);
    if (!sameWords(mem, before)) {
      assert.deepEqual(words(mem), words(before), `${what}: memory after`);
    }
    mem.undo();
    if (took) {
      fast++;
      assert.ok(general.ok && gWrites.length === 0, `${what}: fast path on a walk with a write`);
    }
    // finished, with no A/D write and one read per level from the top down to the leaf (no skip)
    const common = general.ok && gWrites.length === 0 &&
      gReads.length === fmt.levels - general.level;
    assert.equal(took, common, `${what}: the fast path takes exactly the common walks`);
  }
  return { fast, walks };
}

for (const family of ["riscv", "arm", "amd", "vtd"] as const) {
  Deno.test(`fast walker ≡ ptWalk: ${family} formats over random damaged tables (seeded)`, () => {
    let fast = 0, walks = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0x7fff_ffff }), (seed) => {
        const r = check(family, seed);
        fast += r.fast;
        walks += r.walks;
      }),
      { seed: 0x9a_f457 + family.length, numRuns: 150 },
    );
    // the fast path is the common path, not a corner
    assert.ok(fast > walks / 50, `${family}: ${fast} of ${walks} walks took the fast path`);
  });
}

Deno.test("fast walker over PhysMem (PtPhysMemory): the same answers as over a sparse memory", () => {
  const rand = rng(0x51_7e);
  for (const fmt of [riscvFormat(9, false), armLpaeFormat(ARM[0]), amdV1Format({ mode: 4 })]) {
    const sparse = new PtSparseMemory();
    const phys = new PtPhysMemory(new PhysMem(2 ** 40));
    const a = new PtDomain(fmt, sparse), b = new PtDomain(fmt, phys);
    const attrs = { read: true, write: true, exec: true, user: true, memType: 0 };
    const iovas: bigint[] = [];
    for (let i = 0; i < 64; i++) {
      const iova = 0x1234_0000_0000n + BigInt(rand(1 << 20)) * 4096n;
      const oa = BigInt(rand(1 << 26)) * 4096n;
      try {
        a.map_pages(iova, oa, 4096n, attrs);
        b.map_pages(iova, oa, 4096n, attrs);
        iovas.push(iova);
      } catch {
        // already mapped
      }
    }
    const w = new PtFastWalker();
    let took = 0;
    for (const iova of iovas) {
      const va = iova + BigInt(rand(4096));
      const req: PtRequest = { access: "r", priv: "u" };
      const hi = Number(va >> 32n), lo = Number(va & 0xffff_ffffn);
      const rootHi = Number(b.root >> 32n), rootLo = Number(b.root & 0xffff_ffffn);
      const general = ptWalk(fmt, sparse, a.root, va, req);
      assert.ok(w.walk(fmt, phys, rootHi, rootLo, hi, lo, req), `${fmt.name} ${va}`);
      took++;
      assert.ok(general.ok);
      assert.equal((BigInt(w.oaHi) << 32n) | BigInt(w.oaLo), general.oa);
      assert.equal(w.sizeShift, general.sizeShift);
      assert.deepEqual(ptWalkQuick(fmt, phys, b.root, va, req), general);
    }
    assert.ok(took > 32, fmt.name);
  }
});
