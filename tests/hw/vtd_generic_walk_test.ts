/**
 * Issue 12: VT-d as a format of the generic walker (spec/17-vtd-page-walk.md#vtd-generic). Over
 * random tables — second stage alone, first stage alone and nested, random stage options (both check
 * orders, SSADE, snoop control, large-page support, 5-level), random bit flips, whole garbage
 * entries, cleared entries and requests — the generic walker on VT-d's formats
 * (vtdGenericWalkSs/Fs/Nested) and VT-d's own walker (vtdWalkSecondStage/fs/nested, the general path: a
 * trace is on) give the same address, page size, permissions, level, fault reason, check, stage,
 * GPA, entries read in order with their levels, and leave the same memory behind (A/D writes).
 * Seeded fast-check: the same cases on every run.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  PhysMem,
  VtdFirstStage,
  vtdGenericWalkFs,
  vtdGenericWalkNested,
  vtdGenericWalkSs,
  VtdSecondStage,
  VtdWalk,
  vtdWalkFirstStage,
  vtdWalkNested,
  vtdWalkSecondStage,
} from "../../lib/internal.ts";
import { build, type Kind, PAGE, RAM } from "./vtd_random_tables.ts";
import { rng } from "../rng.ts";

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
  trace: w.trace,
  levels: w.levels,
});

const seen = { ok: 0, faults: new Set<string>() };

function check(kind: Kind, seed: number): void {
  const a = new PhysMem(RAM), b = new PhysMem(RAM);
  const x = build(a, kind, seed), y = build(b, kind, seed);
  const rand = rng(seed ^ 0x2545_f491);
  for (const iova of x.iovas) {
    for (let k = 0; k < 2; k++) {
      const access = { write: !!rand(2), supervisor: !!rand(2) };
      const own = new VtdWalk({ trace: true }), gen = new VtdWalk({ trace: true });
      if (kind === "ss") {
        vtdWalkSecondStage(a, x.ss!, iova, access, own);
        vtdGenericWalkSs(b, y.ss!, iova, access, gen);
      } else if (kind === "fs") {
        vtdWalkFirstStage(a, x.fs!, iova, access, own);
        vtdGenericWalkFs(b, y.fs!, iova, access, gen);
      } else {
        vtdWalkNested(a, x.fs!, x.ss!, iova, access, own);
        vtdGenericWalkNested(b, y.fs!, y.ss!, iova, access, gen);
      }
      const what = `${kind} seed ${seed} iova 0x${iova.toString(16)} ${JSON.stringify(access)}`;
      assert.deepEqual(fields(gen), fields(own), what);
      if (own.ok) seen.ok++;
      else seen.faults.add(`${own.faultName} ${own.check}`);
    }
  }
  for (const [from, to] of x.regions) {
    assert.deepEqual(b.readBytes(from, to - from), a.readBytes(from, to - from), "A/D writes");
  }
}

Deno.test("vtd generic walker on VT-d formats ≡ vtd_walk_*: SS, FS and nested over random tables (seeded)", () => {
  seen.ok = 0;
  seen.faults.clear();
  fc.assert(
    fc.property(
      fc.constantFrom<Kind>("ss", "fs", "nested"),
      fc.integer({ min: 1, max: 0x7fff_ffff }),
      (kind, seed) => check(kind, seed),
    ),
    { seed: 0x12_f00d, numRuns: 150 },
  );
  // not vacuous: many translations, and faults of many kinds and checks
  assert.ok(seen.ok > 500, `${seen.ok} translations`);
  assert.ok(seen.faults.size >= 15, [...seen.faults].join(", "));
});

Deno.test("vtd generic walker ≡ vtd_walk_*: a root beyond RAM (the top fetch codes) and RAM's last page", () => {
  const names = new Set<string>();
  for (const mode of ["legacy", "scalable"] as const) {
    for (const root of [RAM, RAM - PAGE]) {
      const a = new PhysMem(RAM), b = new PhysMem(RAM);
      const ss = new VtdSecondStage({ root, mode, aw: 2, mgaw: 48 });
      for (const mem of [a, b]) if (root < RAM) mem.write64(root + 8 * 0xab, BigInt(RAM) | 3n);
      const own = vtdWalkSecondStage(a, ss, 0x55f3_5df2_3456, {}, new VtdWalk({ trace: true }));
      const gen = vtdGenericWalkSs(b, ss, 0x55f3_5df2_3456, {}, new VtdWalk({ trace: true }));
      assert.deepEqual(fields(gen), fields(own));
      names.add(own.faultName);
    }
  }
  const fs = new VtdFirstStage({ root: RAM });
  const own = vtdWalkFirstStage(new PhysMem(RAM), fs, 0x1000, {}, new VtdWalk({ trace: true }));
  const gen = vtdGenericWalkFs(new PhysMem(RAM), fs, 0x1000, {}, new VtdWalk({ trace: true }));
  assert.deepEqual(fields(gen), fields(own));
  names.add(own.faultName);
  assert.deepEqual([...names].sort(), [
    "VTD_FR_CONTEXT_ENTRY_INV",
    "VTD_FR_PAGING_ENTRY_INV",
    "VTD_FR_PASID_ENTRY_FSPTPTR_INV",
    "VTD_FR_PASID_ENTRY_SSPTPTR_INV",
    "VTD_FR_SS_PAGING_ENTRY_INV",
  ]);
});
