/**
 * The VT-d page walker's cost per DMA when nothing is cached: a 4-level second-stage walk, a
 * 4-level first-stage walk, and a nested 4×4 walk (24 entry reads), each reusing one result object
 * so the figure is the walk itself. `deno bench --allow-all bench/vtd_walk_bench.ts`
 *
 * @module
 */
import {
  PhysMem,
  VTD_DMA_READ,
  VtdFirstStage,
  vtdMapFirstStage,
  vtdMapSecondStage,
  VtdSecondStage,
  VtdTableArena,
  VtdWalk,
  vtdWalkFirstStage,
  vtdWalkNested,
  vtdWalkSecondStage,
} from "./model.ts";
import { bench } from "./cases.ts";

const mem = new PhysMem(2 ** 40);
const arena = new VtdTableArena(0x100000);
const iova = 0x55f3_5df2_3456;

// A second stage alone: 512 4 KiB pages around IOVA-A.
const ss = new VtdSecondStage({ root: arena.alloc() });
for (let i = 0; i < 512; i++) {
  vtdMapSecondStage(
    mem,
    ss,
    iova - 0x456 + i * 4096,
    0x40_0000_0000 + i * 4096,
    4096,
    { write: true },
    arena.alloc,
  );
}
// A first stage alone, the same shape.
const fs = new VtdFirstStage({ root: arena.alloc() });
vtdMapFirstStage(mem, fs, iova - 0x456, 0x40_0000_0000, 4096, { write: true }, arena.alloc);

// Nested: GPA [0, 64 MiB) → HPA 2 GiB + GPA in 4 KiB pages; the guest's tables in that memory.
const nss = new VtdSecondStage({ root: arena.alloc(), mode: "scalable" });
for (let g = 0; g < 64; g++) {
  vtdMapSecondStage(mem, nss, g * 4096, 0x8000_0000 + g * 4096, 4096, { write: true }, arena.alloc);
}
const nfs = new VtdFirstStage({ root: 0x1000 });
const guest = new VtdTableArena(0x2000);
vtdMapFirstStage(
  mem,
  nfs,
  iova - 0x456,
  0x3f000,
  4096,
  { write: true },
  guest.alloc,
  (g) => 0x8000_0000 + g,
);

const out = new VtdWalk();
if (vtdWalkSecondStage(mem, ss, iova, VTD_DMA_READ, out).fault) throw new Error(out.describe());
if (vtdWalkFirstStage(mem, fs, iova, VTD_DMA_READ, out).fault) throw new Error(out.describe());
if (vtdWalkNested(mem, nfs, nss, iova, VTD_DMA_READ, out).reads !== 24) {
  throw new Error(out.describe());
}

let i = 0;
bench("vtd_walk_ss_hot_ns", "vtdWalkSecondStage: 4-level second stage (4 reads)", "vtd", () => {
  vtdWalkSecondStage(mem, ss, iova + ((i++ & 511) << 12), VTD_DMA_READ, out);
});
bench("vtd_walk_fs_hot_ns", "vtdWalkFirstStage: 4-level first stage (4 reads)", "vtd", () => {
  vtdWalkFirstStage(mem, fs, iova, VTD_DMA_READ, out);
});
bench("vtd_walk_nested_hot_ns", "vtdWalkNested: 4×4 (24 reads)", "vtd", () => {
  vtdWalkNested(mem, nfs, nss, iova, VTD_DMA_READ, out);
});
const traced = new VtdWalk({ trace: true });
bench("vtd_walk_nested_traced_hot_ns", "vtdWalkNested: 4×4 with the read trace on", "vtd", () => {
  vtdWalkNested(mem, nfs, nss, iova, VTD_DMA_READ, traced);
});
