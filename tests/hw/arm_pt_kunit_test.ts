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
  type ArmLpaeFormat,
  armLpaeFormat,
  ArmLpaeTableAllocator,
  PtSparseMemory,
} from "../../lib/internal.ts";
import { ptKunitSuites } from "./pt_kunit.ts";

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
