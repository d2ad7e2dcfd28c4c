/**
 * The RISC-V IOMMU unit (spec/21-riscv-iommu.md): device-context lookup with its causes
 * (256–260), fault records, and the IOTLB's stale-translation hazard closed by IOTINVAL.VMA and
 * IOTINVAL.GVMA.
 */
import assert from "node:assert/strict";
import {
  PtSparseMemory,
  RISCV_DC_TC_GADE,
  RISCV_DC_TC_PDTV,
  RISCV_DC_TC_SADE,
  RISCV_DC_TC_V,
  RISCV_DDTP_MODE_1LVL,
  RISCV_DDTP_MODE_2LVL,
  RISCV_DDTP_MODE_3LVL,
  RISCV_DDTP_MODE_BARE,
  RISCV_DDTP_MODE_OFF,
  riscvAtpEncode,
  riscvDcEncode,
  RiscvIommu,
  riscvWorkedVectors,
} from "../../lib/internal.ts";

const DDT = 0x900000n;
const IOVA = 0x123456789an;

/** Memory with worked tables 0 (Sv39 at 0x100000) and 7 (two-stage) and a 1LVL DDT at 0x900000. */
function setup(
  dcs: Record<number, Parameters<typeof riscvDcEncode>[0]>,
  mode = RISCV_DDTP_MODE_1LVL,
) {
  const mem = new PtSparseMemory();
  const w = riscvWorkedVectors();
  for (const t of [w.tables[0], w.tables[7]]) {
    for (const [a, v] of t) mem.write64(BigInt(a), BigInt(v));
  }
  for (const [id, dc] of Object.entries(dcs)) {
    riscvDcEncode(dc).forEach((v, i) =>
      mem.write64(DDT + BigInt(Number(id) & 0x7f) * 32n + BigInt(i) * 8n, v)
    );
  }
  const iommu = new RiscvIommu(mem);
  iommu.ddtp = ((DDT >> 12n) << 10n) | BigInt(mode);
  return { mem, iommu };
}
const sv39Dc = { fsc: riscvAtpEncode(8, 0x100n), ta: 5n << 12n };
const twoDc = { fsc: riscvAtpEncode(8, 0x1n), iohgatp: riscvAtpEncode(8, 0x200n, 3) };

Deno.test("riscv DDT: a device with an Sv39 DC translates; the fault record of a denied write", () => {
  const { iommu } = setup({ 4: sv39Dc });
  assert.deepEqual(iommu.translate(4, IOVA, "r"), {
    ok: true,
    pa: 0xabcdef89an,
    size: 4096n,
    hit: false,
  });
  assert.deepEqual(iommu.translate(4, IOVA, "x"), { ok: false, cause: 12 });
  assert.deepEqual(iommu.faults, [{ cause: 12, ttyp: 1, did: 4, iotval: IOVA, iotval2: 0n }]);
});

Deno.test("riscv DDT: the causes of the device-context lookup", () => {
  const cause = (
    dcs: Record<number, Parameters<typeof riscvDcEncode>[0]>,
    id: number,
    mode?: number,
  ) => {
    const { iommu } = setup(dcs, mode);
    const r = iommu.translate(id, IOVA, "r");
    return r.ok ? 0 : r.cause;
  };
  assert.equal(cause({ 4: sv39Dc }, 4, RISCV_DDTP_MODE_OFF), 256, "iommu_mode Off");
  assert.equal(cause({}, 4, RISCV_DDTP_MODE_BARE), 0, "Bare: untranslated requests pass");
  assert.equal(cause({ 4: sv39Dc }, 0x80, RISCV_DDTP_MODE_1LVL), 260, "device_id wider than 1LVL");
  assert.equal(
    cause({ 4: sv39Dc }, 0x10000, RISCV_DDTP_MODE_2LVL),
    260,
    "device_id wider than 2LVL",
  );
  assert.equal(cause({}, 4), 258, "DC.tc.V = 0");
  assert.equal(
    cause({ 4: { ...sv39Dc, tc: RISCV_DC_TC_V | RISCV_DC_TC_PDTV } }, 4),
    259,
    "PDTV: no PDT in this model",
  );
  assert.equal(
    cause({ 4: { ...twoDc, iohgatp: riscvAtpEncode(8, 0x201n) } }, 4),
    259,
    "G root not 16 KiB-aligned",
  );
  assert.equal(
    cause({ 4: { fsc: riscvAtpEncode(7, 0x100n) } }, 4),
    259,
    "iosatp MODE 7 is not a mode",
  );
  assert.equal(
    cause({ 4: { ...sv39Dc, tc: RISCV_DC_TC_V | (1n << 20n) } }, 4),
    259,
    "reserved tc bit",
  );
  // 2LVL: the non-leaf entry at DDT + DDI[1]*8 is not valid → 258; reserved bits → 259
  assert.equal(cause({}, 4, RISCV_DDTP_MODE_2LVL), 258);
  const { mem, iommu } = setup({ 4: sv39Dc }, RISCV_DDTP_MODE_3LVL);
  mem.write64(DDT, 0x1n | (1n << 5n));
  assert.deepEqual(iommu.translate(4, IOVA, "r"), { ok: false, cause: 259 });
  assert.equal(iommu.faults[0].iotval, 0n, "directory faults report iotval 0");
  const small = new RiscvIommu(mem, { ...iommu.caps, pas: 20 });
  small.ddtp = iommu.ddtp;
  assert.deepEqual(small.translate(4, IOVA, "r"), { ok: false, cause: 257 }, "DDT beyond PAS");
});

Deno.test("riscv DDT: SADE/GADE need AMO_HWAD; with it the DC turns on hardware A/D updates", () => {
  const { mem, iommu } = setup({ 4: { ...sv39Dc, tc: RISCV_DC_TC_V | RISCV_DC_TC_SADE } });
  mem.write64(0x102b38n, 0x2af37bc17n); // A and D clear
  assert.equal(iommu.translate(4, IOVA, "w").ok, true);
  assert.equal(mem.read64(0x102b38n), 0x2af37bcd7n);
  const strict = new RiscvIommu(mem, { ...iommu.caps, amoHwad: false });
  strict.ddtp = iommu.ddtp;
  assert.deepEqual(strict.translate(4, IOVA, "r"), { ok: false, cause: 259 });
  void RISCV_DC_TC_GADE;
});

Deno.test("riscv IOTLB: a changed PTE is not seen until IOTINVAL.VMA (the stale-translation hazard)", () => {
  const { mem, iommu } = setup({ 4: sv39Dc });
  assert.equal(iommu.translate(4, IOVA, "r").ok, true);
  mem.write64(0x102b38n, 0n); // software unmaps the page…
  assert.deepEqual(iommu.translate(4, IOVA, "r"), {
    ok: true,
    pa: 0xabcdef89an,
    size: 4096n,
    hit: true,
  });
  iommu.iotinval_vma({ gv: false, pscv: true, pscid: 6, av: false }); // wrong PSCID: no effect
  assert.equal(iommu.translate(4, IOVA, "r").ok, true);
  iommu.iotinval_vma({ gv: false, pscv: true, pscid: 5, av: true, addr: IOVA & ~0xfffn });
  assert.deepEqual(iommu.translate(4, IOVA, "r"), { ok: false, cause: 13 });
});

Deno.test("riscv IOTLB: a G-stage change needs IOTINVAL.GVMA for that GSCID; VMA without GV misses it", () => {
  const { mem, iommu } = setup({ 4: twoDc });
  const iova = 0x40403567n;
  assert.deepEqual(iommu.translate(4, iova, "r"), {
    ok: true,
    pa: 0x80005567n,
    size: 4096n,
    hit: false,
  });
  mem.write64(0x205028n, 0n); // the hypervisor takes GPA page 5 away
  iommu.iotinval_vma({ gv: false, pscv: false, av: false }); // only entries without a G stage
  assert.equal(iommu.translate(4, iova, "r").ok, true, "stale");
  iommu.iotinval_gvma({ gv: true, gscid: 2, av: false });
  assert.equal(iommu.translate(4, iova, "r").ok, true, "other GSCID: still stale");
  iommu.iotinval_gvma({ gv: true, gscid: 3, av: true, addr: 0x5000n });
  assert.deepEqual(iommu.translate(4, iova, "r"), { ok: false, cause: 21 });
  assert.equal(
    iommu.faults.at(-1)!.iotval2,
    0x5564n,
    "final-GPA guest fault: GPA & ~3, no implicit bit",
  );
});

Deno.test("riscv IOTLB: a cached read does not license a write", () => {
  const { mem, iommu } = setup({ 4: sv39Dc });
  mem.write64(0x102b38n, 0x2af37bcd3n); // read-only
  assert.equal(iommu.translate(4, IOVA, "r").ok, true);
  assert.deepEqual(iommu.translate(4, IOVA, "w"), { ok: false, cause: 15 });
});
