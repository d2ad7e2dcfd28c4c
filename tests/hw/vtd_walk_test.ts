/**
 * The VT-d page walker (spec/17-vtd-page-walk.md) against the worked vectors of the reference notes
 * (§8.1 V1–V9, §8.2 F1–F6 and F5b, §8.3 N1), the reserved-bit masks level by level, permission
 * ANDing, the check orders, the nested fault codes, the cost of nested walks, and a seeded property
 * over random second-stage tables.
 */
import assert from "node:assert/strict";
import { PhysMem } from "../../lib/internal.ts";
import {
  DMA_FL_PTE_ACCESS,
  DMA_FL_PTE_DIRTY,
  DMA_SL_PTE_DIRTY,
  VTD_DMA_READ,
  VTD_DMA_WRITE,
  VTD_FR_ADDR_BEYOND_MGAW,
  VTD_FR_CONTEXT_ENTRY_INV,
  VTD_FR_FS_NON_CANONICAL,
  VTD_FR_FS_PAGING_ENTRY_INV,
  VTD_FR_FS_PAGING_ENTRY_P,
  VTD_FR_FS_PAGING_ENTRY_RSVD,
  VTD_FR_FS_PAGING_ENTRY_US,
  VTD_FR_INTERRUPT_ADDR,
  VTD_FR_NESTED_FS_GPA_BEYOND,
  VTD_FR_NESTED_FS_SS_READ,
  VTD_FR_NESTED_FS_SS_WRITE,
  VTD_FR_NESTED_FS_TOP_SS_READ,
  VTD_FR_PAGING_ENTRY_INV,
  VTD_FR_PAGING_ENTRY_RSVD,
  VTD_FR_PASID_ENTRY_FSPTPTR_INV,
  VTD_FR_PASID_ENTRY_SSPTPTR_INV,
  VTD_FR_READ,
  VTD_FR_SM_INTERRUPT_ADDR,
  VTD_FR_SM_READ,
  VTD_FR_SM_WRITE,
  VTD_FR_SS_PAGING_ENTRY_RSVD,
  VTD_FR_SS_PAGING_ENTRY_RW,
  VTD_FR_WRITE,
  vtdFaultReasonName,
  VtdFirstStage,
  type VtdFirstStageOptions,
  vtdLevelIndex,
  vtdMapFirstStage,
  vtdMapSecondStage,
  vtdNestedWalkRefs,
  VtdSecondStage,
  type VtdSecondStageOptions,
  VtdTableArena,
  VtdWalk,
  vtdWalkFirstStage,
  vtdWalkNested,
  vtdWalkSecondStage,
} from "../../lib/internal.ts";
import { rng } from "../rng.ts";

const IOVA_A = 0x0000_55f3_5df2_3456;
const PA_A = 0x12_3456_7456;

// ---------------------------------------------------------------------------------------------
// §8.1: second stage, legacy mode, AW=2, HAW=MGAW=48

/** The V-vector tables: root 0x100000 → 0x101000 → 0x102000 → 0x103000, table entries next|3. */
function vSetup(opts: Partial<VtdSecondStageOptions> = {}) {
  const mem = new PhysMem(2 ** 40);
  mem.write64(0x100558, 0x101003n);
  mem.write64(0x101e68, 0x102003n);
  mem.write64(0x102778, 0x103003n);
  const ss = new VtdSecondStage({ root: 0x100000, ...opts });
  return { mem, ss };
}

Deno.test("vtd V1: 4-level SS read → PA 0x1234567456, four reads in order", () => {
  const { mem, ss } = vSetup();
  mem.write64(0x103918, 0x12_3456_7003n);
  const out = vtdWalkSecondStage(mem, ss, IOVA_A, VTD_DMA_READ, new VtdWalk({ trace: true }));
  assert.equal(out.fault, 0);
  assert.equal(out.pa, PA_A);
  assert.equal(out.pageSize, 4096);
  assert.equal(out.level, 1);
  assert.equal(out.read && out.write, true);
  assert.deepEqual(out.trace, [0x100558, 0x101e68, 0x102778, 0x103918]);
  assert.equal(out.reads, 4);
  // the same through a bigint input
  assert.equal(vtdWalkSecondStage(mem, ss, BigInt(IOVA_A)).pa, PA_A);
});

Deno.test("vtd V2: write to a read-only leaf → 0x05 (scalable: 0x85)", () => {
  for (const [mode, fr] of [["legacy", VTD_FR_WRITE], ["scalable", VTD_FR_SM_WRITE]] as const) {
    const { mem, ss } = vSetup({ mode });
    mem.write64(0x103918, 0x12_3456_7001n);
    const out = vtdWalkSecondStage(mem, ss, IOVA_A, VTD_DMA_WRITE);
    assert.equal(out.fault, fr, mode);
    assert.equal(out.check, "vtd-ss-check-perm");
    assert.equal(out.level, 1);
    // a read through the same entry works, and reports the entry read-only
    const rd = vtdWalkSecondStage(mem, ss, IOVA_A);
    assert.equal(rd.pa, PA_A);
    assert.deepEqual([rd.read, rd.write], [true, false]);
  }
});

Deno.test("vtd V3: 2 MiB leaf → PA 0x40123456", () => {
  const { mem, ss } = vSetup();
  mem.write64(0x102778, 0x4000_0083n);
  const out = vtdWalkSecondStage(mem, ss, IOVA_A);
  assert.equal(out.pa, 0x4012_3456);
  assert.equal(out.pageSize, 2 ** 21);
  assert.equal(out.level, 2);
  assert.equal(out.reads, 3);
});

Deno.test("vtd V4: 1 GiB leaf → PA 0x801DF23456", () => {
  const { mem, ss } = vSetup();
  mem.write64(0x101e68, 0x80_0000_0083n);
  const out = vtdWalkSecondStage(mem, ss, IOVA_A);
  assert.equal(out.pa, 0x80_1df2_3456);
  assert.equal(out.pageSize, 2 ** 30);
  assert.equal(out.level, 3);
  assert.equal(out.reads, 2);
});

Deno.test("vtd V5: PS in a PML4E is reserved → 0x0C (scalable: 0x7A)", () => {
  for (const [mode, fr] of [["legacy", 0x0c], ["scalable", 0x7a]] as const) {
    const { mem, ss } = vSetup({ mode });
    mem.write64(0x100558, 0x10_1083n);
    const out = vtdWalkSecondStage(mem, ss, IOVA_A);
    assert.equal(out.fault, fr, mode);
    assert.equal(out.check, "vtd-ss-check-rsvd");
    assert.equal(out.level, 4);
    assert.equal(out.reads, 1);
  }
});

Deno.test("vtd V6: a 2 MiB leaf with bit 12 set → 0x0C", () => {
  const { mem, ss } = vSetup();
  mem.write64(0x102778, 0x4000_1083n);
  const out = vtdWalkSecondStage(mem, ss, IOVA_A);
  assert.equal(out.fault, VTD_FR_PAGING_ENTRY_RSVD);
  assert.equal(out.level, 2);
});

Deno.test("vtd V7: a zero L2 entry → 0x06 (scalable: 0x79); a write → 0x05", () => {
  const { mem, ss } = vSetup();
  mem.write64(0x102778, 0n);
  assert.equal(vtdWalkSecondStage(mem, ss, IOVA_A).fault, VTD_FR_READ);
  assert.equal(vtdWalkSecondStage(mem, ss, IOVA_A, VTD_DMA_WRITE).fault, VTD_FR_WRITE);
  const sm = vSetup({ mode: "scalable" });
  sm.mem.write64(0x102778, 0n);
  const out = vtdWalkSecondStage(sm.mem, sm.ss, IOVA_A);
  assert.equal(out.fault, VTD_FR_SS_PAGING_ENTRY_RW);
  assert.equal(out.level, 2);
  assert.equal(out.reads, 3);
});

Deno.test("vtd V8: AW=1 (39 bits), IOVA 0x8000000000 → 0x04, nothing read", () => {
  const { mem, ss } = vSetup({ aw: 1 });
  const out = vtdWalkSecondStage(
    mem,
    ss,
    0x80_0000_0000,
    VTD_DMA_READ,
    new VtdWalk({ trace: true }),
  );
  assert.equal(out.fault, VTD_FR_ADDR_BEYOND_MGAW);
  assert.equal(out.check, "vtd-ss-check-range");
  assert.deepEqual(out.trace, []);
  // MGAW below AGAW bounds the input too
  const narrow = vSetup({ mgaw: 39 });
  assert.equal(vtdWalkSecondStage(narrow.mem, narrow.ss, 0x80_0000_0000).fault, 0x04);
});

Deno.test("vtd V9: AW=1, 3 levels → PA 0xABCDEF089A", () => {
  const mem = new PhysMem(2 ** 40);
  mem.write64(0x100240, 0x101003n);
  mem.write64(0x101d10, 0x102003n);
  mem.write64(0x102b38, 0xab_cdef_0003n);
  const ss = new VtdSecondStage({ root: 0x100000, aw: 1 });
  const out = vtdWalkSecondStage(
    mem,
    ss,
    0x12_3456_789a,
    VTD_DMA_READ,
    new VtdWalk({ trace: true }),
  );
  assert.equal(out.pa, 0xab_cdef_089a);
  assert.deepEqual(out.trace, [0x100240, 0x101d10, 0x102b38]);
});

// ---------------------------------------------------------------------------------------------
// §8.2: first stage, FLPM=0, user requests

/** The F-vector tables: 0x200000 → 0x201000 → 0x202000 → 0x203000, table entries next|0x27. */
function fSetup(leaf: bigint | null = 0x12_3456_7067n, opts: Partial<VtdFirstStageOptions> = {}) {
  const mem = new PhysMem(2 ** 40);
  mem.write64(0x200558, 0x201027n);
  mem.write64(0x201e68, 0x202027n);
  mem.write64(0x202778, 0x203027n);
  if (leaf !== null) mem.write64(0x203918, leaf);
  const fs = new VtdFirstStage({ root: 0x200000, ...opts });
  return { mem, fs };
}

Deno.test("vtd F1: 4-level FS read → PA 0x1234567456", () => {
  const { mem, fs } = fSetup();
  const out = vtdWalkFirstStage(mem, fs, IOVA_A, VTD_DMA_READ, new VtdWalk({ trace: true }));
  assert.equal(out.pa, PA_A);
  assert.deepEqual(out.trace, [0x200558, 0x201e68, 0x202778, 0x203918]);
  assert.deepEqual([out.read, out.write], [true, true]);
});

Deno.test("vtd F2: a non-canonical input → 0x80, nothing read; canonical high halves pass", () => {
  const { mem, fs } = fSetup();
  const out = vtdWalkFirstStage(mem, fs, 0x0000_8000_0000_0000);
  assert.equal(out.fault, VTD_FR_FS_NON_CANONICAL);
  assert.equal(out.reads, 0);
  // 0xffff_8000_0000_0000 is canonical: the walk reads (and finds nothing there)
  const hi = vtdWalkFirstStage(mem, fs, 0xffff_8000_0000_0000n);
  assert.equal(hi.fault, VTD_FR_FS_PAGING_ENTRY_P);
  assert.equal(hi.reads, 1);
  assert.equal(vtdWalkFirstStage(mem, fs, 0xfeff_8000_0000_0000n).fault, VTD_FR_FS_NON_CANONICAL);
  // 5-level: bits 63:56
  const five = fSetup(null, { flpm: 1 });
  assert.equal(vtdWalkFirstStage(five.mem, five.fs, 0x0100_0000_0000_0000n).fault, 0x80);
  assert.equal(vtdWalkFirstStage(five.mem, five.fs, 0x0000_8000_0000_0000).fault, 0x71);
});

Deno.test("vtd F3: U/S=0 in the PML4E → 0x81 for a user read; a supervisor read translates", () => {
  const { mem, fs } = fSetup();
  mem.write64(0x200558, 0x20_1023n);
  const user = vtdWalkFirstStage(mem, fs, IOVA_A);
  assert.equal(user.fault, VTD_FR_FS_PAGING_ENTRY_US);
  assert.equal(user.level, 4);
  const sup = vtdWalkFirstStage(mem, fs, IOVA_A, { supervisor: true });
  assert.equal(sup.pa, PA_A);
});

Deno.test("vtd F4: P=0 in the leaf → 0x71", () => {
  const { mem, fs } = fSetup(0x12_3456_7066n);
  const out = vtdWalkFirstStage(mem, fs, IOVA_A);
  assert.equal(out.fault, VTD_FR_FS_PAGING_ENTRY_P);
  assert.equal(out.level, 1);
});

Deno.test("vtd F5: a 2 MiB leaf with bit 13 → 0x72", () => {
  const { mem, fs } = fSetup(null);
  mem.write64(0x202778, 0x4000_20e7n);
  const out = vtdWalkFirstStage(mem, fs, IOVA_A);
  assert.equal(out.fault, VTD_FR_FS_PAGING_ENTRY_RSVD);
  assert.equal(out.level, 2);
});

Deno.test("vtd F5b: a 2 MiB leaf with PAT (bit 12) translates → PA 0x40123456", () => {
  const { mem, fs } = fSetup(null);
  mem.write64(0x202778, 0x4000_10e7n);
  const out = vtdWalkFirstStage(mem, fs, IOVA_A);
  assert.equal(out.pa, 0x4012_3456);
  assert.equal(out.pageSize, 2 ** 21);
});

Deno.test("vtd F6: a write to an R/W=0 leaf → 0x85", () => {
  const { mem, fs } = fSetup(0x12_3456_7065n);
  const out = vtdWalkFirstStage(mem, fs, IOVA_A, VTD_DMA_WRITE);
  assert.equal(out.fault, VTD_FR_SM_WRITE);
  assert.equal(out.check, "vtd-fs-check-write");
  // a supervisor write ignores R/W unless WPE=1
  assert.equal(vtdWalkFirstStage(mem, fs, IOVA_A, { write: true, supervisor: true }).pa, PA_A);
  const wpe = fSetup(0x12_3456_7065n, { wpe: true });
  assert.equal(
    vtdWalkFirstStage(wpe.mem, wpe.fs, IOVA_A, { write: true, supervisor: true }).fault,
    VTD_FR_SM_WRITE,
  );
});

Deno.test("vtd FS: hardware sets A in every entry and D in a written leaf", () => {
  const { mem, fs } = fSetup(0x12_3456_7007n); // P|RW|US, A and D clear
  mem.write64(0x202778, 0x203007n);
  vtdWalkFirstStage(mem, fs, IOVA_A);
  assert.equal(mem.read64(0x202778), 0x203007n | BigInt(DMA_FL_PTE_ACCESS));
  assert.equal(mem.read64(0x203918), 0x12_3456_7007n | BigInt(DMA_FL_PTE_ACCESS));
  vtdWalkFirstStage(mem, fs, IOVA_A, VTD_DMA_WRITE);
  assert.equal(
    mem.read64(0x203918),
    0x12_3456_7007n | BigInt(DMA_FL_PTE_ACCESS | DMA_FL_PTE_DIRTY),
  );
});

// ---------------------------------------------------------------------------------------------
// §8.3: nested

const IOVA_N = 0x0000_0080_8060_4567;
// deno-fmt-ignore
const N1_TRACE = [
  0x100000, 0x101000, 0x102000, 0x103008, 0x80001008, // FS level 4 at GPA 0x1008
  0x100000, 0x101000, 0x102000, 0x103010, 0x80002010, // FS level 3 at GPA 0x2010
  0x100000, 0x101000, 0x102000, 0x103018, 0x80003018, // FS level 2 at GPA 0x3018
  0x100000, 0x101000, 0x102000, 0x103020, 0x80004020, // FS level 1 at GPA 0x4020
  0x100000, 0x101000, 0x102000, 0x103028, // the final GPA 0x5567
];

/** N1: SS maps GPA page p (1..5) to HPA 0x80000000 + p·4K; FS root GPA 0x1000. */
function nSetup(ssOpts: Partial<VtdSecondStageOptions> = {}) {
  const mem = new PhysMem(2 ** 40);
  mem.write64(0x100000, 0x101003n);
  mem.write64(0x101000, 0x102003n);
  mem.write64(0x102000, 0x103003n);
  for (let p = 1; p <= 5; p++) mem.write64(0x103000 + 8 * p, BigInt(0x8000_0000 + p * 0x1000) | 3n);
  mem.write64(0x8000_1008, 0x2027n);
  mem.write64(0x8000_2010, 0x3027n);
  mem.write64(0x8000_3018, 0x4027n);
  mem.write64(0x8000_4020, 0x5067n);
  const ss = new VtdSecondStage({ root: 0x100000, mode: "scalable", ...ssOpts });
  const fs = new VtdFirstStage({ root: 0x1000 });
  return { mem, ss, fs };
}

Deno.test("vtd N1: nested 4×4 read → HPA 0x80005567 in exactly the 24 reads listed", () => {
  const { mem, ss, fs } = nSetup();
  const out = vtdWalkNested(mem, fs, ss, IOVA_N, VTD_DMA_READ, new VtdWalk({ trace: true }));
  assert.equal(out.fault, 0);
  assert.equal(out.pa, 0x8000_5567);
  assert.equal(out.gpa, 0x5567);
  assert.equal(out.reads, 24);
  assert.deepEqual(out.trace, N1_TRACE);
  assert.deepEqual([out.read, out.write, out.pageSize], [true, true, 4096]);
  // the trace of a reused result object starts empty again
  vtdWalkNested(mem, fs, ss, IOVA_N, VTD_DMA_READ, out);
  assert.deepEqual(out.trace, N1_TRACE);
  // without a trace, the count is still there
  assert.equal(vtdWalkNested(mem, fs, ss, IOVA_N).reads, 24);
});

Deno.test("vtd nested: effective permission is FS ∧ SS", () => {
  // FS leaf read-only (0x5065 = P|US|A|D), SS writable: a write faults in the FS
  const a = nSetup();
  a.mem.write64(0x8000_4020, 0x5065n);
  assert.equal(vtdWalkNested(a.mem, a.fs, a.ss, IOVA_N, VTD_DMA_WRITE).fault, VTD_FR_SM_WRITE);
  assert.deepEqual(
    [
      vtdWalkNested(a.mem, a.fs, a.ss, IOVA_N).read,
      vtdWalkNested(a.mem, a.fs, a.ss, IOVA_N).write,
    ],
    [true, false],
  );
  // FS writable, SS maps the data page read-only: a write faults in the SS, a read is r-
  const b = nSetup();
  b.mem.write64(0x103028, 0x8000_5001n);
  const w = vtdWalkNested(b.mem, b.fs, b.ss, IOVA_N, VTD_DMA_WRITE);
  assert.deepEqual([w.fault, w.stage, w.gpa], [VTD_FR_SM_WRITE, "ss", 0x5567]);
  const r = vtdWalkNested(b.mem, b.fs, b.ss, IOVA_N);
  assert.deepEqual([r.pa, r.read, r.write], [0x8000_5567, true, false]);
});

Deno.test("vtd nested: SS faults while fetching FS entries → 0x75, 0x76, 0x74, 0x7A", () => {
  // the FS root's page not mapped by the SS: top-level fetch → 0x75
  const a = nSetup();
  a.mem.write64(0x103008, 0n);
  const fa = vtdWalkNested(a.mem, a.fs, a.ss, IOVA_N);
  assert.deepEqual([fa.fault, fa.check, fa.gpa], [
    VTD_FR_NESTED_FS_TOP_SS_READ,
    "vtd-nested-check-read",
    0x1008,
  ]);
  // a lower FS table's page write-only in the SS → 0x76
  const b = nSetup();
  b.mem.write64(0x103018, 0x8000_3002n);
  assert.equal(vtdWalkNested(b.mem, b.fs, b.ss, IOVA_N).fault, VTD_FR_NESTED_FS_SS_READ);
  // an FS table pointer beyond the SS width (AW=1: 39 bits) → 0x74
  const c = nSetup({ aw: 1 });
  c.mem.write64(0x8000_1008, 0x80_0000_0027n);
  c.mem.write64(0x100000, 0x102003n); // 3-level SS: root is the former level-3 table
  const fc = vtdWalkNested(c.mem, c.fs, c.ss, IOVA_N);
  assert.deepEqual([fc.fault, fc.check], [VTD_FR_NESTED_FS_GPA_BEYOND, "vtd-nested-check-range"]);
  // the final GPA beyond the SS width → 0x74 too
  const d = nSetup({ aw: 1 });
  d.mem.write64(0x100000, 0x102003n);
  d.mem.write64(0x8000_4020, 0x80_0000_5067n);
  const fd = vtdWalkNested(d.mem, d.fs, d.ss, IOVA_N);
  assert.deepEqual([fd.fault, fd.check], [VTD_FR_NESTED_FS_GPA_BEYOND, "vtd-nested-check-output"]);
  // a reserved bit in an SS entry on the way → the SS's own 0x7A
  const e = nSetup();
  e.mem.write64(0x101000, 0x102803n); // SNP in a table entry
  assert.equal(vtdWalkNested(e.mem, e.fs, e.ss, IOVA_N).fault, VTD_FR_SS_PAGING_ENTRY_RSVD);
});

Deno.test("vtd nested: an FS A/D update through a read-only SS mapping → 0x77", () => {
  const { mem, ss, fs } = nSetup();
  mem.write64(0x8000_3018, 0x4007n); // level-2 FS entry with A clear
  mem.write64(0x103018, 0x8000_3001n); // its table page read-only in the SS
  const out = vtdWalkNested(mem, fs, ss, IOVA_N);
  assert.deepEqual([out.fault, out.check], [VTD_FR_NESTED_FS_SS_WRITE, "vtd-nested-check-ad"]);
  assert.equal(mem.read64(0x8000_3018), 0x4007n, "nothing written");
  // with the page writable, the A flag is set at the entry's HPA
  mem.write64(0x103018, 0x8000_3003n);
  assert.equal(vtdWalkNested(mem, fs, ss, IOVA_N).pa, 0x8000_5567);
  assert.equal(mem.read64(0x8000_3018), 0x4027n);
});

Deno.test("vtd nested: needs a scalable-mode second stage", () => {
  const { mem, fs } = nSetup();
  const legacy = new VtdSecondStage({ root: 0x100000 });
  assert.throws(() => vtdWalkNested(mem, fs, legacy, IOVA_N), /scalable/);
});

// ---------------------------------------------------------------------------------------------
// The cost of a nested walk

/** N1's first stage over a second stage that identity-offsets with leaves of `size`. */
function costSetup(size: number) {
  const mem = new PhysMem(2 ** 40);
  const arena = new VtdTableArena(0x100_0000);
  const ss = new VtdSecondStage({ root: arena.alloc(), mode: "scalable" });
  // GPA [0, 1 GiB) → HPA [2 GiB, 3 GiB) in pages of `size`
  const span = 2 ** 30;
  for (let g = 0; g < Math.max(span / size, 1) && g < 8; g++) {
    vtdMapSecondStage(
      mem,
      ss,
      g * size,
      0x8000_0000 + g * size,
      size,
      { write: true },
      arena.alloc,
    );
  }
  const fs = new VtdFirstStage({ root: 0x1000 });
  const toHpa = (gpa: number) => 0x8000_0000 + gpa;
  const guest = new VtdTableArena(0x2000);
  vtdMapFirstStage(mem, fs, IOVA_N, 0x5000, 4096, { write: true }, guest.alloc, toHpa);
  return { mem, ss, fs };
}

Deno.test("vtd cost: (n+1)(m+1)−1 reads — 4×4 = 24, 4×3 (2 MiB SS) = 19, 4×2 (1 GiB SS) = 14", () => {
  assert.equal(vtdNestedWalkRefs(4, 4), 24);
  assert.equal(vtdNestedWalkRefs(5, 5), 35);
  for (const [size, m] of [[4096, 4], [2 ** 21, 3], [2 ** 30, 2]] as const) {
    const { mem, ss, fs } = costSetup(size);
    const out = vtdWalkNested(mem, fs, ss, IOVA_N);
    assert.equal(out.fault, 0, out.describe());
    assert.equal(out.pa, 0x8000_5567);
    assert.equal(out.reads, vtdNestedWalkRefs(4, m), `SS pages of ${size}`);
    assert.equal(out.pageSize, 4096);
  }
});

// ---------------------------------------------------------------------------------------------
// Reserved bits, one mask at a time

/** A one-entry-per-level SS table to IOVA 0: entries at 0x100000.. 0x103000 (index 0). */
function ssChain(entries: bigint[], opts: Partial<VtdSecondStageOptions> = {}) {
  const mem = new PhysMem(2 ** 40);
  const ss = new VtdSecondStage({ root: 0x100000, ...opts });
  entries.forEach((e, i) => mem.write64(0x100000 + i * 0x1000, e));
  return vtdWalkSecondStage(mem, ss, 0);
}

Deno.test("vtd SS reserved bits: every level's mask, legacy and scalable", () => {
  const table = (next: number) => BigInt(next) | 3n;
  const chain = [table(0x101000), table(0x102000), table(0x103000), 0x5000_0003n];
  assert.equal(ssChain(chain).pa, 0x5000_0000);
  const cases: [level: number, bit: bigint, legacy: boolean, scalable: boolean][] = [
    [4, 1n << 7n, true, true], // PS in a PML4E
    [4, 1n << 11n, true, true], // SNP in a table entry
    [3, 1n << 11n, true, true],
    [2, 1n << 11n, true, true],
    [1, 1n << 11n, true, false], // SNP in a leaf: only legacy without SC
    [1, 1n << 7n, false, false], // PS at level 1 is ignored
    [1, 1n << 62n, true, true], // TM: reserved since rev 3.2
    [1, 1n << 48n, true, true], // bits 51:48 beyond HAW 48
    [1, 1n << 51n, true, true],
    [1, 1n << 52n, false, false], // 61:52 ignored
    [1, 1n << 63n, false, false], // 63 ignored
    [1, 1n << 10n, false, false], // ignored
    [1, 1n << 8n | 1n << 9n, false, false], // A, D
  ];
  for (const [level, bit, legacy, scalable] of cases) {
    const entries = chain.slice();
    entries[4 - level] |= bit;
    for (
      const [mode, expect, fr] of [["legacy", legacy, 0x0c], ["scalable", scalable, 0x7a]] as const
    ) {
      const out = ssChain(entries, { mode });
      const what = `level ${level} bit 0x${bit.toString(16)} ${mode}`;
      if (expect) assert.deepEqual([out.fault, out.level], [fr, level], what);
      else assert.equal(out.fault, 0, what);
    }
  }
  // ECAP.SC frees SNP in legacy leaves too
  const snp = chain.slice();
  snp[3] |= 1n << 11n;
  assert.equal(ssChain(snp, { snoopControl: true }).fault, 0);
  // a narrower HAW reserves more
  const wide = chain.slice();
  wide[3] |= 1n << 40n;
  assert.equal(ssChain(wide).fault, 0);
  assert.equal(ssChain(wide, { haw: 39 }).fault, VTD_FR_PAGING_ENTRY_RSVD);
});

Deno.test("vtd SS reserved bits: large leaves, and PS where large pages are not supported", () => {
  const table = (next: number) => BigInt(next) | 3n;
  const two = [table(0x101000), table(0x102000), 0x4000_0083n];
  assert.equal(ssChain(two).pageSize, 2 ** 21);
  for (let b = 12n; b <= 20n; b++) {
    const e = two.slice();
    e[2] |= 1n << b;
    assert.equal(ssChain(e).fault, VTD_FR_PAGING_ENTRY_RSVD, `2 MiB bit ${b}`);
  }
  const one = [table(0x101000), 0x8000_0000_83n];
  assert.equal(ssChain(one).pageSize, 2 ** 30);
  for (const b of [12n, 20n, 29n]) {
    const e = one.slice();
    e[1] |= 1n << b;
    assert.equal(ssChain(e).fault, VTD_FR_PAGING_ENTRY_RSVD, `1 GiB bit ${b}`);
  }
  // SLLPS without 1 GiB: PS at level 3 is reserved; without 2 MiB, at level 2
  assert.equal(ssChain(one, { sllps: 1 }).fault, VTD_FR_PAGING_ENTRY_RSVD);
  assert.equal(ssChain(two, { sllps: 2 }).fault, VTD_FR_PAGING_ENTRY_RSVD);
  assert.equal(ssChain(two, { sllps: 1 }).pageSize, 2 ** 21);
});

/** A one-entry-per-level FS table to IOVA 0. */
function fsChain(entries: bigint[], opts: Partial<VtdFirstStageOptions> = {}) {
  const mem = new PhysMem(2 ** 40);
  const fs = new VtdFirstStage({ root: 0x200000, ...opts });
  entries.forEach((e, i) => mem.write64(0x200000 + i * 0x1000, e));
  return vtdWalkFirstStage(mem, fs, 0);
}

Deno.test("vtd FS reserved bits: every level's mask, XD with and without NXE", () => {
  const table = (next: number) => BigInt(next) | 0x27n;
  const chain = [table(0x201000), table(0x202000), table(0x203000), 0x5000_0067n];
  assert.equal(fsChain(chain).pa, 0x5000_0000);
  const cases: [level: number, bit: bigint, rsvd: boolean][] = [
    [4, 1n << 7n, true], // PS in a PML4E
    [3, 1n << 11n, false], // ignored
    [1, 1n << 7n, false], // PAT in a PTE
    [1, 1n << 48n, true], // beyond HAW
    [2, 1n << 51n, true],
    [1, 1n << 52n, false], // 62:52 ignored
    [1, 1n << 62n, false],
    [1, 1n << 63n, false], // XD with NXE=1
  ];
  for (const [level, bit, rsvd] of cases) {
    const entries = chain.slice();
    entries[4 - level] |= bit;
    const out = fsChain(entries);
    const what = `level ${level} bit 0x${bit.toString(16)}`;
    if (rsvd) assert.deepEqual([out.fault, out.level], [VTD_FR_FS_PAGING_ENTRY_RSVD, level], what);
    else assert.equal(out.fault, 0, what);
  }
  const xd = chain.slice();
  xd[3] |= 1n << 63n;
  assert.equal(fsChain(xd, { nxe: false }).fault, VTD_FR_FS_PAGING_ENTRY_RSVD);
  // large leaves: 2 MiB bits 20:13, 1 GiB bits 29:13; PS at level 3 needs FL1GP
  const two = [table(0x201000), table(0x202000), 0x4000_00e7n];
  assert.equal(fsChain(two).pageSize, 2 ** 21);
  for (const [b, rsvd] of [[12n, false], [13n, true], [20n, true], [21n, false]] as const) {
    const e = two.slice();
    e[2] |= 1n << b;
    assert.equal(fsChain(e).fault, rsvd ? VTD_FR_FS_PAGING_ENTRY_RSVD : 0, `2 MiB bit ${b}`);
  }
  const one = [table(0x201000), 0x8000_0000_e7n];
  assert.equal(fsChain(one).pageSize, 2 ** 30);
  const e = one.slice();
  e[1] |= 1n << 29n;
  assert.equal(fsChain(e).fault, VTD_FR_FS_PAGING_ENTRY_RSVD);
  assert.equal(fsChain(one, { fl1gp: false }).fault, VTD_FR_FS_PAGING_ENTRY_RSVD);
});

// ---------------------------------------------------------------------------------------------
// Permissions, orders, fetch errors, the interrupt range

Deno.test("vtd SS permissions are ANDed over the levels", () => {
  const { mem, ss } = vSetup();
  mem.write64(0x103918, 0x12_3456_7003n);
  mem.write64(0x101e68, 0x102001n); // a read-only PDPE
  const rd = vtdWalkSecondStage(mem, ss, IOVA_A);
  assert.deepEqual([rd.pa, rd.read, rd.write], [PA_A, true, false]);
  const wr = vtdWalkSecondStage(mem, ss, IOVA_A, VTD_DMA_WRITE);
  assert.deepEqual([wr.fault, wr.level, wr.reads], [VTD_FR_WRITE, 3, 2]);
  // a write-only table entry denies reads below it
  mem.write64(0x101e68, 0x102002n);
  const r2 = vtdWalkSecondStage(mem, ss, IOVA_A);
  assert.deepEqual([r2.fault, r2.level], [VTD_FR_READ, 3]);
  assert.equal(vtdWalkSecondStage(mem, ss, IOVA_A, VTD_DMA_WRITE).write, true);
});

Deno.test("vtd FS permissions are ANDed over the levels", () => {
  const { mem, fs } = fSetup();
  mem.write64(0x201e68, 0x202025n); // PDPE: P|US|A, no R/W
  const rd = vtdWalkFirstStage(mem, fs, IOVA_A);
  assert.deepEqual([rd.pa, rd.write], [PA_A, false]);
  assert.deepEqual(
    [
      vtdWalkFirstStage(mem, fs, IOVA_A, VTD_DMA_WRITE).fault,
      vtdWalkFirstStage(mem, fs, IOVA_A, VTD_DMA_WRITE).level,
    ],
    [VTD_FR_SM_WRITE, 3],
  );
});

Deno.test("vtd check order: QEMU reports permission before reserved bits, the spec the reverse", () => {
  // a read-only PML4E above a leaf with a reserved bit, a write
  const setup = (order: "qemu" | "spec") => {
    const r = vSetup({ order });
    r.mem.write64(0x100558, 0x101001n);
    r.mem.write64(0x103918, 0x12_3456_7803n); // SNP in a legacy leaf
    return vtdWalkSecondStage(r.mem, r.ss, IOVA_A, VTD_DMA_WRITE);
  };
  assert.deepEqual([setup("qemu").fault, setup("qemu").level], [VTD_FR_WRITE, 4]);
  assert.deepEqual([setup("spec").fault, setup("spec").level, setup("spec").check], [
    VTD_FR_PAGING_ENTRY_RSVD,
    1,
    "vtd-ss-check-rsvd",
  ]);
  // without the reserved bit the spec order faults at the leaf, on the cumulative rights
  const s = vSetup({ order: "spec" });
  s.mem.write64(0x100558, 0x101001n);
  s.mem.write64(0x103918, 0x12_3456_7003n);
  const out = vtdWalkSecondStage(s.mem, s.ss, IOVA_A, VTD_DMA_WRITE);
  assert.deepEqual([out.fault, out.level, out.check], [VTD_FR_WRITE, 1, "vtd-ss-check-final"]);
  // scalable spec order: a final read denial is 0x86
  const sm = vSetup({ order: "spec", mode: "scalable" });
  sm.mem.write64(0x100558, 0x101002n);
  sm.mem.write64(0x103918, 0x12_3456_7003n);
  assert.equal(vtdWalkSecondStage(sm.mem, sm.ss, IOVA_A).fault, VTD_FR_SM_READ);
  // FS: U/S=0 in a PML4E and a reserved bit in the leaf
  const f = (order: "qemu" | "spec") => {
    const r = fSetup(0x12_3456_7067n | (1n << 50n), { order });
    r.mem.write64(0x200558, 0x201023n);
    return vtdWalkFirstStage(r.mem, r.fs, IOVA_A).fault;
  };
  assert.deepEqual([f("qemu"), f("spec")], [
    VTD_FR_FS_PAGING_ENTRY_US,
    VTD_FR_FS_PAGING_ENTRY_RSVD,
  ]);
});

Deno.test("vtd fetch errors: a table outside memory → 0x03/0x07 legacy, 0x7B, 0x73/0x70", () => {
  const mem = new PhysMem(2 ** 30);
  const top = new VtdSecondStage({ root: 2 ** 31 });
  assert.equal(vtdWalkSecondStage(mem, top, 0).fault, VTD_FR_CONTEXT_ENTRY_INV);
  const sm = new VtdSecondStage({ root: 2 ** 31, mode: "scalable" });
  assert.equal(vtdWalkSecondStage(mem, sm, 0).fault, VTD_FR_PASID_ENTRY_SSPTPTR_INV);
  mem.write64(0x100000, BigInt(2 ** 32) | 3n);
  const low = new VtdSecondStage({ root: 0x100000 });
  const out = vtdWalkSecondStage(mem, low, 0);
  assert.deepEqual([out.fault, out.level, out.check], [
    VTD_FR_PAGING_ENTRY_INV,
    3,
    "vtd-ss-check-fetch",
  ]);
  assert.equal(
    vtdWalkFirstStage(mem, new VtdFirstStage({ root: 2 ** 31 }), 0).fault,
    VTD_FR_PASID_ENTRY_FSPTPTR_INV,
  );
  mem.write64(0x200000, BigInt(2 ** 32) | 0x27n);
  assert.equal(
    vtdWalkFirstStage(mem, new VtdFirstStage({ root: 0x200000 }), 0).fault,
    VTD_FR_FS_PAGING_ENTRY_INV,
  );
});

Deno.test("vtd interrupt range: an output page overlapping 0xFEE00000 faults (0x0E / 0x87)", () => {
  const mem = new PhysMem(2 ** 40);
  const ss = new VtdSecondStage({ root: 0x100000, aw: 1 });
  mem.write64(0x100000, 0x101003n);
  mem.write64(0x101000, 0x102003n);
  mem.write64(0x102000, 0xfee0_0003n);
  mem.write64(0x102008, 0xfedf_f003n);
  assert.equal(vtdWalkSecondStage(mem, ss, 0).fault, VTD_FR_INTERRUPT_ADDR);
  assert.equal(vtdWalkSecondStage(mem, ss, 0x1000).pa, 0xfedf_f000);
  // a 1 GiB page that contains the range
  mem.write64(0x100008, 0xc000_0083n);
  assert.equal(vtdWalkSecondStage(mem, ss, 2 ** 30).fault, VTD_FR_INTERRUPT_ADDR);
  const sm = new VtdSecondStage({ root: 0x100000, aw: 1, mode: "scalable" });
  assert.equal(vtdWalkSecondStage(mem, sm, 0).fault, VTD_FR_SM_INTERRUPT_ADDR);
});

Deno.test("vtd SSADE: A on every entry used, D on a written leaf; nothing when SSADE=0", () => {
  const { mem, ss } = vSetup({ ssade: true });
  mem.write64(0x103918, 0x12_3456_7003n);
  vtdWalkSecondStage(mem, ss, IOVA_A);
  assert.equal(mem.read64(0x100558), 0x101103n);
  assert.equal(mem.read64(0x103918), 0x12_3456_7103n);
  vtdWalkSecondStage(mem, ss, IOVA_A, VTD_DMA_WRITE);
  assert.equal(mem.read64(0x103918), 0x12_3456_7103n | BigInt(DMA_SL_PTE_DIRTY));
  const off = vSetup();
  off.mem.write64(0x103918, 0x12_3456_7003n);
  vtdWalkSecondStage(off.mem, off.ss, IOVA_A, VTD_DMA_WRITE);
  assert.equal(off.mem.read64(0x103918), 0x12_3456_7003n);
});

Deno.test("vtd fault names, level indices, result descriptions", () => {
  assert.equal(vtdFaultReasonName(0x05), "VTD_FR_WRITE");
  assert.equal(vtdFaultReasonName(0x77), "VTD_FR_NESTED_FS_SS_WRITE");
  assert.equal(vtdFaultReasonName(0x42), "VTD_FR_0x42");
  assert.deepEqual([4, 3, 2, 1].map((l) => vtdLevelIndex(0x55f3, 0x5df2_3456, l)), [
    0xab,
    0x1cd,
    0xef,
    0x123,
  ]);
  assert.equal(vtdLevelIndex(0x01ab_cdef, 0x0123_4567, 5), 0x1ab);
  assert.equal(vtdLevelIndex(0x01ab_cdef, 0x0123_4567, 4), 0x19b);
  const { mem, ss } = vSetup();
  mem.write64(0x103918, 0x12_3456_7001n);
  assert.equal(
    vtdWalkSecondStage(mem, ss, IOVA_A).describe(),
    "PA 0x1234567456 (4 KiB page, r-, 4 reads)",
  );
  assert.match(
    vtdWalkSecondStage(mem, ss, IOVA_A, VTD_DMA_WRITE).describe(),
    /^fault 0x5 VTD_FR_WRITE .* at SS level 1 \[vtd-ss-check-perm\], 4 reads$/,
  );
  assert.throws(() => vtdWalkSecondStage(mem, ss, -1), RangeError);
});

Deno.test("vtd check ids: every id the walker reports is an anchor of its chapter", async () => {
  const md = await Deno.readTextFile(new URL("../../spec/17-vtd-page-walk.md", import.meta.url));
  const code = await Deno.readTextFile(new URL("../../lib/hw/vtd/walk.ts", import.meta.url));
  const ids = new Set(
    [...code.matchAll(/"(vtd-[a-z]+-check-[a-z]+|vtd-check-[a-z]+)"/g)].map((m) => m[1]),
  );
  assert.ok(ids.size >= 15, `${ids.size} ids`);
  for (const id of ids) assert.ok(md.includes(`{#${id}}`), `${id} has no anchor`);
});

// ---------------------------------------------------------------------------------------------
// Property: random 4-level second stages

Deno.test("vtd property: random 4K/2M/1G mappings translate, holes fault, ≤ levels reads", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const rand = rng(seed * 2654435761);
    const mem = new PhysMem(2 ** 44);
    const arena = new VtdTableArena(0x1000_0000);
    const ss = new VtdSecondStage({ root: arena.alloc() });
    const maps: { iova: number; size: number; pa: number; write: boolean }[] = [];
    const sizes = [4096, 2 ** 21, 2 ** 30];
    const window = () =>
      rand(2) * 2 ** 39 + rand(4) * 2 ** 30 + rand(8) * 2 ** 21 + rand(512) * 4096;
    for (let tries = 0; maps.length < 40 && tries < 400; tries++) {
      const size = sizes[rand(8) < 5 ? 0 : rand(8) < 6 ? 1 : 2];
      const iova = window();
      const start = iova - (iova % size);
      if (maps.some((m) => start < m.iova + m.size && m.iova < start + size)) continue;
      // a large page cannot go where smaller mappings already built tables, nor vice versa
      if (
        maps.some((m) =>
          Math.floor(m.iova / 2 ** 30) === Math.floor(start / 2 ** 30) &&
            (m.size === 2 ** 30) !== (size === 2 ** 30) ||
          Math.floor(m.iova / 2 ** 21) === Math.floor(start / 2 ** 21) &&
            (m.size === 2 ** 21) !== (size === 2 ** 21)
        )
      ) continue;
      const aligned = (rand(1 << 16) + 1) * size;
      const write = rand(2) === 1;
      vtdMapSecondStage(mem, ss, start, aligned, size, { write }, arena.alloc);
      maps.push({ iova: start, size, pa: aligned, write });
    }
    assert.ok(maps.length >= 20, `seed ${seed}: ${maps.length} mappings`);
    const out = new VtdWalk();
    for (const m of maps) {
      for (const off of [0, m.size - 1, rand(m.size)]) {
        vtdWalkSecondStage(mem, ss, m.iova + off, VTD_DMA_READ, out);
        const expect = m.pa + off;
        if (
          expect - (expect % m.size) <= 0xfeef_ffff &&
          expect - (expect % m.size) + m.size > 0xfee0_0000
        ) {
          assert.equal(out.fault, VTD_FR_INTERRUPT_ADDR);
          continue;
        }
        assert.equal(out.fault, 0, `seed ${seed}: ${out.describe()}`);
        assert.equal(out.pa, expect);
        assert.equal(out.pageSize, m.size);
        assert.equal(out.write, m.write);
        assert.ok(out.reads <= ss.levels);
        vtdWalkSecondStage(mem, ss, m.iova + off, VTD_DMA_WRITE, out);
        assert.equal(out.fault, m.write ? 0 : VTD_FR_WRITE);
      }
    }
    for (let i = 0; i < 200; i++) {
      const iova = window() + rand(4096);
      if (maps.some((m) => iova >= m.iova && iova < m.iova + m.size)) continue;
      vtdWalkSecondStage(mem, ss, iova, VTD_DMA_READ, out);
      assert.equal(out.fault, VTD_FR_READ, `seed ${seed}: 0x${iova.toString(16)} is a hole`);
      assert.ok(out.reads >= 1 && out.reads <= ss.levels);
    }
  }
});
