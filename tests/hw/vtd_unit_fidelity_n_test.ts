/**
 * Issue 14, finding N (2)–(5): the VT-d unit (spec/18-vtd-unit.md) against the VT-d specification
 * (rev 4.x) and QEMU hw/i386/intel_iommu.c (a v10.0-era snapshot, see the chapter's sources).
 *
 * - (2) PASID-entry checks: the specification's order by default (present, 0x59, before the
 *   entry's validity, 0x5B), QEMU's (vtd_get_pe_in_pasid_leaf_table(): PGTT and level first) with
 *   `lookupOrder: "qemu"`.
 * - (3) PASID-selective PASID-based IOTLB invalidation removes every entry of its DID and PASID
 *   whatever the PGTT (VT-d 4.1 §6.5.2.4, Table 21, as QEMU vtd_hash_remove_by_pasid() reads it);
 *   the page-selective form still removes only first-stage and nested entries.
 * - (4) Requests without PASID: the PASID entry at RID_PASID (ECAP.RPS=1) or at PASID 0 (RPS=0,
 *   VT-d 4.x §3.4.3) translates them, with that entry's faults; QEMU's vtd_ce_rid2pasid_check()
 *   (checking that entry whenever a scalable context entry is loaded, for requests with PASID
 *   too) is the `lookupOrder: "qemu"` behaviour.
 * - (5) Device-selective context-cache invalidation: FM masks the most-significant function bits
 *   (VT-d §6.5.1.1 / §10.4.7 CCMD.FM; QEMU vtd_context_device_invalidate()).
 */
import assert from "node:assert/strict";
import {
  dma_fsts_fault_record_index,
  DMAR_FSTS_REG,
  ecap_rps,
  Machine,
  PCI_DEVFN,
  PCI_DEVID,
  vtdMakeEcap,
  vtdMapSecondStage,
  VtdSecondStage,
  vtdSetContextEntry,
  vtdSetPasidDirEntry,
  vtdSetPasidEntry,
  vtdSetRootEntry,
  vtdSetScalableContextEntry,
  VtdTableArena,
  VtdUnit,
  vtdUnitEnable,
} from "../../lib/internal.ts";

const DEVFN = PCI_DEVFN(3, 0);
const SID = PCI_DEVID(0, DEVFN);
const PASID_DIR = 0x300000, PASID_TABLE = 0x301000, SM_ROOT = 0x302000, SM_CTX = 0x303000;

/**
 * A scalable-mode unit: devfn 3.0 with PASIDE over one PASID directory; PASID 0 → PGTT=2 DID 1,
 * PASID 5 → PGTT=2 DID 2, both over one second stage (GPA page p → 0x8000_0000 + p·4096).
 */
function scalable(opts: ConstructorParameters<typeof VtdUnit>[1] = {}, ridPasid = 0) {
  const m = new Machine();
  const mem = m.physmem;
  const unit = new VtdUnit(m, opts);
  mem.write64(0x100000, 0x101003n);
  mem.write64(0x101000, 0x102003n);
  mem.write64(0x102000, 0x103003n);
  for (let p = 1; p <= 5; p++) mem.write64(0x103000 + 8 * p, BigInt(0x8000_0000 + p * 0x1000) | 3n);
  vtdSetRootEntry(mem, SM_ROOT, 0, SM_CTX, "lo");
  vtdSetScalableContextEntry(mem, SM_CTX, DEVFN, {
    pasidDir: PASID_DIR,
    paside: true,
    pdts: 0,
    ridPasid,
  });
  vtdSetPasidDirEntry(mem, PASID_DIR, 0, PASID_TABLE);
  vtdSetPasidEntry(mem, PASID_TABLE, 0, { pgtt: 2, did: 1, ssptptr: 0x100000, aw: 2 });
  vtdSetPasidEntry(mem, PASID_TABLE, 5, { pgtt: 2, did: 2, ssptptr: 0x100000, aw: 2 });
  vtdUnitEnable(unit, SM_ROOT, true);
  return { m, mem, unit };
}

function lastRecord(unit: VtdUnit) {
  return unit.faults.decode(dma_fsts_fault_record_index(unit.readl(DMAR_FSTS_REG)));
}

// ---------------------------------------------------------------------------------------------
// (2) The order of the PASID-entry checks

Deno.test("N2: PASID entry checks — spec order (default): P=0 (0x59) before PGTT/AW (0x5B)", () => {
  const s = scalable();
  assert.equal(s.unit.lookupOrder, "spec");
  // A zeroed entry: P=0 and PGTT=0. VT-d spec: a non-present entry faults as not present.
  const zero = s.unit.translate(SID, 0x1000, { pasid: 7 });
  assert.deepEqual([zero.fault, zero.check], [0x59, "unit-check-pte-present"]);
  // Not present, with an AW the unit does not support: still "not present" first.
  vtdSetPasidEntry(s.mem, PASID_TABLE, 8, {
    present: false,
    pgtt: 2,
    did: 1,
    ssptptr: 0x100000,
    aw: 3,
  });
  const aw = s.unit.translate(SID, 0x1000, { pasid: 8 });
  assert.deepEqual([aw.fault, aw.check], [0x59, "unit-check-pte-present"]);
});

Deno.test("N2: PASID entry checks — lookupOrder 'qemu' (QEMU vtd_get_pe_in_pasid_leaf_table()): PGTT and level (0x5B) before present (0x59)", () => {
  const s = scalable({ lookupOrder: "qemu" });
  assert.equal(s.unit.lookupOrder, "qemu");
  const zero = s.unit.translate(SID, 0x1000, { pasid: 7 });
  assert.deepEqual([zero.fault, zero.check], [0x5b, "unit-check-pte-inv"]);
  vtdSetPasidEntry(s.mem, PASID_TABLE, 8, {
    present: false,
    pgtt: 2,
    did: 1,
    ssptptr: 0x100000,
    aw: 3,
  });
  const aw = s.unit.translate(SID, 0x1000, { pasid: 8 });
  assert.deepEqual([aw.fault, aw.check], [0x5b, "unit-check-pte-inv"]);
  // The orders agree where only one condition holds: valid but not present, present but invalid.
  for (const order of ["spec", "qemu"] as const) {
    const u = scalable({ lookupOrder: order });
    vtdSetPasidEntry(u.mem, PASID_TABLE, 9, {
      present: false,
      pgtt: 2,
      did: 1,
      ssptptr: 0x100000,
    });
    vtdSetPasidEntry(u.mem, PASID_TABLE, 10, { pgtt: 0, did: 1 });
    assert.equal(u.unit.translate(SID, 0x1000, { pasid: 9 }).fault, 0x59, order);
    assert.equal(u.unit.translate(SID, 0x1000, { pasid: 10 }).fault, 0x5b, order);
    assert.equal(u.unit.translate(SID, 0x1000, { pasid: 5 }).ok, true, order);
  }
});

// ---------------------------------------------------------------------------------------------
// (3) PASID-selective PASID-based IOTLB invalidation

Deno.test("N3: PASID-selective P_IOTLB removes second-stage-only entries of its DID and PASID (VT-d 4.1 §6.5.2.4 Table 21; QEMU vtd_hash_remove_by_pasid())", () => {
  const s = scalable();
  const u = s.unit;
  assert.equal(u.translate(SID, 0x1234, { pasid: 5 }).iotlbHit, false); // PGTT=2, DID 2
  assert.equal(u.translate(SID, 0x1234).iotlbHit, false); // PASID 0 (no PASID), DID 1
  assert.equal(u.translate(SID, 0x1234, { pasid: 5 }).iotlbHit, true);
  // Another DID or another PASID: nothing.
  assert.equal(u.invalidatePasidIotlb({ granularity: "pasid", did: 1, pasid: 5 }), 0);
  assert.equal(u.invalidatePasidIotlb({ granularity: "pasid", did: 2, pasid: 6 }), 0);
  // Page-selective-within-PASID leaves second-stage-only entries alone (Table 21).
  assert.equal(
    u.invalidatePasidIotlb({ granularity: "page", did: 2, pasid: 5, addr: 0x1000 }),
    0,
  );
  assert.equal(u.translate(SID, 0x1234, { pasid: 5 }).iotlbHit, true);
  // PASID-selective: the PGTT=2 entry of DID 2 / PASID 5 goes, PASID 0's stays.
  assert.equal(u.invalidatePasidIotlb({ granularity: "pasid", did: 2, pasid: 5 }), 1);
  assert.equal(u.translate(SID, 0x1234, { pasid: 5 }).iotlbHit, false);
  assert.equal(u.translate(SID, 0x1234).iotlbHit, true);
  // The same for requests without PASID: they are tagged with PASID 0.
  assert.equal(u.invalidatePasidIotlb({ granularity: "pasid", did: 1, pasid: 0 }), 1);
  assert.equal(u.translate(SID, 0x1234).iotlbHit, false);
});

// ---------------------------------------------------------------------------------------------
// (4) Requests without PASID: RID_PASID, RPS, and QEMU's vtd_ce_rid2pasid_check()

Deno.test("N4: ECAP.RPS (bit 49, linux iommu.h ecap_rps()) — without it the RID_PASID field is ignored and PASID 0 translates (VT-d 4.x §3.4.3)", () => {
  assert.equal(ecap_rps(vtdMakeEcap()), 0);
  assert.equal(ecap_rps(vtdMakeEcap({ rps: true })), 1);
  assert.equal(vtdMakeEcap({ rps: true }) - vtdMakeEcap(), 1n << 49n);
  // RID_PASID 5 in the context entry; PASID 0 → DID 1, PASID 5 → DID 2.
  const norps = scalable({}, 5);
  const t = norps.unit.translate(SID, 0x1234);
  assert.deepEqual([t.ok, t.did, t.pa], [true, 1, 0x8000_1234]);
  const rps = scalable({ ecap: vtdMakeEcap({ rps: true }) }, 5);
  const r = rps.unit.translate(SID, 0x1234);
  assert.deepEqual([r.ok, r.did, r.pa], [true, 2, 0x8000_1234]);
  // With RPS, a RID_PASID beyond the directory's size is 0x48; without, it cannot be.
  const big = scalable({ ecap: vtdMakeEcap({ rps: true }) }, 1 << 13);
  assert.deepEqual(
    [big.unit.translate(SID, 0x1234).fault, big.unit.translate(SID, 0x1234).check],
    [0x48, "unit-check-pasid-max"],
  );
  assert.equal(scalable({}, 1 << 13).unit.translate(SID, 0x1234).ok, true);
});

Deno.test("N4: a request without PASID faults on the PASID entry that translates it (0x59, PP=0); one with PASID does not look at it — unless lookupOrder is 'qemu' (QEMU vtd_ce_rid2pasid_check())", () => {
  for (const order of ["spec", "qemu"] as const) {
    const s = scalable({ lookupOrder: order });
    vtdSetPasidEntry(s.mem, PASID_TABLE, 0, {
      present: false,
      pgtt: 2,
      did: 1,
      ssptptr: 0x100000,
    });
    const t = s.unit.translate(SID, 0x5000);
    assert.deepEqual([t.fault, t.check, t.disposition], [
      0x59,
      "unit-check-pte-present",
      "recorded",
    ], order);
    const rec = lastRecord(s.unit);
    assert.deepEqual([rec.fr, rec.pp, rec.pasid, rec.sid], [0x59, false, 0, SID], order);
    const p = s.unit.translate(SID, 0x5000, { pasid: 5 });
    if (order === "spec") {
      // VT-d: a request with PASID is translated by its own PASID entry only.
      assert.deepEqual([p.ok, p.did], [true, 2], order);
    } else {
      // QEMU checks the RID_PASID entry whenever it loads a scalable context entry.
      assert.deepEqual([p.fault, p.check], [0x59, "unit-check-pte-present"], order);
      assert.equal(s.unit.cachedConfigs.contexts, 0, "nothing cached from a failed load");
    }
  }
  // The directory entry of RID_PASID's PASID missing: 0x51 for both kinds of request in QEMU order.
  const q = scalable({ lookupOrder: "qemu" });
  q.mem.write64(PASID_DIR, 0n);
  vtdSetPasidDirEntry(q.mem, PASID_DIR, 64, 0x310000);
  vtdSetPasidEntry(q.mem, 0x310000, 64, { pgtt: 2, did: 3, ssptptr: 0x100000 });
  assert.equal(q.unit.translate(SID, 0x5000).fault, 0x51);
  assert.equal(q.unit.translate(SID, 0x5000, { pasid: 64 }).fault, 0x51);
  const sp = scalable();
  sp.mem.write64(PASID_DIR, 0n);
  vtdSetPasidDirEntry(sp.mem, PASID_DIR, 64, 0x310000);
  vtdSetPasidEntry(sp.mem, 0x310000, 64, { pgtt: 2, did: 3, ssptptr: 0x100000 });
  assert.equal(sp.unit.translate(SID, 0x5000).fault, 0x51);
  assert.equal(sp.unit.translate(SID, 0x5000, { pasid: 64 }).did, 3);
});

// ---------------------------------------------------------------------------------------------
// (5) FM masks the most-significant function bits

Deno.test("N5: device-selective context-cache invalidation — FM masks function bits from the top (FM=1: bit 2; FM=2: bits 2:1; QEMU vtd_context_device_invalidate())", () => {
  const m = new Machine();
  const unit = new VtdUnit(m);
  const arena = new VtdTableArena(0x100000);
  const root = arena.alloc(), ctx = arena.alloc(), pgd = arena.alloc();
  vtdSetRootEntry(m.physmem, root, 0, ctx);
  const ss = new VtdSecondStage({ root: pgd });
  vtdMapSecondStage(m.physmem, ss, 0x1000, 0x4000_0000, 4096, { write: true }, arena.alloc);
  vtdSetContextEntry(m.physmem, ctx, DEVFN, { did: 1, ssptptr: pgd, aw: 2 });
  vtdUnitEnable(unit, root, false);
  const fn = (f: number) => PCI_DEVID(0, PCI_DEVFN(3, f));
  const cases: [sid: number, fm: number, removed: number][] = [
    [fn(1), 1, 0], // differs in bit 0, which FM=1 does not mask
    [fn(4), 1, 1], // differs in bit 2, which FM=1 masks
    [fn(2), 1, 0],
    [fn(6), 2, 1], // bits 2:1 masked
    [fn(1), 2, 0],
    [fn(3), 2, 0],
    [fn(7), 3, 1], // bits 2:0 masked
    [fn(4), 0, 0], // nothing masked
    [PCI_DEVID(0, PCI_DEVFN(4, 0)), 3, 0], // another device
  ];
  for (const [sid, fm, removed] of cases) {
    unit.translate(SID, 0x1000);
    assert.equal(unit.cachedConfigs.contexts, 1);
    assert.equal(
      unit.invalidateContextCache({ granularity: "device", sid, fm }),
      removed,
      `sid 0x${sid.toString(16)} fm ${fm}`,
    );
    unit.invalidateContextCache({ granularity: "global" });
  }
});
