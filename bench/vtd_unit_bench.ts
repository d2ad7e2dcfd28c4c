/**
 * The VT-d unit's request path (spec/18-vtd-unit.md): ns per IOTLB hit (configuration cached, no
 * memory read) — the same page again, as a streaming device asks, and sixteen pages in turn, which
 * the repeat path cannot serve — and per miss + walk (a 4-level legacy second stage, and a nested 4×4 walk through a
 * PGTT=3 PASID entry), each reusing one result object. The misses are forced by invalidating the
 * one page first. `deno bench --allow-all bench/vtd_unit_bench.ts`
 *
 * @module
 */
import {
  Machine,
  PCI_DEVFN,
  PCI_DEVID,
  vtdMapSecondStage,
  type VtdRequest,
  VtdSecondStage,
  vtdSetContextEntry,
  vtdSetPasidDirEntry,
  vtdSetPasidEntry,
  vtdSetRootEntry,
  vtdSetScalableContextEntry,
  VtdTableArena,
  VtdTranslation,
  VtdUnit,
  vtdUnitEnable,
} from "./model.ts";
import { bench } from "./cases.ts";

const SID = PCI_DEVID(0, PCI_DEVFN(3, 0));
const READ: VtdRequest = { write: false };

// Legacy: one 4 KiB page at IOVA 0x1000.
const lm = new Machine();
const lu = new VtdUnit(lm);
const la = new VtdTableArena(0x100000);
const root = la.alloc(), ctx = la.alloc(), pgd = la.alloc();
vtdSetRootEntry(lm.physmem, root, 0, ctx);
vtdSetContextEntry(lm.physmem, ctx, PCI_DEVFN(3, 0), { did: 1, ssptptr: pgd });
vtdMapSecondStage(lm.physmem, new VtdSecondStage({ root: pgd }), 0x1000, 0x4000_0000, 4096, {
  write: true,
}, la.alloc);
// Sixteen more 4 KiB pages at IOVA 0x10_0000, for hits that change page every time.
const lss = new VtdSecondStage({ root: pgd });
for (let p = 0; p < 16; p++) {
  vtdMapSecondStage(lm.physmem, lss, 0x10_0000 + p * 4096, 0x4010_0000 + p * 4096, 4096, {
    write: true,
  }, la.alloc);
}
vtdUnitEnable(lu, root, false);

// Scalable, nested: chapter 17's N1 tables under PASID 9.
const nm = new Machine();
const nu = new VtdUnit(nm);
const mem = nm.physmem;
mem.write64(0x100000, 0x101003n);
mem.write64(0x101000, 0x102003n);
mem.write64(0x102000, 0x103003n);
for (let p = 1; p <= 5; p++) mem.write64(0x103000 + 8 * p, BigInt(0x8000_0000 + p * 0x1000) | 3n);
mem.write64(0x8000_1008, 0x2027n);
mem.write64(0x8000_2010, 0x3027n);
mem.write64(0x8000_3018, 0x4027n);
mem.write64(0x8000_4020, 0x5067n);
vtdSetRootEntry(mem, 0x302000, 0, 0x303000);
vtdSetScalableContextEntry(mem, 0x303000, PCI_DEVFN(3, 0), { pasidDir: 0x300000, paside: true });
vtdSetPasidDirEntry(mem, 0x300000, 9, 0x301000);
vtdSetPasidEntry(mem, 0x301000, 9, {
  pgtt: 3,
  did: 2,
  ssptptr: 0x100000,
  fsptptr: 0x1000,
  nxe: true,
});
vtdUnitEnable(nu, 0x302000, true);
const NESTED: VtdRequest = { write: false, pasid: 9 };
const IOVA_N = 0x80_8060_4567;

const out = new VtdTranslation();
lu.translate(SID, 0x1234, READ, out);
for (let p = 0; p < 16; p++) lu.translate(SID, 0x10_0000 + p * 4096, READ, out);
nu.translate(SID, IOVA_N, NESTED, out);
const inv = { granularity: "page", did: 1, addr: 0x1000 } as const;
const ninv = { granularity: "page", did: 2, pasid: 9, addr: 0x80_8060_4000 } as const;

bench("iotlb_hit_ns", "IOTLB hit, legacy second stage (0 reads)", "unit", () => {
  lu.translate(SID, 0x1234, READ, out);
});
let page = 0;
bench("iotlb_hit_pages_ns", "IOTLB hit, 16 pages in turn (0 reads)", "unit", () => {
  page = (page + 1) & 15;
  lu.translate(SID, 0x10_0234 + page * 4096, READ, out);
});
bench("iotlb_hit_nested_pasid_ns", "IOTLB hit, nested PASID request (0 reads)", "unit", () => {
  nu.translate(SID, IOVA_N, NESTED, out);
});
bench("iotlb_psi_miss_walk_fill_ns", "PSI + miss + 4-level walk + fill (4 reads)", "unit", () => {
  lu.invalidateIotlb(inv);
  lu.translate(SID, 0x1234, READ, out);
});
bench(
  "iotlb_pasid_psi_miss_nested_fill_ns",
  "PASID PSI + miss + nested 4×4 walk + fill (24 reads)",
  "unit",
  () => {
    nu.invalidatePasidIotlb(ninv);
    nu.translate(SID, IOVA_N, NESTED, out);
  },
);
