/**
 * Issue 10 item 1: the VT-d fast path (spec/17-vtd-page-walk.md#vtd-fast-path) holds table
 * addresses as two int32 halves, and physical memory finds frames in a flat table below 8 GiB and
 * in chunks above (spec/02-physical-memory.md#frames). With the tables of a second stage, a first
 * stage and a nested pair placed just below and above 2^31, 2^32, 8 GiB and 16 TiB, every walk
 * — with a trace (the general walker), then without (the fast path) — gives the same result, and
 * the fast path did translate.
 */
import assert from "node:assert/strict";
import {
  PhysMem,
  VTD_DMA_READ,
  VTD_DMA_WRITE,
  VtdFirstStage,
  vtdMapFirstStage,
  vtdMapSecondStage,
  VtdSecondStage,
  VtdTableArena,
  VtdWalk,
  vtdWalkFirstStage,
  vtdWalkNested,
  vtdWalkSecondStage,
} from "../../lib/internal.ts";

/** Counts the general walker's entry reads: a walk that translates with none took the fast path. */
class Counting extends PhysMem {
  generalReads = 0;
  override read64Parts(pa: number, out: Uint32Array): void {
    this.generalReads++;
    super.read64Parts(pa, out);
  }
}

const GiB = 2 ** 30;
const BASES = [2 ** 31 - 2 * 4096, 2 ** 32 - 2 * 4096, 8 * GiB - 2 * 4096, 2 ** 44 - 2 * 4096];
const SIZES = [4096, 2 ** 21, 2 ** 30];

/** What a walk must agree on. */
const fields = (w: VtdWalk) => [w.fault, w.check, w.level, w.pa, w.pageSize, w.read, w.write];

for (const base of BASES) {
  Deno.test(`vtd fast path ≡ general walker with tables from 0x${base.toString(16)}`, () => {
    const mem = new Counting(2 ** 46);
    // tables one after the other from `base`: they cross the line at base + 2 pages
    const arena = new VtdTableArena(base);
    const ss = new VtdSecondStage({ root: arena.alloc(), mode: "scalable" });
    const fs = new VtdFirstStage({ root: arena.alloc() });
    const iovas: number[] = [];
    SIZES.forEach((size, i) => {
      const iova = 0x7f00_0000_0000 + i * 4 * GiB;
      vtdMapSecondStage(mem, ss, iova, 0x3_0000_0000 + i * GiB, size, { write: true }, arena.alloc);
      vtdMapFirstStage(mem, fs, iova, 0x2_0000_0000 + i * GiB, size, { write: true }, arena.alloc);
      iovas.push(iova, iova + size - 8, iova + size); // the last page, and a hole
    });
    // the nested pair: the first stage's tables (GPAs) map 1:1 through a second stage
    const nss = new VtdSecondStage({ root: arena.alloc(), mode: "scalable" });
    for (let gpa = base; gpa < arena.next + 64 * 4096; gpa += 4096) {
      vtdMapSecondStage(mem, nss, gpa, gpa, 4096, { write: true }, arena.alloc);
    }
    for (let i = 0; i < SIZES.length; i++) {
      vtdMapSecondStage(mem, nss, 0x2_0000_0000 + i * GiB, 0x2_0000_0000 + i * GiB, GiB, {
        write: true,
      }, arena.alloc);
    }
    let fast = 0;
    for (const iova of iovas) {
      for (const access of [VTD_DMA_READ, VTD_DMA_WRITE]) {
        const walks: [string, (out: VtdWalk) => VtdWalk][] = [
          ["ss", (out) => vtdWalkSecondStage(mem, ss, iova, access, out)],
          ["fs", (out) => vtdWalkFirstStage(mem, fs, iova, access, out)],
          ["nested", (out) => vtdWalkNested(mem, fs, nss, iova, access, out)],
        ];
        for (const [kind, walk] of walks) {
          const general = walk(new VtdWalk({ trace: true }));
          mem.generalReads = 0;
          const x = walk(new VtdWalk());
          const what = `${kind} 0x${iova.toString(16)} write=${access.write}`;
          assert.deepEqual(fields(x), fields(general), what);
          assert.equal(x.reads, general.reads, what);
          if (x.ok && mem.generalReads === 0) fast++;
        }
      }
    }
    // not vacuous: the fast path translated the walks that translate, once A/D were set
    assert.ok(fast >= 24, `${fast} fast translations`);
  });
}
