/**
 * The VT-d remapping unit (spec/18-vtd-unit.md): context and PASID lookup faults with the records
 * the driver reads, FPD, the fault ring (PFO, FRI, Linux's dmar_fault() loop), the IOTLB (hits,
 * page sizes, DID/PASID tags), staleness until each granularity of invalidation, the context and
 * PASID caches, pass-through, register-based invalidation, and chapter 17's N1 vector through a
 * scalable-mode PASID entry with PGTT=3.
 */
import assert from "node:assert/strict";
import {
  cap_fault_reg_offset,
  DMA_CCMD_GLOBAL_INVL,
  DMA_CCMD_ICC,
  DMA_FRCD_F,
  dma_frcd_fault_reason,
  dma_frcd_source_id,
  dma_fsts_fault_record_index,
  DMA_FSTS_PFO,
  DMA_FSTS_PPF,
  DMA_GCMD_TE,
  DMA_TLB_DID,
  DMA_TLB_DSI_FLUSH,
  DMA_TLB_IVT,
  DMAR_CCMD_REG,
  DMAR_FSTS_REG,
  DMAR_GCMD_REG,
  DMAR_GSTS_REG,
  DMAR_RTADDR_REG,
  ecap_iotlb_offset,
  Machine,
  PCI_DEVFN,
  PCI_DEVID,
  vtdMakeCap,
  vtdMakeEcap,
  vtdMapSecondStage,
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
  vtdUnitFaultReasonName,
} from "../../lib/internal.ts";

const DEVFN = PCI_DEVFN(3, 0);
const SID = PCI_DEVID(0, DEVFN); // 0x18
const DATA = 0x4000_0000;

/** A legacy-mode unit: bus 0, devfn 3.0 in DID 1 over a 4-level second stage. */
function legacy(unitOpts: ConstructorParameters<typeof VtdUnit>[1] = {}) {
  const m = new Machine();
  const mem = m.physmem;
  const unit = new VtdUnit(m, unitOpts);
  const arena = new VtdTableArena(0x100000);
  const root = arena.alloc(), ctx = arena.alloc(), pgd = arena.alloc();
  vtdSetRootEntry(mem, root, 0, ctx);
  vtdSetContextEntry(mem, ctx, DEVFN, { did: 1, ssptptr: pgd, aw: 2 });
  const ss = new VtdSecondStage({ root: pgd });
  vtdMapSecondStage(mem, ss, 0x1000, DATA, 4096, { write: true }, arena.alloc);
  vtdMapSecondStage(mem, ss, 0x20_0000, 0x8000_0000, 2 ** 21, { write: true }, arena.alloc);
  vtdUnitEnable(unit, root, false);
  return { m, mem, unit, arena, root, ctx, pgd, ss };
}

function lastRecord(unit: VtdUnit) {
  const fri = dma_fsts_fault_record_index(unit.readl(DMAR_FSTS_REG));
  return unit.faults.decode(fri);
}

// ---------------------------------------------------------------------------------------------
// Legacy-mode lookup faults

Deno.test("legacy lookup: each fault with its record (SID, FR, page address, T bit)", () => {
  const cases: [string, (s: ReturnType<typeof legacy>) => number, number, string][] = [
    ["root entry not present (bus 1)", () => PCI_DEVID(1, 0), 0x01, "unit-check-root-present"],
    [
      "root entry reserved bit 1",
      (s) => {
        s.mem.write64(s.root + 16 * 2, BigInt(s.ctx) | 3n);
        return PCI_DEVID(2, DEVFN);
      },
      0x0a,
      "unit-check-root-rsvd",
    ],
    [
      "root entry high quadword non-zero",
      (s) => {
        s.mem.write64(s.root + 16 * 2, BigInt(s.ctx) | 1n);
        s.mem.write64(s.root + 16 * 2 + 8, 1n);
        return PCI_DEVID(2, DEVFN);
      },
      0x0a,
      "unit-check-root-rsvd",
    ],
    [
      "context table beyond memory",
      (s) => {
        vtdSetRootEntry(s.mem, s.root, 3, s.mem.size);
        return PCI_DEVID(3, 0);
      },
      0x09,
      "unit-check-ctx-fetch",
    ],
    ["context entry not present", () => PCI_DEVID(0, 0x20), 0x02, "unit-check-ctx-present"],
    [
      "context entry reserved (hi bit 7)",
      (s) => {
        vtdSetContextEntry(s.mem, s.ctx, 0x21, { did: 1, ssptptr: s.pgd });
        s.mem.write32(s.ctx + 16 * 0x21 + 8, 0x80 | 2 | (1 << 8));
        return PCI_DEVID(0, 0x21);
      },
      0x0b,
      "unit-check-ctx-rsvd",
    ],
    [
      "context entry reserved (lo bit 4)",
      (s) => {
        vtdSetContextEntry(s.mem, s.ctx, 0x22, { did: 1, ssptptr: s.pgd | 0x10 });
        return PCI_DEVID(0, 0x22);
      },
      0x0b,
      "unit-check-ctx-rsvd",
    ],
    [
      "AW not in SAGAW (AW=3)",
      (s) => {
        vtdSetContextEntry(s.mem, s.ctx, 0x23, { did: 1, ssptptr: s.pgd, aw: 3 });
        return PCI_DEVID(0, 0x23);
      },
      0x03,
      "unit-check-ctx-aw",
    ],
    [
      "TT=3",
      (s) => {
        vtdSetContextEntry(s.mem, s.ctx, 0x24, { did: 1, ssptptr: s.pgd, tt: 3 });
        return PCI_DEVID(0, 0x24);
      },
      0x03,
      "unit-check-ctx-tt",
    ],
  ];
  for (const [what, setup, fr, check] of cases) {
    const s = legacy();
    const sid = setup(s);
    const t = s.unit.translate(sid, 0x1234_5678, { write: true });
    assert.equal(t.fault, fr, what);
    assert.equal(t.check, check, what);
    assert.equal(t.disposition, "recorded", what);
    const r = lastRecord(s.unit);
    assert.deepEqual(
      { f: r.f, sid: r.sid, fr: r.fr, read: r.read, pp: r.pp, addr: r.addr },
      { f: true, sid, fr, read: false, pp: false, addr: 0x1234_5000 },
      what,
    );
  }
});

Deno.test("legacy lookup: root table beyond memory is 0x08; TT=2 without ECAP.PT is 0x03", () => {
  const s = legacy();
  s.unit.writeq(DMAR_RTADDR_REG, BigInt(s.mem.size));
  s.unit.writel(DMAR_GCMD_REG, 0x4000_0000 | DMA_GCMD_TE);
  const t = s.unit.translate(SID, 0x1000);
  assert.equal(t.fault, 0x08);
  assert.equal(t.faultName, "VTD_FR_ROOT_TABLE_INV");
  assert.equal(lastRecord(s.unit).read, true);

  const n = legacy({ ecap: (1n << 2n) | (0xfn << 8n) }); // DT only, no PT
  vtdSetContextEntry(n.mem, n.ctx, DEVFN, { did: 1, tt: 2 });
  assert.equal(n.unit.translate(SID, 0x1000).check, "unit-check-ctx-tt");
});

// ---------------------------------------------------------------------------------------------
// FPD and the fault ring

Deno.test("FPD suppresses qualified faults only", () => {
  const s = legacy();
  // Context entry FPD=1, P=0 (Linux's teardown state): 0x02 is qualified → suppressed.
  s.mem.write64(s.ctx + 16 * 0x30, 2n);
  const a = s.unit.translate(PCI_DEVID(0, 0x30), 0x1000);
  assert.deepEqual([a.fault, a.disposition], [0x02, "suppressed"]);
  // A walk fault under FPD=1: qualified → suppressed.
  vtdSetContextEntry(s.mem, s.ctx, 0x31, { did: 1, ssptptr: s.pgd, fpd: true });
  const b = s.unit.translate(PCI_DEVID(0, 0x31), 0x9000);
  assert.deepEqual([b.fault, b.disposition], [0x06, "suppressed"]);
  // Reserved bits in the context entry are not qualified: recorded despite FPD.
  vtdSetContextEntry(s.mem, s.ctx, 0x32, { did: 1, ssptptr: s.pgd | 0x10, fpd: true });
  const c = s.unit.translate(PCI_DEVID(0, 0x32), 0x1000);
  assert.deepEqual([c.fault, c.disposition], [0x0b, "recorded"]);
  assert.equal(s.unit.faults.suppressed, 2);
  assert.equal(s.unit.faults.recorded, 1);
});

Deno.test("fault ring: FRI, PPF, PFO on a full ring, and Linux's dmar_fault() loop", () => {
  const s = legacy({ cap: vtdMakeCap({ nfr: 2 }) });
  const u = s.unit;
  assert.equal(u.readl(DMAR_FSTS_REG), 0);
  u.translate(SID, 0x9000); // 0x06 → record 0
  u.translate(SID, 0xa000, { write: true }); // 0x05 → record 1
  let fsts = u.readl(DMAR_FSTS_REG);
  assert.equal(fsts & DMA_FSTS_PPF, DMA_FSTS_PPF);
  assert.equal(fsts & DMA_FSTS_PFO, 0);
  assert.equal(dma_fsts_fault_record_index(fsts), 0);
  const lost = u.translate(SID, 0xb000);
  assert.equal(lost.disposition, "overflow");
  fsts = u.readl(DMAR_FSTS_REG);
  assert.equal(fsts & DMA_FSTS_PFO, DMA_FSTS_PFO);
  assert.equal(u.translate(SID, 0xc000).disposition, "overflow"); // PFO still set

  // dmar_fault(): from FRI, while F is set: read, clear F (write it to word 3), wrap at NFR.
  const reg = cap_fault_reg_offset(u.caps.cap);
  const seen: [number, number, number][] = [];
  let i = dma_fsts_fault_record_index(fsts);
  for (;;) {
    const d3 = u.readl(reg + 16 * i + 12);
    if (!(d3 & DMA_FRCD_F)) break;
    const d2 = u.readl(reg + 16 * i + 8);
    seen.push([dma_frcd_fault_reason(d3), dma_frcd_source_id(d2), u.readl(reg + 16 * i)]);
    u.writel(reg + 16 * i + 12, DMA_FRCD_F);
    if (++i >= u.caps.nfr) i = 0;
  }
  u.writel(DMAR_FSTS_REG, DMA_FSTS_PFO | DMA_FSTS_PPF);
  assert.deepEqual(seen, [[0x06, SID, 0x9000], [0x05, SID, 0xa000]]);
  assert.equal(u.readl(DMAR_FSTS_REG), 0);
  // The next fault goes to record 0 again, and FRI says so.
  u.translate(SID, 0xd000);
  assert.equal(dma_fsts_fault_record_index(u.readl(DMAR_FSTS_REG)), 0);
  u.translate(SID, 0xe000);
  assert.equal(dma_fsts_fault_record_index(u.readl(DMAR_FSTS_REG)), 0);
  assert.equal(u.faults.decode(1).addr, 0xe000);
});

// ---------------------------------------------------------------------------------------------
// The IOTLB

Deno.test("IOTLB: a miss reads root, context and four PTEs; a hit reads nothing", () => {
  const s = legacy();
  const out = new VtdTranslation({ trace: true });
  s.unit.translate(SID, 0x1234, { write: false }, out);
  assert.equal(out.pa, DATA + 0x234);
  assert.equal(out.iotlbHit, false);
  assert.equal(out.reads, 6);
  assert.equal(out.trace![0], s.root);
  assert.equal(out.trace![1], s.ctx + 16 * DEVFN);
  s.unit.translate(SID, 0x1ffc, { write: true }, out);
  assert.equal(out.pa, DATA + 0xffc);
  assert.equal(out.iotlbHit, true);
  assert.equal(out.configHit, true);
  assert.equal(out.reads, 0);
  assert.deepEqual(out.trace, []);
});

Deno.test("IOTLB: a 2 MiB entry serves any address inside it; PSI of one 4 KiB page inside removes it", () => {
  const s = legacy();
  const t = s.unit.translate(SID, 0x20_1234);
  assert.equal(t.pa, 0x8000_1234);
  assert.equal(t.pageSize, 2 ** 21);
  for (const iova of [0x20_0000, 0x2f_f008, 0x3f_ffff]) {
    const h = s.unit.translate(SID, iova);
    assert.equal(h.iotlbHit, true);
    assert.equal(h.pa, 0x8000_0000 + iova - 0x20_0000);
  }
  assert.equal(s.unit.translate(SID, 0x40_0000).iotlbHit, false); // outside: a walk (and a fault)
  assert.equal(s.unit.invalidateIotlb({ granularity: "page", did: 1, addr: 0x30_0000 }), 1);
  assert.equal(s.unit.translate(SID, 0x20_1234).iotlbHit, false);
});

Deno.test("IOTLB: stale until invalidated — page, domain and global granularity each remove their share", () => {
  const s = legacy();
  const pte = () => {
    const t = new VtdTranslation({ trace: true });
    s.unit.translate(SID, 0x1000, {}, t);
    return t.trace!.at(-1)!;
  };
  const leaf = pte();
  s.unit.translate(SID, 0x20_0000); // a 2 MiB entry in DID 1, too
  // The driver remaps 0x1000 without telling the unit: the old translation is still used.
  s.mem.write64(leaf, BigInt(DATA + 0x10_0000) | 3n);
  assert.equal(s.unit.translate(SID, 0x1000).pa, DATA);
  // Page-selective in another domain, or at another address: nothing.
  assert.equal(s.unit.invalidateIotlb({ granularity: "page", did: 2, addr: 0x1000 }), 0);
  assert.equal(s.unit.invalidateIotlb({ granularity: "page", did: 1, addr: 0x2000 }), 0);
  assert.equal(s.unit.translate(SID, 0x1000).pa, DATA);
  // AM=1 covers 0x0000–0x1fff: exactly the one 4 KiB entry; the 2 MiB entry stays.
  assert.equal(s.unit.invalidateIotlb({ granularity: "page", did: 1, addr: 0x1000, am: 1 }), 1);
  assert.equal(s.unit.translate(SID, 0x20_0000).iotlbHit, true);
  const t = s.unit.translate(SID, 0x1000);
  assert.deepEqual([t.iotlbHit, t.pa], [false, DATA + 0x10_0000]);
  // Domain-selective: everything of DID 1, not DID 2.
  vtdSetContextEntry(s.mem, s.ctx, 0x40, { did: 2, ssptptr: s.pgd, aw: 2 });
  s.unit.translate(PCI_DEVID(0, 0x40), 0x1000);
  assert.equal(s.unit.iotlb.size, 3);
  assert.equal(s.unit.invalidateIotlb({ granularity: "domain", did: 1 }), 2);
  assert.equal(s.unit.translate(PCI_DEVID(0, 0x40), 0x1000).iotlbHit, true);
  // Global: everything.
  assert.equal(s.unit.invalidateIotlb({ granularity: "global" }), 1);
  assert.equal(s.unit.iotlb.size, 0);
  assert.throws(() => s.unit.invalidateIotlb({ granularity: "page", did: 1, addr: 0, am: 19 }));
});

Deno.test("IOTLB: two domains over the same tables do not share entries", () => {
  const s = legacy();
  vtdSetContextEntry(s.mem, s.ctx, 0x40, { did: 2, ssptptr: s.pgd, aw: 2 });
  const other = PCI_DEVID(0, 0x40);
  assert.equal(s.unit.translate(SID, 0x1000).iotlbHit, false);
  assert.equal(s.unit.translate(other, 0x1000).iotlbHit, false);
  assert.equal(s.unit.translate(other, 0x1000).iotlbHit, true);
  // A second device in DID 1 does share DID 1's entries.
  vtdSetContextEntry(s.mem, s.ctx, 0x41, { did: 1, ssptptr: s.pgd, aw: 2 });
  const t = s.unit.translate(PCI_DEVID(0, 0x41), 0x1000);
  assert.deepEqual([t.iotlbHit, t.reads], [true, 2]);
});

Deno.test("IOTLB: a cached read-only translation does not block a write the tables now allow", () => {
  const s = legacy();
  const t = new VtdTranslation({ trace: true });
  s.unit.translate(SID, 0x1000, {}, t);
  const leaf = t.trace!.at(-1)!;
  s.mem.write64(leaf, BigInt(DATA) | 1n); // read-only
  s.unit.invalidateIotlb({ granularity: "global" });
  assert.equal(s.unit.translate(SID, 0x1000).allowWrite, false);
  assert.equal(s.unit.translate(SID, 0x1000, { write: true }).fault, 0x05);
  s.mem.write64(leaf, BigInt(DATA) | 3n); // writable again, no invalidation
  const w = s.unit.translate(SID, 0x1000, { write: true });
  assert.deepEqual([w.ok, w.iotlbHit], [true, false]);
});

Deno.test("context cache: a changed context entry is used only after invalidation (device-selective, FM)", () => {
  const s = legacy();
  s.unit.translate(SID, 0x1000);
  vtdSetContextEntry(s.mem, s.ctx, DEVFN, { did: 7, ssptptr: s.pgd, aw: 2 });
  assert.equal(s.unit.translate(SID, 0x1000).did, 1);
  // FM=3 masks the whole function: devfn 3.5 names the same device.
  const n = s.unit.invalidateContextCache({
    granularity: "device",
    sid: PCI_DEVID(0, PCI_DEVFN(3, 5)),
    fm: 3,
  });
  assert.equal(n, 1);
  assert.equal(s.unit.translate(SID, 0x1000).did, 7);
  assert.equal(s.unit.invalidateContextCache({ granularity: "domain", did: 1 }), 0);
  assert.equal(s.unit.invalidateContextCache({ granularity: "domain", did: 7 }), 1);
});

Deno.test("legacy pass-through (TT=2): PA = IOVA, root and context reads only, nothing in the IOTLB", () => {
  const s = legacy();
  vtdSetContextEntry(s.mem, s.ctx, DEVFN, { did: 1, tt: 2 });
  const t = s.unit.translate(SID, 0x1_2345_6789, { write: true });
  assert.deepEqual([t.kind, t.pa, t.reads], ["pt", 0x1_2345_6789, 2]);
  assert.equal(s.unit.iotlb.size, 0);
});

Deno.test("registers: GSTS follows TE/SRTP; translation off passes through; CCMD and IOTLB registers invalidate", () => {
  const s = legacy();
  const u = s.unit;
  assert.equal(u.readl(DMAR_GSTS_REG) >>> 0, 0xc000_0000);
  u.writel(DMAR_GCMD_REG, 0);
  assert.equal(u.readl(DMAR_GSTS_REG), 0x4000_0000);
  assert.deepEqual([u.translate(SID, 0x1000).kind, u.translate(SID, 0x1000).pa], ["off", 0x1000]);
  u.writel(DMAR_GCMD_REG, DMA_GCMD_TE);
  u.translate(SID, 0x1000);
  assert.equal(u.iotlb.size, 1);
  const iro = ecap_iotlb_offset(u.caps.ecap);
  u.writeq(iro + 8, DMA_TLB_IVT | DMA_TLB_DSI_FLUSH | DMA_TLB_DID(1));
  assert.equal(u.iotlb.size, 0);
  assert.equal(u.readq(iro + 8) & DMA_TLB_IVT, 0n); // the go bit clears
  assert.equal((u.readq(iro + 8) >> 57n) & 3n, 2n); // IAIG: domain-selective done
  assert.equal(u.cachedConfigs.contexts, 1);
  u.writeq(DMAR_CCMD_REG, DMA_CCMD_ICC | DMA_CCMD_GLOBAL_INVL);
  assert.equal(u.cachedConfigs.contexts, 0);
  assert.equal(u.readq(DMAR_CCMD_REG) & DMA_CCMD_ICC, 0n);
});

// ---------------------------------------------------------------------------------------------
// Scalable mode

const PASID_DIR = 0x300000, PASID_TABLE = 0x301000, SM_ROOT = 0x302000, SM_CTX = 0x303000;

/**
 * A scalable-mode unit: devfn 3.0 with PASIDE, RID_PASID 0; PASID 0 → PGTT=2 DID 1, PASID 5 → PGTT=2
 * DID 1 as well, over one second stage (the N1 host tables: GPA page p → 0x8000_0000 + p·4096).
 */
function scalable(unitOpts: ConstructorParameters<typeof VtdUnit>[1] = {}) {
  const m = new Machine();
  const mem = m.physmem;
  const unit = new VtdUnit(m, unitOpts);
  mem.write64(0x100000, 0x101003n);
  mem.write64(0x101000, 0x102003n);
  mem.write64(0x102000, 0x103003n);
  for (let p = 1; p <= 5; p++) mem.write64(0x103000 + 8 * p, BigInt(0x8000_0000 + p * 0x1000) | 3n);
  vtdSetRootEntry(mem, SM_ROOT, 0, SM_CTX, "lo");
  vtdSetScalableContextEntry(mem, SM_CTX, DEVFN, { pasidDir: PASID_DIR, paside: true, pdts: 0 });
  vtdSetPasidDirEntry(mem, PASID_DIR, 0, PASID_TABLE);
  for (const pasid of [0, 5]) {
    vtdSetPasidEntry(mem, PASID_TABLE, pasid, { pgtt: 2, did: 1, ssptptr: 0x100000, aw: 2 });
  }
  vtdUnitEnable(unit, SM_ROOT, true);
  return { m, mem, unit };
}

Deno.test("scalable lookup: each fault with its record (PP and PASID)", () => {
  type S = ReturnType<typeof scalable>;
  const cases: [string, (s: S) => [number, number], number, string][] = [
    [
      "root half P=0 (upper table, devfn 0x80)",
      () => [PCI_DEVID(0, 0x80), -1],
      0x39,
      "unit-check-root-present",
    ],
    [
      "root reserved bit",
      (s) => {
        s.mem.write64(SM_ROOT + 16, BigInt(SM_CTX) | 5n);
        return [PCI_DEVID(1, DEVFN), 3];
      },
      0x3a,
      "unit-check-root-rsvd",
    ],
    [
      "context table beyond memory",
      (s) => {
        vtdSetRootEntry(s.mem, SM_ROOT, 2, s.mem.size);
        return [PCI_DEVID(2, 0), 3];
      },
      0x40,
      "unit-check-ctx-fetch",
    ],
    ["context P=0", () => [PCI_DEVID(0, 0x10), 3], 0x41, "unit-check-ctx-present"],
    [
      "context reserved (val1 bit 21)",
      (s) => {
        vtdSetScalableContextEntry(s.mem, SM_CTX, 0x11, { pasidDir: PASID_DIR, paside: true });
        s.mem.write64(SM_CTX + 32 * 0x11 + 8, 1n << 21n);
        return [PCI_DEVID(0, 0x11), 3];
      },
      0x42,
      "unit-check-ctx-rsvd",
    ],
    [
      "PASIDE=0",
      (s) => {
        vtdSetScalableContextEntry(s.mem, SM_CTX, 0x12, { pasidDir: PASID_DIR, paside: false });
        return [PCI_DEVID(0, 0x12), 3];
      },
      0x45,
      "unit-check-paside",
    ],
    ["PASID beyond PDTS", () => [SID, 128 << 6], 0x46, "unit-check-pasid-max"],
    [
      "RID_PASID beyond PDTS",
      (s) => {
        vtdSetScalableContextEntry(s.mem, SM_CTX, 0x13, {
          pasidDir: PASID_DIR,
          pdts: 0,
          ridPasid: 1 << 13,
        });
        return [PCI_DEVID(0, 0x13), -1];
      },
      0x48,
      "unit-check-pasid-max",
    ],
    ["PASID dir entry P=0", () => [SID, 64], 0x51, "unit-check-pde-present"],
    [
      "PASID dir entry reserved bit 2",
      (s) => {
        s.mem.write64(PASID_DIR + 8 * 2, BigInt(PASID_TABLE) | 5n);
        return [SID, 2 * 64];
      },
      0x52,
      "unit-check-pde-rsvd",
    ],
    [
      "PASID dir points beyond memory",
      (s) => {
        vtdSetScalableContextEntry(s.mem, SM_CTX, 0x14, { pasidDir: s.mem.size, paside: true });
        return [PCI_DEVID(0, 0x14), 3];
      },
      0x50,
      "unit-check-pde-fetch",
    ],
    [
      "PASID table beyond memory",
      (s) => {
        vtdSetPasidDirEntry(s.mem, PASID_DIR, 3 * 64, s.mem.size);
        return [SID, 3 * 64];
      },
      0x58,
      "unit-check-pte-fetch",
    ],
    ["PASID entry P=0", () => [SID, 7], 0x59, "unit-check-pte-present"],
    [
      "PASID entry SSPTPTR above HAW",
      (s) => {
        vtdSetPasidEntry(s.mem, PASID_TABLE, 8, { pgtt: 2, did: 1, ssptptr: 2 ** 48 });
        return [SID, 8];
      },
      0x5a,
      "unit-check-pte-rsvd",
    ],
    [
      "PGTT=0",
      (s) => {
        vtdSetPasidEntry(s.mem, PASID_TABLE, 9, { pgtt: 0, did: 1 });
        return [SID, 9];
      },
      0x5b,
      "unit-check-pte-inv",
    ],
    [
      "PGTT=2 with AW not in SAGAW",
      (s) => {
        vtdSetPasidEntry(s.mem, PASID_TABLE, 10, { pgtt: 2, did: 1, ssptptr: 0x100000, aw: 3 });
        return [SID, 10];
      },
      0x5b,
      "unit-check-pte-inv",
    ],
    [
      "FLPM=1 without FL5LP",
      (s) => {
        vtdSetPasidEntry(s.mem, PASID_TABLE, 11, { pgtt: 1, did: 1, fsptptr: 0x1000, flpm: 1 });
        return [SID, 11];
      },
      0x5b,
      "unit-check-pte-inv",
    ],
  ];
  for (const [what, setup, fr, check] of cases) {
    // ECAP.RPS: requests without PASID use the context entry's RID_PASID (case 0x48).
    const s = scalable({ ecap: vtdMakeEcap({ rps: true }) });
    const [sid, pasid] = setup(s);
    const t = s.unit.translate(sid, 0x5000, { pasid });
    assert.equal(t.fault, fr, `${what}: ${t.describe()}`);
    assert.equal(t.check, check, what);
    const r = lastRecord(s.unit);
    assert.deepEqual(
      { sid: r.sid, fr: r.fr, read: r.read, pp: r.pp, pasid: r.pasid, addr: r.addr },
      { sid, fr, read: true, pp: pasid >= 0, pasid: pasid >= 0 ? pasid : 0, addr: 0x5000 },
      what,
    );
    assert.equal(vtdUnitFaultReasonName(fr).startsWith("VTD_FR_"), true);
  }
});

Deno.test("scalable: TTM faults 0x30/0x31, SRE 0x5D, and FPD in a PASID entry", () => {
  const s = scalable();
  s.unit.writeq(DMAR_RTADDR_REG, BigInt(SM_ROOT) | (2n << 10n));
  s.unit.writel(DMAR_GCMD_REG, 0x4000_0000 | DMA_GCMD_TE);
  assert.equal(s.unit.translate(SID, 0x5000).fault, 0x30);
  s.unit.writeq(DMAR_RTADDR_REG, BigInt(s.mem.size) | (1n << 10n));
  s.unit.writel(DMAR_GCMD_REG, 0x4000_0000 | DMA_GCMD_TE);
  assert.equal(s.unit.translate(SID, 0x5000).fault, 0x38);
  const l = legacy();
  const t = l.unit.translate(SID, 0x1000, { pasid: 1 });
  assert.deepEqual([t.fault, t.disposition], [0x31, "recorded"]);
  assert.deepEqual([lastRecord(l.unit).pp, lastRecord(l.unit).pasid], [true, 1]);

  const u = scalable();
  const sup = u.unit.translate(SID, 0x5000, { pasid: 5, supervisor: true });
  assert.equal(sup.fault, 0x5d);
  vtdSetPasidEntry(u.mem, PASID_TABLE, 6, { pgtt: 2, did: 1, ssptptr: 0x100000, sre: true });
  assert.equal(u.unit.translate(SID, 0x5000, { pasid: 6, supervisor: true }).ok, true);
  // Linux's teardown state, FPD=1 and P=0: the fault is qualified and suppressed.
  vtdSetPasidEntry(u.mem, PASID_TABLE, 12, { pgtt: 2, did: 1, present: false, fpd: true });
  assert.equal(u.unit.translate(SID, 0x5000, { pasid: 12 }).disposition, "suppressed");
  // A PASID directory entry with FPD=1 covers the walk faults under it (PASIDs 64–127 get a
  // PASID table of their own, on a page no other structure uses).
  const PASID_TABLE_64 = 0x304000;
  vtdSetPasidDirEntry(u.mem, PASID_DIR, 64, PASID_TABLE_64, { fpd: true });
  vtdSetPasidEntry(u.mem, PASID_TABLE_64, 64, { pgtt: 2, did: 3, ssptptr: 0x100000 });
  const w = u.unit.translate(SID, 0x9000, { pasid: 64 });
  assert.deepEqual([w.fault, w.disposition], [0x79, "suppressed"]);
});

Deno.test("scalable: PASID tags, PASID-based vs IOTLB invalidation, PASID-cache staleness", () => {
  const s = scalable();
  const u = s.unit;
  assert.equal(u.translate(SID, 0x1234).pa, 0x8000_1234); // RID_PASID 0
  assert.equal(u.translate(SID, 0x1234, { pasid: 5 }).iotlbHit, false); // same DID, other PASID
  assert.equal(u.translate(SID, 0x1234, { pasid: 5 }).iotlbHit, true);
  // Page-selective PASID-based invalidation leaves second-stage-only entries alone; the
  // PASID-selective one removes them (VT-d 4.1 §6.5.2.4, Table 21); IOTLB DSI removes every PASID's.
  assert.equal(
    u.invalidatePasidIotlb({ granularity: "page", did: 1, pasid: 5, addr: 0x1000 }),
    0,
  );
  assert.equal(u.invalidatePasidIotlb({ granularity: "pasid", did: 1, pasid: 5 }), 1);
  assert.equal(u.translate(SID, 0x1234, { pasid: 5 }).iotlbHit, false);
  assert.equal(u.invalidateIotlb({ granularity: "domain", did: 1 }), 2);
  // The PASID entry of PASID 5 moves to DID 4: the cached one is used until a PASID-cache flush.
  vtdSetPasidEntry(s.mem, PASID_TABLE, 5, { pgtt: 4, did: 4 });
  assert.equal(u.translate(SID, 0x1234, { pasid: 5 }).did, 1);
  assert.equal(u.invalidatePasidCache({ granularity: "pasid", did: 1, pasid: 7 }), 0);
  assert.equal(u.invalidatePasidCache({ granularity: "pasid", did: 1, pasid: 5 }), 1);
  const pt = u.translate(SID, 0x1234, { pasid: 5 });
  assert.deepEqual([pt.did, pt.kind, pt.pa], [4, "pt", 0x1234]); // PGTT=4: pass-through
  assert.equal(u.invalidatePasidCache({ granularity: "domain", did: 1 }), 1); // RID_PASID's
  assert.equal(u.invalidatePasidCache({ granularity: "global" }), 1);
});

Deno.test("nested N1 through a PASID entry with PGTT=3: HPA 0x8000_5567 in 4 + 24 reads, then an IOTLB hit", () => {
  const s = scalable();
  const mem = s.mem;
  // The guest's first stage (chapter 17, N1): root GPA 0x1000, entries at the HPAs of their GPAs.
  mem.write64(0x8000_1008, 0x2027n);
  mem.write64(0x8000_2010, 0x3027n);
  mem.write64(0x8000_3018, 0x4027n);
  mem.write64(0x8000_4020, 0x5067n);
  vtdSetPasidEntry(mem, PASID_TABLE, 9, {
    pgtt: 3,
    did: 2,
    ssptptr: 0x100000,
    aw: 2,
    fsptptr: 0x1000,
    nxe: true,
  });
  const dev = s.unit.addDevice({ bus: 0, devfn: DEVFN });
  assert.equal(dev.name, "0000:00:03.0");
  const out = new VtdTranslation({ trace: true });
  dev.dma(0x80_8060_4567, { pasid: 9 }, out);
  assert.equal(out.ok, true, out.describe());
  assert.equal(out.pa, 0x8000_5567);
  assert.equal(out.kind, "nested");
  assert.equal(out.reads, 28);
  const n1 = [
    0x100000,
    0x101000,
    0x102000,
    0x103008,
    0x80001008,
    0x100000,
    0x101000,
    0x102000,
    0x103010,
    0x80002010,
    0x100000,
    0x101000,
    0x102000,
    0x103018,
    0x80003018,
    0x100000,
    0x101000,
    0x102000,
    0x103020,
    0x80004020,
    0x100000,
    0x101000,
    0x102000,
    0x103028,
  ];
  assert.deepEqual(out.trace, [
    SM_ROOT,
    SM_CTX + 32 * DEVFN,
    PASID_DIR,
    PASID_TABLE + 64 * 9,
    ...n1,
  ]);
  dev.dma(0x80_8060_4ffe, { pasid: 9 }, out);
  assert.deepEqual([out.iotlbHit, out.reads, out.pa], [true, 0, 0x8000_5ffe]);
  // A read-filled nested entry does not serve a write: the walk must set the leaf's D flag.
  dev.dma(0x80_8060_4567, { pasid: 9, write: true }, out);
  assert.deepEqual([out.ok, out.iotlbHit, out.reads], [true, false, 24]);
  assert.equal(Number(mem.read64(0x8000_4020) & 0x40n), 0x40);
  // PASID-based invalidation of the guest's page removes the nested entry.
  assert.equal(
    s.unit.invalidatePasidIotlb({ granularity: "page", did: 2, pasid: 9, addr: 0x80_8060_4000 }),
    1,
  );
  assert.equal(dev.dma(0x80_8060_4567, { pasid: 9 }).iotlbHit, false);
});
