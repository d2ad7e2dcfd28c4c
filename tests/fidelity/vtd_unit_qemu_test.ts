/**
 * Issue 14 N (1): the scalable-mode context entry is 256 bits and bits 255:128 are reserved; QEMU's
 * hw/i386/intel_iommu.c vtd_context_entry_rsvd_bits_check() checks val[2] and val[3].
 */
import assert from "node:assert/strict";
import {
  Machine,
  PCI_DEVFN,
  PCI_DEVID,
  vtdSetPasidDirEntry,
  vtdSetPasidEntry,
  vtdSetRootEntry,
  vtdSetScalableContextEntry,
  VtdUnit,
  vtdUnitEnable,
} from "../../lib/internal.ts";

const PASID_DIR = 0x300000, PASID_TABLE = 0x301000, SM_ROOT = 0x302000, SM_CTX = 0x303000;
const DEVFN = PCI_DEVFN(3, 0);

function scalable() {
  const m = new Machine();
  const mem = m.physmem;
  const unit = new VtdUnit(m, {});
  mem.write64(0x100000, 0x101003n);
  mem.write64(0x101000, 0x102003n);
  mem.write64(0x102000, 0x103003n);
  mem.write64(0x103000 + 8 * 5, BigInt(0x8000_0000 + 5 * 0x1000) | 3n);
  vtdSetRootEntry(mem, SM_ROOT, 0, SM_CTX, "lo");
  vtdSetScalableContextEntry(mem, SM_CTX, DEVFN, { pasidDir: PASID_DIR, paside: true, pdts: 0 });
  vtdSetPasidDirEntry(mem, PASID_DIR, 0, PASID_TABLE);
  vtdSetPasidEntry(mem, PASID_TABLE, 0, { pgtt: 2, did: 1, ssptptr: 0x100000, aw: 2 });
  vtdUnitEnable(unit, SM_ROOT, true);
  return { m, mem, unit };
}

for (const [word, bit] of [[2, 0], [2, 63], [3, 17], [3, 63]]) {
  Deno.test(`VT-d scalable context entry: a set bit ${64 * word + bit} (of 255:128) is a reserved-bit fault 0x42, as QEMU's vtd_context_entry_rsvd_bits_check()`, () => {
    const s = scalable();
    assert.equal(s.unit.translate(PCI_DEVID(0, DEVFN), 0x5000).fault, 0, "translates when clear");
    const fresh = scalable();
    fresh.mem.write64(SM_CTX + 32 * DEVFN + 8 * word, 1n << BigInt(bit));
    const t = fresh.unit.translate(PCI_DEVID(0, DEVFN), 0x5000);
    assert.equal(t.fault, 0x42, t.describe());
  });
}
