/**
 * Linux generic_pt's KUnit suites (./pt_kunit.ts) for the Arm LPAE formats of
 * spec/22-arm-smmuv3.md: stage 1 and stage 2, 4 KiB / 16 KiB / 64 KiB granules, IAS/OAS 48/48 and
 * 40/44, written by the generic writer (PtDomain). Stage-2 geometry is Linux v6.12's
 * (arm_64_lpae_alloc_pgtable_s2's concatenation), so 4 KiB IAS 40 and 16 KiB IAS 48 run with
 * concatenated roots of two tables. generic_pt has no LPAE format (v6.12 nor the snapshot of the
 * reference notes): this runs its test semantics on ours.
 */
import assert from "node:assert/strict";
import {
  alloc_io_pgtable_ops,
  type arm_lpae_io_pgtable,
  type ArmLpaeFormat,
  armLpaeFormat,
  ArmLpaeTableAllocator,
  EINVAL,
  free_io_pgtable_ops,
  type io_pgtable_cfg,
  type iommu_domain,
  iommu_pgsize,
  IOMMU_READ,
  IOMMU_WRITE,
  type PtAttrs,
  PtSparseMemory,
} from "../../lib/internal.ts";
import { ptKunitSuites, type PtKunitWriter } from "./pt_kunit.ts";

const PGSIZES: Record<number, number[]> = { 4096: [12, 21, 30], 16384: [14, 25], 65536: [16, 29] };

/** The hardware format of a table io-pgtable-arm v6.12 would allocate. */
function linuxFormat(stage: 1 | 2, granule: number, ias: number, oas: number): ArmLpaeFormat {
  const ops = alloc_io_pgtable_ops(
    stage === 1 ? "ARM_64_LPAE_S1" : "ARM_64_LPAE_S2",
    { quirks: 0, pgsize_bitmap: BigInt(granule), ias, oas, coherent_walk: true },
    null,
    new ArmLpaeTableAllocator(new PtSparseMemory()),
  )!;
  return ops.hwFormat;
}

const FORMATS: ArmLpaeFormat[] = [];
for (const granule of [4096, 16384, 65536]) {
  for (const stage of [1, 2] as const) {
    for (const [ias, oas] of [[48, 48], [40, 44]]) {
      FORMATS.push(linuxFormat(stage, granule, ias, oas));
    }
  }
}

Deno.test("Arm KUnit formats: Linux's stage-2 geometry concatenates where v6.12 does", () => {
  const concat = FORMATS.filter((f) => f.concatenated > 1).map((f) => f.name);
  assert.deepEqual(concat, ["LPAE-S2-4K-ias40-oas44-x2", "LPAE-S2-16K-ias48-oas48-x2"]);
  // and the hardware format agrees with a direct description of the same table
  const f = armLpaeFormat({ stage: 2, granule: 4096, ias: 40, oas: 44, startLevel: 1 });
  assert.equal(f.tableBytes(f.levels - 1), 8192);
  assert.equal(f.levels, 3);
});

for (const fmt of FORMATS) {
  const pgsizes = PGSIZES[fmt.granule];
  ptKunitSuites(fmt, {
    rootBytes: 8 << fmt.pgdBits,
    signExtended: false,
    pgsizes,
    // stage 1 cannot refuse reads; stage 2 has no user/privileged split; a leaf grants something
    attrsValid: (a) => fmt.stage === 1 ? a.read : a.user && (a.read || a.write),
    memTypes: fmt.stage === 1 ? [0, 1, 2] : [0x1, 0x5, 0xf],
    splitShifts: [pgsizes[0], pgsizes[1]],
    randomShifts: [pgsizes[0], pgsizes[0], pgsizes[1]],
    randomWindowBits: pgsizes[1] + 3,
  });
}

/**
 * The same suites with io-pgtable-arm as the writer, behind the iommu core's loop (iommu_pgsize,
 * then map_pages/unmap_pages until the range is done; __iommu_map's alignment check and its unmap
 * on failure): the tests whose semantics v6.12's library shares with generic_pt. Not run here:
 * test_unmap_split (v6.12 splits the block instead, tests/hw/arm_smmu_test.ts) and
 * test_random_map (v6.12 answers an overlap with -EEXIST, and a block over a table replaces it).
 */
class IoPgtableWriter implements PtKunitWriter {
  readonly alloc = new ArmLpaeTableAllocator(new PtSparseMemory());
  readonly cfg: io_pgtable_cfg;
  readonly ops: arm_lpae_io_pgtable;

  constructor(readonly fmt: ArmLpaeFormat) {
    this.cfg = {
      quirks: 0,
      pgsize_bitmap: PGSIZES[fmt.granule].reduce((m, sh) => m | (1n << BigInt(sh)), 0n),
      ias: fmt.ias,
      oas: fmt.oas,
      coherent_walk: true,
    };
    this.ops = alloc_io_pgtable_ops(
      fmt.stage === 1 ? "ARM_64_LPAE_S1" : "ARM_64_LPAE_S2",
      this.cfg,
      null,
      this.alloc,
    )!;
    assert.equal(this.ops.hwFormat.name, fmt.name);
  }
  get tablePages(): number {
    return this.alloc.pages;
  }
  get pgsizeShifts(): number[] {
    return PGSIZES[this.fmt.granule];
  }
  #pgsize(iova: bigint, pa: bigint, size: bigint) {
    return iommu_pgsize({ pgsize_bitmap: this.cfg.pgsize_bitmap } as iommu_domain, iova, pa, size);
  }
  map_pages(iova: bigint, oa: bigint, len: bigint, attrs: PtAttrs): number {
    const min = 1n << BigInt(this.pgsizeShifts[0]);
    if ((iova | oa | len) % min) return -EINVAL;
    const prot = (attrs.read ? IOMMU_READ : 0) | (attrs.write ? IOMMU_WRITE : 0);
    let size = len, ret = 0;
    const start = iova;
    while (size) {
      const { pgsize, count } = this.#pgsize(iova, oa, size);
      const r = this.ops.map_pages(iova, oa, pgsize, count, prot);
      size -= r.mapped;
      ret = r.ret;
      if (ret) break;
      iova += r.mapped;
      oa += r.mapped;
    }
    if (ret) this.unmap_pages(start, len - size);
    return ret;
  }
  unmap_pages(iova: bigint, len: bigint): bigint {
    let done = 0n;
    while (done < len) {
      const { pgsize, count } = this.#pgsize(iova, iova, len - done);
      const n = this.ops.unmap_pages(iova, pgsize, count);
      if (!n) break;
      iova += n;
      done += n;
    }
    return done;
  }
  iova_to_phys(iova: bigint): bigint {
    return this.ops.iova_to_phys(iova);
  }
  countLeaves(): Map<number, number> {
    const counts = new Map<number, number>(), f = this.fmt, mem = this.alloc.mem;
    const visit = (table: bigint, g: number) => {
      for (let i = 0; i < 1 << f.indexBits(g); i++) {
        const e = mem.read64(table + 8n * BigInt(i));
        if (e === 0n) continue;
        const d = f.decode(e, g);
        if (d.kind === "table") visit(d.next, g - 1);
        else if (d.kind === "leaf") counts.set(d.sizeShift, (counts.get(d.sizeShift) ?? 0) + 1);
      }
    };
    visit(this.ops.pgd, f.levels - 1);
    return counts;
  }
  free(): void {
    free_io_pgtable_ops(this.ops);
  }
}

for (const fmt of FORMATS) {
  const pgsizes = PGSIZES[fmt.granule];
  ptKunitSuites(fmt, {
    rootBytes: 8 << fmt.pgdBits,
    signExtended: false,
    pgsizes,
    attrsValid: () => true,
    memTypes: [],
    newWriter: () => new IoPgtableWriter(fmt),
    only: ["test_map_simple", "test_pgsize_boundary", "test_mixed"],
    label: " via io-pgtable-arm",
  });
}
