/**
 * Queued invalidation as hardware has it (spec/18-vtd-unit.md#unit-qi, spec/19-vtd-driver.md
 * #invalidations, issue 15): the driver boots the unit through GCMD/GSTS/RTADDR/IQA, every
 * invalidation reaches the unit as descriptors in the ring in memory, the unit's trace shows them
 * decoded, the wait descriptor writes its status, an invalid descriptor raises IQE and
 * qi_submit_sync() recovers as v6.12 does, and v6.12's qi_batch submits per unit.
 */
import assert from "node:assert/strict";
import {
  addIntelIommu,
  DMA_FSTS_IQE,
  DMA_GCMD_QIE,
  DMA_GSTS_QIES,
  DMA_GSTS_RTPS,
  DMA_GSTS_TES,
  DMAR_FSTS_REG,
  DMAR_GCMD_REG,
  DMAR_GSTS_REG,
  DMAR_IQA_REG,
  DMAR_IQH_REG,
  DMAR_IQT_REG,
  DMAR_RTADDR_REG,
  EINVAL,
  ErrnoError,
  Machine,
  page_to_phys,
  QI_CC_GRAN,
  QI_CC_TYPE,
  QI_IWD_STATUS_DATA,
  QI_IWD_STATUS_WRITE,
  QI_IWD_TYPE,
  qi_submit_sync,
  to_pci_dev,
  VtdUnit,
} from "../../lib/internal.ts";

const MiB = 1n << 20n;

function vmmOn(units: number) {
  const m = new Machine({ memory: 2 * 2 ** 30 });
  const hw = Array.from({ length: units }, () => new VtdUnit(m));
  for (const u of hw) u.trace = [];
  const iommus = hw.map((unit) => addIntelIommu(m, unit));
  const vmm = m.spawn({ comm: "vmm", rlimitMemlock: 1n << 30n });
  const ram = vmm.mmap(2n * MiB);
  const fd = vmm.openIommufd();
  const ioas = fd.ioasAlloc();
  return { m, hw, iommus, vmm, ram, fd, ioas };
}

const strip = (lines: string[]) => lines.map((l) => l.replace(/→ 0x[0-9a-f]+/, "→ status"));

Deno.test("boot: the driver brings dmar0 up in registers, and its global flushes are descriptors", () => {
  const { hw: [unit], iommus: [iommu] } = vmmOn(1);
  const gsts = unit.readl(DMAR_GSTS_REG);
  const want = (DMA_GSTS_TES | DMA_GSTS_RTPS | DMA_GSTS_QIES) >>> 0;
  assert.equal((gsts & want) >>> 0, want);
  // RTADDR: the root table with TTM=01 (scalable); IQA: the ring with DW=1 and QS=1.
  assert.equal(unit.readq(DMAR_RTADDR_REG), BigInt(page_to_phys(iommu.root_entry!)) | (1n << 10n));
  assert.equal(unit.readq(DMAR_IQA_REG), BigInt(page_to_phys(iommu.qi!.desc)) | (1n << 11n) | 1n);
  assert.equal(iommu.gcmd, (DMA_GCMD_QIE | 0x8000_0000) >>> 0, "GCMD keeps QIE and TE");
  // iommu_set_root_entry()'s three global invalidations, each followed by its wait descriptor.
  assert.deepEqual(strip(unit.trace!), [
    "IQ[0] cc global",
    "IQ[1] wait status 2 → status",
    "IQ[2] pc global",
    "IQ[3] wait status 2 → status",
    "IQ[4] iotlb global",
    "IQ[5] wait status 2 → status",
  ]);
  // IQH (index << 5 for 256-bit descriptors) has caught up with IQT.
  assert.equal(unit.readl(DMAR_IQH_REG), 6 << 5);
  assert.equal(unit.readl(DMAR_IQT_REG), 6 << 5);
  // The descriptors are really in the ring: slot 4 holds an IOTLB descriptor (type 2, G=1).
  const ring = page_to_phys(iommu.qi!.desc);
  assert.equal(unit.mem.read64(ring + 4 * 32), 0x12n);
  assert.equal(iommu.qi!.free_cnt, 256, "every slot reclaimed");
});

Deno.test("an unmap on dmar0 reaches the unit as a page-selective IOTLB descriptor and a wait", () => {
  const { m, hw: [unit], vmm, ram, fd, ioas } = vmmOn(1);
  fd.ioasMap({ ioas_id: ioas, user_va: ram, length: 2n * MiB, iova: 0x1000_0000n });
  const dev = to_pci_dev(m.addDevice({ iommu: "dmar0" }));
  fd.attach(fd.bind(dev), ioas);
  assert.ok(dev.dma(0x1000_0000).ok);
  assert.ok(dev.dma(0x1000_0000).iotlbHit);
  unit.trace = [];
  fd.ioasUnmap(ioas, 0x1000_0000n, 2n * MiB);
  const t = strip(unit.trace!).map((l) => l.replace(/^IQ\[\d+\] /, ""));
  assert.deepEqual(t, ["iotlb psi did=2 addr=0x10000000 am=9 ih=0", "wait status 2 → status"]);
  assert.equal(dev.dma(0x1000_0000).iotlbHit, false, "the descriptor removed the cached entry");
  fd.close();
  vmm.munmap(ram, 2n * MiB);
});

Deno.test("qi_submit_sync: an invalid descriptor raises IQE; the driver replaces it and gets EINVAL", () => {
  const { m, hw: [unit], iommus: [iommu] } = vmmOn(1);
  unit.trace = [];
  const bad = { qw0: 0xfn, qw1: 0n, qw2: 0n, qw3: 0n };
  const rc = m.kernel(() => qi_submit_sync(iommu, [bad], 1, 0));
  assert.ok(rc instanceof ErrnoError);
  assert.equal(rc.errno, EINVAL);
  assert.equal(rc.check, "qi-iqe");
  assert.match(rc.message, /qw0 = 0xf,/);
  // The unit stopped at slot 6 with IQE; the driver copied its wait descriptor over slot 6 and
  // cleared IQE; the unit resumed with it, then ran the real wait descriptor.
  assert.deepEqual(strip(unit.trace!), [
    "IQ[6] invalid descriptor qw0=0xf qw1=0x0: IQE",
    "IQ[6] wait status 2 → status",
    "IQ[7] wait status 2 → status",
  ]);
  assert.equal(unit.readl(DMAR_FSTS_REG) & DMA_FSTS_IQE, 0, "IQE cleared");
  assert.equal(iommu.qi!.free_cnt, 256);
  // The queue works on.
  unit.trace = [];
  const cc = { qw0: QI_CC_GRAN(1n << 61n) | BigInt(QI_CC_TYPE), qw1: 0n, qw2: 0n, qw3: 0n };
  assert.equal(m.kernel(() => qi_submit_sync(iommu, [cc], 1, 0)), 0);
  assert.deepEqual(strip(unit.trace!), ["IQ[8] cc global", "IQ[9] wait status 2 → status"]);
});

Deno.test("qi_submit_sync: an invalid descriptor behind a valid one — v6.12 polls forever; the model says so", () => {
  const { m, hw: [unit], iommus: [iommu] } = vmmOn(1);
  const cc = { qw0: QI_CC_GRAN(1n << 61n) | BigInt(QI_CC_TYPE), qw1: 0n, qw2: 0n, qw3: 0n };
  const bad = { qw0: 0xfn, qw1: 0n, qw2: 0n, qw3: 0n };
  assert.throws(() => m.kernel(() => qi_submit_sync(iommu, [cc, bad], 2, 0)), /polls forever/);
  assert.equal(unit.readl(DMAR_FSTS_REG) & DMA_FSTS_IQE, DMA_FSTS_IQE);
  assert.equal(unit.qiState.head, 7, "IQH stays at the invalid descriptor");
});

Deno.test("the unit alone: IQE stops the queue until software clears it; the wait writes its status", () => {
  const m = new Machine();
  const unit = new VtdUnit(m);
  unit.trace = [];
  const ring = 0x10_0000, status = 0x20_0000;
  unit.writeq(DMAR_IQA_REG, BigInt(ring)); // 128-bit descriptors, one page
  unit.writel(DMAR_IQT_REG, 0);
  unit.writel(DMAR_GCMD_REG, DMA_GCMD_QIE);
  assert.ok(unit.qiState.enabled);
  const put = (i: number, qw0: bigint, qw1 = 0n) => {
    m.physmem.write64(ring + 16 * i, qw0);
    m.physmem.write64(ring + 16 * i + 8, qw1);
  };
  const wait = (data: number, at: number) =>
    put(0, QI_IWD_STATUS_DATA(data) | QI_IWD_STATUS_WRITE | BigInt(QI_IWD_TYPE), BigInt(at));
  wait(7, status);
  put(1, 0x2n | (0n << 4n)); // IOTLB with granularity 0: reserved → invalid
  put(2, QI_IWD_STATUS_DATA(9) | QI_IWD_STATUS_WRITE | BigInt(QI_IWD_TYPE), BigInt(status + 4));
  unit.writel(DMAR_IQT_REG, 3 << 4);
  assert.equal(m.physmem.read32(status), 7);
  assert.equal(m.physmem.read32(status + 4), 0, "stopped before the second wait");
  assert.equal(unit.readl(DMAR_IQH_REG), 1 << 4);
  assert.equal(unit.readl(DMAR_FSTS_REG) & DMA_FSTS_IQE, DMA_FSTS_IQE);
  // A page-selective IOTLB descriptor with AM above CAP.MAMV is invalid too; software fixes slot 1
  // with that and clears IQE: the unit stops again at once.
  put(1, 0x32n, 0x3fn);
  unit.writel(DMAR_FSTS_REG, DMA_FSTS_IQE);
  assert.equal(unit.readl(DMAR_FSTS_REG) & DMA_FSTS_IQE, DMA_FSTS_IQE);
  // Now a valid domain-selective one: the queue runs to the tail.
  put(1, 0x22n | (5n << 16n));
  unit.writel(DMAR_FSTS_REG, DMA_FSTS_IQE);
  assert.equal(m.physmem.read32(status + 4), 9);
  assert.deepEqual(strip(unit.trace!), [
    "IQ[0] wait status 7 → status",
    "IQ[1] invalid descriptor qw0=0x2 qw1=0x0: IQE",
    "IQ[1] invalid descriptor qw0=0x32 qw1=0x3f: IQE",
    "IQ[1] iotlb dsi did=5",
    "IQ[2] wait status 9 → status",
  ]);
});

Deno.test("qi_batch: a domain on two units flushes each unit's descriptors in its own submission", () => {
  const { m, hw, vmm, ram, fd, ioas } = vmmOn(2);
  fd.ioasMap({ ioas_id: ioas, user_va: ram, length: 2n * MiB, iova: 0x1000_0000n });
  const d0 = to_pci_dev(m.addDevice({ iommu: "dmar0" }));
  const d1 = to_pci_dev(m.addDevice({ iommu: "dmar1" }));
  const id0 = fd.bind(d0), id1 = fd.bind(d1);
  const hwpt = fd.hwptAlloc({ dev_id: id0, pt_id: ioas });
  fd.attach(id0, hwpt);
  fd.attach(id1, hwpt);
  for (const u of hw) u.trace = [];
  fd.ioasUnmap(ioas, 0x1000_0000n, 2n * MiB);
  for (const u of hw) {
    assert.deepEqual(strip(u.trace!).map((l) => l.replace(/^IQ\[\d+\] /, "")), [
      "iotlb psi did=2 addr=0x10000000 am=9 ih=0",
      "wait status 2 → status",
    ]);
  }
  fd.close();
  vmm.munmap(ram, 2n * MiB);
});
