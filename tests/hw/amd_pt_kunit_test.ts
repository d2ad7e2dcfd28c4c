/**
 * Linux generic_pt's KUnit format and domain suites (./pt_kunit.ts) for the AMD IOMMU v1 host
 * table of spec/23-amd-iommu-v1.md, written by the generic writer (PtDomain) with generic_pt
 * amdv1.h's page sizes: every power of two from 4 KiB to 2^51 but 512 GiB. Mode 6 runs every test
 * but test_unmap_split; mode 3 (where Linux's io_pgtable and amdv1_kunit_fmt_cfgs start) also leaves
 * out test_map_simple, whose page of every size at three times its size needs the top-level growth
 * the fixed-top writer does not model. The helper's test_unmap_split maps two 2 MiB leaves in one
 * call, which a format with every power of two writes as one 4 MiB page; its AMD form below maps
 * them one by one, and adds the NextLevel-7 case. A last test walks every table the writer wrote
 * with the hardware model.
 */
import assert from "node:assert/strict";
import {
  amdV1Format,
  amdV1Translate,
  type PtAttrs,
  PtDomain,
  PtSparseMemory,
  riscvPrng,
} from "../../lib/internal.ts";
import { ptKunitSuites } from "./pt_kunit.ts";

/** amdv1pt_possible_sizes over the levels of a mode: log2 sizes, ascending. */
function sizes(mode: number): number[] {
  const out: number[] = [];
  for (let s = 12; s <= Math.min(51, 12 + 9 * Math.min(mode, 5) - 1); s++) {
    if (s !== 39) out.push(s);
  }
  return out;
}

const SUITES = [
  {
    fmt: amdV1Format({ mode: 6 }),
    rootBytes: 1024,
    only: [
      "test_table_radix",
      "test_entry_oa",
      "test_attr_from_entry",
      "test_best_pgsize",
      "test_map_simple",
      "test_random_map",
      "test_pgsize_boundary",
      "test_mixed",
    ],
  },
  {
    fmt: amdV1Format({ mode: 3 }),
    rootBytes: 4096,
    only: [
      "test_table_radix",
      "test_entry_oa",
      "test_attr_from_entry",
      "test_best_pgsize",
      "test_random_map",
      "test_pgsize_boundary",
      "test_mixed",
    ],
  },
];

for (const { fmt, rootBytes, only } of SUITES) {
  ptKunitSuites(fmt, {
    rootBytes,
    signExtended: false,
    pgsizes: sizes(fmt.levels),
    // IR and IW are the leaf's protection; there is no execute bit and no user/supervisor split
    attrsValid: (a) => a.user && !a.exec,
    // memType 1 is FC (force coherent), as Linux's v1 writer sets it
    memTypes: [0, 1],
    only,
  });
}

Deno.test("AMD v1 KUnit formats: 39 page sizes in mode 6, 27 in mode 3", () => {
  assert.equal(sizes(6).length, 39);
  assert.equal(sizes(3).length, 27);
  assert.ok(!sizes(6).includes(39) && sizes(6).at(-1) === 51);
});

Deno.test("AMD v1 writer: random maps of every size, walked by the hardware model, agree with iova_to_phys", () => {
  const rnd = riscvPrng(11);
  const RW: PtAttrs = { read: true, write: true, exec: false, user: true, memType: 0 };
  for (const mode of [3, 4, 6]) {
    const mem = new PtSparseMemory();
    const d = new PtDomain(amdV1Format({ mode }), mem, 0x100000n);
    const dte = { mode, root: d.root, ir: true, iw: true };
    const mapped: bigint[] = [];
    for (let i = 0; i < 60; i++) {
      const shift = d.pgsizeShifts.filter((s) => s <= 31)[Math.floor(rnd() * 20)];
      const size = 1n << BigInt(shift);
      const va = (BigInt(Math.floor(rnd() * 2 ** 38)) / size) * size;
      const oa = (BigInt(Math.floor(rnd() * 2 ** 44)) / size) * size;
      if (d.map_pages(va, oa, size, RW) === 0) mapped.push(va, va + size - 8n, va + size);
    }
    assert.ok(mapped.length > 30);
    for (const iova of mapped) {
      const t = amdV1Translate(mem, dte, iova, "w");
      assert.equal(t.ok ? t.pa : 0n, d.iova_to_phys(iova), `mode ${mode} 0x${iova.toString(16)}`);
    }
    d.free();
  }
});

for (const mode of [3, 6]) {
  Deno.test(`AMDv1-mode${mode} test_unmap_split: unmapping the first 4 KiB of a 2 MiB leaf, or of a 64 KiB NextLevel-7 page, removes that leaf only`, () => {
    const d = new PtDomain(amdV1Format({ mode }), new PtSparseMemory());
    const RW: PtAttrs = { read: true, write: true, exec: false, user: true, memType: 0 };
    const base = 0x4000_0000n, big = 0x20_0000n;
    // two 2 MiB leaves whose OAs are not one 4 MiB page
    assert.equal(d.map_pages(base, 0x8000_0000n, big, RW), 0);
    assert.equal(d.map_pages(base + big, 0x9000_0000n, big, RW), 0);
    assert.deepEqual([...d.countLeaves()], [[21, 2]]);
    assert.equal(d.unmap_pages(base, 0x1000n), big);
    assert.equal(d.iova_to_phys(base + 0x1000n), 0n);
    assert.equal(d.iova_to_phys(base + big), 0x9000_0000n, "the next leaf is untouched");
    assert.equal(
      d.unmap_pages(base + big + 0x1000n, 0x1000n),
      0n,
      "a range inside a leaf: nothing",
    );
    assert.equal(d.unmap_pages(base + big, big), big);
    // a 64 KiB page is sixteen NextLevel-7 entries: the unmap clears all of them
    assert.equal(d.map_pages(0x1_0000n, 0x7_0000n, 0x1_0000n, RW), 0);
    assert.deepEqual([...d.countLeaves()], [[16, 1]]);
    assert.equal(d.unmap_pages(0x1_0000n, 0x1000n), 0x1_0000n);
    assert.equal(d.iova_to_phys(0x1_f000n), 0n);
    assert.equal(d.countLeaves().size, 0);
    d.free();
    assert.equal(d.tablePages, 0);
  });
}
