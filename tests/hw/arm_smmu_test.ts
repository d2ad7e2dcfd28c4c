/**
 * The Arm LPAE formats and the SMMUv3 walk (spec/22-arm-smmuv3.md): the hand-derived worked vectors
 * with their events and read order, the event record's bit layout, descriptor rules at the format
 * level, nesting over tables the io-pgtable-arm port wrote (the driver and the hardware meeting in
 * CD/STE fields), the port's v6.12 behaviours (split on unmap, a block replacing a table, the
 * map_pages check order), and seeded random vectors that round-trip through JSON.
 */
import assert from "node:assert/strict";
import {
  alloc_io_pgtable_ops,
  ARM_LPAE_PTE_AF,
  ARM_LPAE_PTE_AP_RDONLY,
  ARM_LPAE_PTE_AP_UNPRIV,
  ARM_LPAE_PTE_HAP_READ,
  ARM_LPAE_PTE_XN,
  armLpaeCdOf,
  armLpaeFormat,
  armLpaeSteOf,
  ArmLpaeTableAllocator,
  armRandomVectors,
  armVectorCheck,
  armVectorRun,
  armWorkedVectors,
  EINVAL,
  ERANGE,
  EVT_ID_ACCESS_FAULT,
  EVT_ID_ADDR_SIZE_FAULT,
  EVT_ID_PERMISSION_FAULT,
  EVT_ID_TRANSLATION_FAULT,
  free_io_pgtable_ops,
  type io_pgtable_cfg,
  IOMMU_CACHE,
  IOMMU_READ,
  IOMMU_WRITE,
  type PtMemory,
  PtSparseMemory,
  SMMU_CLASS_IN,
  SMMU_CLASS_TT,
  smmuEventDecode,
  smmuEventRecord,
  smmuS2Format,
  smmuTranslate,
} from "../../lib/internal.ts";

Deno.test("arm worked vectors pass with their events, read order and AF writes", () => {
  const file = armWorkedVectors();
  assert.equal(file.vectors.length, 28);
  for (const v of file.vectors) assert.deepEqual(armVectorRun(file, v), [], v.id);
  const n1 = file.vectors.find((v) => v.id === "N1")!;
  assert.equal(n1.reads.length, 24, "4-level S1 over 4-level S2: n(m+1)+m = 24 reads");
  const n2 = file.vectors.find((v) => v.id === "N2")!;
  assert.deepEqual(n2.expect, { ok: false, event: 0x10, s2: true, class: 1, ipa_hex: "0x3000" });
});

Deno.test("arm worked vectors: a wrong expectation is reported, field by field", () => {
  const file = armWorkedVectors();
  const v = structuredClone(file.vectors.find((x) => x.id === "N2")!);
  v.expect = { ok: false, event: 0x10, s2: true, class: 2, ipa_hex: "0x3000" };
  v.reads = v.reads.slice(1);
  const problems = armVectorRun(file, v);
  assert.deepEqual(problems[0], "class: expected 2, model 1");
  assert.match(problems[1], /^reads: /);
  assert.equal(problems.length, 2);
});

Deno.test("SMMU event record: ID, SID, RnW, S2, CLASS and IPA at the arm-smmu-v3.h bit positions", () => {
  const ev = {
    id: EVT_ID_TRANSLATION_FAULT,
    s2: true,
    class: SMMU_CLASS_TT,
    addr: 0x80_8060_4567n,
    ipa: 0x3018n,
    rnw: true,
    ind: false,
    pnu: false,
  };
  const d = smmuEventRecord(ev, 0x42, 5);
  assert.deepEqual(d, [
    0x0000_0042_0000_5810n, // SID 63:32, SSID 31:12, SSV 11, ID 7:0
    0x0000_0188_0000_0000n, // CLASS=1 at 41:40, S2 39, RnW 35
    0x80_8060_4567n,
    0x3000n, // IPA[51:12]
  ]);
  assert.deepEqual(smmuEventDecode(d), { ...ev, ipa: 0x3000n, sid: 0x42, ssid: 5 });
});

Deno.test("LPAE descriptors: type 01 where no block may be, address size, AF with and without HA", () => {
  const s1 = armLpaeFormat({ stage: 1, granule: 4096, ias: 48, oas: 40 });
  assert.equal(s1.levels, 4);
  assert.match(
    (s1.decode(0x1000_0001n | ARM_LPAE_PTE_AF, 0) as { why: string }).why,
    /^translation: block/,
  );
  assert.match((s1.decode(0x4000_0001n, 3) as { why: string }).why, /^translation: block/, "L0");
  assert.deepEqual(s1.decode(0x4000_0401n, 2), { kind: "leaf", oa: 0x4000_0000n, sizeShift: 30 });
  assert.deepEqual(s1.decode(0x4000_0403n, 2), { kind: "table", next: 0x4000_0000n });
  assert.match((s1.decode(0x100_0000_0003n, 2) as { why: string }).why, /^address-size/);
  assert.match((s1.decode(0x2_0000_0000_0403n, 0) as { why: string }).why, /^address-size/);
  assert.match((s1.decode(0x1000_0003n, 0) as { why: string }).why, /^access-flag/);
  const ha = armLpaeFormat({ stage: 1, granule: 4096, ias: 48, oas: 40, ha: true });
  assert.equal(ha.decode(0x1000_0003n, 0).kind, "leaf");
  assert.equal(ha.adUpdated(0x1000_0003n, { access: "r" }), 0x1000_0403n);
  const k16 = armLpaeFormat({ stage: 1, granule: 16384, ias: 48, oas: 48 });
  assert.deepEqual(k16.leafShifts(2), [], "no 64 GiB blocks without 52-bit OAs");
  assert.equal(k16.tableBytes(k16.levels - 1), 16, "a 2-entry level-0 table");
});

Deno.test("LPAE permissions: stage-1 AP, execute-only, the implicit PXN; stage-2 S2AP and XN", () => {
  const s1 = armLpaeFormat({ stage: 1, granule: 4096, ias: 48, oas: 48 });
  const leaf = 0x5000_0403n;
  const can = (e: bigint, access: "r" | "w" | "x", priv: "u" | "s") =>
    s1.permits(e, { access, priv });
  assert.equal(can(leaf, "r", "u"), false, "no EL0 access without AP[1]");
  assert.equal(can(leaf, "w", "s"), true);
  assert.equal(can(leaf | ARM_LPAE_PTE_AP_RDONLY, "w", "s"), false);
  assert.equal(can(leaf | ARM_LPAE_PTE_AP_UNPRIV, "x", "u"), true);
  assert.equal(can(leaf | ARM_LPAE_PTE_AP_UNPRIV, "x", "s"), false, "EL0-writable is PXN");
  assert.equal(can(leaf | ARM_LPAE_PTE_AP_UNPRIV | ARM_LPAE_PTE_AP_RDONLY, "x", "s"), true);
  assert.equal(can(leaf | ARM_LPAE_PTE_AP_UNPRIV | ARM_LPAE_PTE_XN, "x", "u"), false);
  assert.equal(can(leaf, "x", "u"), true, "AP[1]=0 with UXN=0: execute-only for EL0");
  assert.equal(can(leaf, "r", "u"), false);
  const s2 = armLpaeFormat({ stage: 2, granule: 4096, ias: 40, oas: 40, startLevel: 1 });
  const r = 0x5000_0403n | ARM_LPAE_PTE_HAP_READ;
  assert.equal(s2.permits(r, { access: "r" }), true);
  assert.equal(s2.permits(r, { access: "w" }), false);
  assert.equal(s2.permits(r, { access: "x" }), true);
  assert.equal(s2.permits(r | ARM_LPAE_PTE_XN, { access: "x" }), false);
  assert.equal(s2.permits(0x5000_0403n, { access: "r" }), false);
  assert.equal(s2.permits(0x5000_0403n, { access: "x" }), true, "XN alone decides a fetch");
});

Deno.test("STE S2SL0 decodes to the start level per granule; impossible combinations are refused", () => {
  const f = (s2tg: number, s2sl0: number, ias: number) =>
    smmuS2Format({ s2ttb: 0n, s2t0sz: 64 - ias, s2sl0, s2tg, s2ps: 5 });
  assert.equal(f(0, 1, 40).startLevel, 1);
  assert.equal(f(0, 1, 40).concatenated, 2);
  assert.equal(f(0, 2, 48).startLevel, 0);
  assert.equal(f(2, 2, 48).startLevel, 1, "16 KiB: SL0 2 = level 1");
  assert.equal(f(2, 2, 48).concatenated, 2);
  assert.equal(f(1, 1, 42).startLevel, 2, "64 KiB: SL0 1 = level 2");
  assert.equal(f(1, 1, 42).concatenated, 1);
  assert.equal(f(1, 1, 44).concatenated, 4);
  assert.throws(() => f(0, 0, 40), RangeError, "level 2 would need 2^19 root entries");
  assert.throws(() => f(0, 1, 48), RangeError, "level 1 would need 512 tables");
});

/** A stage-2 port table and a stage-1 port table whose tables live in IPA space behind it. */
function nestedPair(s2ias: number) {
  const mem = new PtSparseMemory();
  const c2: io_pgtable_cfg = {
    quirks: 0,
    pgsize_bitmap: 0x4020_1000n,
    ias: s2ias,
    oas: 48,
    coherent_walk: true,
  };
  const s2 = alloc_io_pgtable_ops(
    "ARM_64_LPAE_S2",
    c2,
    null,
    new ArmLpaeTableAllocator(mem, 0x1_0000_0000n),
  )!;
  // IPA [0, 2 MiB) → PA 0x40000000 + IPA, in 4 KiB pages
  for (let p = 0n; p < 512n; p++) {
    assert.equal(
      s2.map_pages(p << 12n, 0x4000_0000n + (p << 12n), 0x1000n, 1, IOMMU_READ | IOMMU_WRITE).ret,
      0,
    );
  }
  const view: PtMemory = {
    read64: (ipa) => mem.read64(ipa + 0x4000_0000n),
    write64: (ipa, v) => mem.write64(ipa + 0x4000_0000n, v),
  };
  const c1: io_pgtable_cfg = { ...c2, ias: 48, oas: 40 };
  const s1 = alloc_io_pgtable_ops(
    "ARM_64_LPAE_S1",
    c1,
    null,
    new ArmLpaeTableAllocator(view, 0x10_0000n),
  )!;
  assert.equal(s1.map_pages(0x7f_1234_5000n, 0x1000n, 0x1000n, 1, IOMMU_READ | IOMMU_CACHE).ret, 0);
  return { mem, s1, s2, stream: { s1: armLpaeCdOf(c1), s2: armLpaeSteOf(c2) } };
}

Deno.test("nested over port-written tables: n(m+1)+m reads, 24 for 4×4 and 19 over a concatenated stage 2", () => {
  for (const [ias, reads] of [[48, 24], [40, 19]]) {
    const { mem, stream } = nestedPair(ias);
    const t = smmuTranslate(mem, stream, 0x7f_1234_5678n, "r");
    assert.ok(t.ok, JSON.stringify(t, (_, v) => typeof v === "bigint" ? v.toString(16) : v));
    assert.equal(t.pa, 0x4000_1678n);
    assert.equal(t.ipa, 0x1678n);
    assert.equal(t.reads.length, reads);
    const w = smmuTranslate(mem, stream, 0x7f_1234_5678n, "w");
    assert.ok(!w.ok && w.event.id === EVT_ID_PERMISSION_FAULT && !w.event.s2, "S1 read-only");
  }
});

Deno.test("nested: a stage-2 hole under a stage-1 table is S2=1 CLASS=TT with the table's IPA", () => {
  const { mem, s1, s2, stream } = nestedPair(48);
  // the stage-1 level-2 table is the third table the S1 allocator handed out: IPA 0x102000
  assert.equal(s2.unmap_pages(0x10_2000n, 0x1000n, 1), 0x1000n);
  const t = smmuTranslate(mem, stream, 0x7f_1234_5678n, "r");
  assert.ok(!t.ok);
  assert.equal(t.event.id, EVT_ID_TRANSLATION_FAULT);
  assert.equal(t.event.s2, true);
  assert.equal(t.event.class, SMMU_CLASS_TT);
  assert.equal(t.event.ipa! & ~0xfffn, 0x10_2000n);
  // and the final IPA unmapped instead: CLASS=IN with the data IPA
  assert.equal(s2.map_pages(0x10_2000n, 0x4010_2000n, 0x1000n, 1, IOMMU_READ).ret, 0);
  assert.equal(s2.unmap_pages(0x1000n, 0x1000n, 1), 0x1000n);
  const u = smmuTranslate(mem, stream, 0x7f_1234_5678n, "r");
  assert.ok(!u.ok && u.event.class === SMMU_CLASS_IN && u.event.ipa === 0x1678n);
  assert.equal(s1.iova_to_phys(0x7f_1234_5678n), 0x1678n, "the driver's view is the IPA");
});

Deno.test("io-pgtable-arm v6.12: unmapping 4 KiB of a 1 GiB block splits it twice; the hardware agrees", () => {
  const mem = new PtSparseMemory();
  const alloc = new ArmLpaeTableAllocator(mem);
  const cfg: io_pgtable_cfg = {
    quirks: 0,
    pgsize_bitmap: 0x4020_1000n,
    ias: 48,
    oas: 48,
    coherent_walk: true,
  };
  const ops = alloc_io_pgtable_ops("ARM_64_LPAE_S1", cfg, null, alloc)!;
  assert.equal(
    ops.map_pages(1n << 30n, 0x80_0000_0000n, 1n << 30n, 1, IOMMU_READ | IOMMU_WRITE).ret,
    0,
  );
  const before = alloc.pages;
  assert.equal(ops.unmap_pages((1n << 30n) + 0x20_3000n, 0x1000n, 1), 0x1000n);
  assert.equal(alloc.pages, before + 2, "a table of 2 MiB blocks and a table of pages");
  assert.equal(ops.iova_to_phys((1n << 30n) + 0x20_3000n), 0n);
  for (const off of [0n, 0x20_2fffn, 0x20_4000n, 0x3fff_ffffn]) {
    assert.equal(ops.iova_to_phys((1n << 30n) + off), 0x80_0000_0000n + off);
    const t = smmuTranslate(mem, { s1: armLpaeCdOf(cfg) }, (1n << 30n) + off, "w");
    assert.ok(t.ok && t.pa === 0x80_0000_0000n + off);
  }
  const hole = smmuTranslate(mem, { s1: armLpaeCdOf(cfg) }, (1n << 30n) + 0x20_3000n, "r");
  assert.ok(!hole.ok && hole.event.id === EVT_ID_TRANSLATION_FAULT);
  // unmapping the whole gigabyte now meets a table at level 1, clears it and frees both tables
  assert.equal(ops.unmap_pages(1n << 30n, 1n << 30n, 1), 1n << 30n);
  assert.equal(alloc.pages, before - 0);
  free_io_pgtable_ops(ops);
  assert.equal(alloc.pages, 0);
  assert.deepEqual(ops.warnings, []);
});

Deno.test("io-pgtable-arm v6.12: a block mapped over a table replaces whatever the table mapped", () => {
  const alloc = new ArmLpaeTableAllocator(new PtSparseMemory());
  const cfg: io_pgtable_cfg = {
    quirks: 0,
    pgsize_bitmap: 0x4020_1000n,
    ias: 40,
    oas: 40,
    coherent_walk: true,
  };
  const ops = alloc_io_pgtable_ops("ARM_64_LPAE_S2", cfg, null, alloc)!;
  assert.equal(ops.map_pages(0x20_0000n, 0x9000_0000n, 0x1000n, 4, IOMMU_READ).ret, 0);
  assert.equal(ops.iova_to_phys(0x20_3000n), 0x9000_3000n);
  const r = ops.map_pages(0x20_0000n, 0x4000_0000n, 0x20_0000n, 1, IOMMU_READ);
  assert.deepEqual(r, { ret: 0, mapped: 0x20_0000n });
  assert.equal(ops.iova_to_phys(0x20_3000n), 0x4000_3000n);
  assert.equal(ops.map_pages(0x20_0000n, 0x4000_0000n, 0x1000n, 1, IOMMU_READ).ret, -17, "EEXIST");
  assert.deepEqual(ops.warnings, ["map below a leaf"], "outside the self-test, the WARN fires");
  free_io_pgtable_ops(ops);
  assert.equal(alloc.pages, 0);
});

Deno.test("io-pgtable-arm v6.12 map_pages: pgsize, then range, then protection", () => {
  const cfg: io_pgtable_cfg = {
    quirks: 0,
    pgsize_bitmap: 0x4020_1000n,
    ias: 32,
    oas: 36,
    coherent_walk: true,
  };
  const ops = alloc_io_pgtable_ops(
    "ARM_64_LPAE_S1",
    cfg,
    null,
    new ArmLpaeTableAllocator(new PtSparseMemory()),
  )!;
  assert.equal(ops.start_level, 1);
  assert.equal(ops.map_pages(1n << 32n, 0n, 0x2000n, 1, 0).ret, -EINVAL, "pgsize first");
  assert.equal(ops.map_pages(1n << 32n, 0n, 0x1000n, 1, 0).ret, -ERANGE, "then the IOVA");
  assert.equal(ops.map_pages(0n, 1n << 36n, 0x1000n, 1, IOMMU_READ).ret, -ERANGE, "or the PA");
  assert.equal(ops.map_pages(0n, 0n, 0x1000n, 1, IOMMU_CACHE).ret, -EINVAL, "then no access");
  assert.equal(ops.map_pages(0n, 0n, 0x1000n, 1, IOMMU_WRITE).ret, 0);
  assert.equal(cfg.arm_lpae_s1_cfg!.tcr.tsz, 32);
  assert.equal(cfg.arm_lpae_s1_cfg!.tcr.ips, 1);
});

Deno.test("arm seeded random vectors: every translation event and both classes appear; JSON round-trips", () => {
  for (const seed of [1, 2]) {
    const file = JSON.parse(JSON.stringify(armRandomVectors(seed)));
    const r = armVectorCheck(file);
    assert.deepEqual(r.lines, []);
    assert.equal(r.passed, file.vectors.length);
    const seen = new Set(
      file.vectors.map((v: { expect: { ok: boolean; event?: number; class?: number } }) =>
        v.expect.ok ? "ok" : `${v.expect.event}`
      ),
    );
    for (
      const id of [EVT_ID_TRANSLATION_FAULT, EVT_ID_ADDR_SIZE_FAULT, EVT_ID_PERMISSION_FAULT]
    ) assert.ok(seen.has(`${id}`), `seed ${seed}: event ${id}`);
    assert.ok(seen.has("ok"));
    const tt = file.vectors.some((v: { expect: { ok: boolean; class?: number } }) =>
      !v.expect.ok && v.expect.class === SMMU_CLASS_TT
    );
    assert.ok(tt, `seed ${seed}: a stage-2 fault on a stage-1 table fetch`);
  }
  const all = [1, 2, 3, 4].flatMap((s) => armRandomVectors(s).vectors);
  assert.ok(all.some((v) => !v.expect.ok && v.expect.event === EVT_ID_ACCESS_FAULT));
  assert.notDeepEqual(armRandomVectors(1).tables, armRandomVectors(2).tables);
});
