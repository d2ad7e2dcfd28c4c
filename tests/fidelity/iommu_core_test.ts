/**
 * Fidelity to v6.12 drivers/iommu/iommu.c (issue 14, item A): a failed replace re-attaches the old
 * domain to every device of the group up to and including the one that failed.
 */
import assert from "node:assert/strict";
import {
  EINVAL,
  ErrnoError,
  IOMMU_DOMAIN_NESTED,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_VTD_S1,
  iommu_hwpt_vtd_s1,
  Machine,
  to_pci_dev,
} from "../../lib/internal.ts";

const MiB = 1n << 20n;

function vtdSession(addr_width: number) {
  const m = new Machine({ memory: 1 * 2 ** 30 });
  m.addIommu({ kind: "vtd" });
  const vmm = m.spawn({ cgroup: m.cgroups.create("/vm1"), comm: "vmm", rlimitMemlock: 1n << 30n });
  const ram = vmm.mmap(2n * MiB);
  vmm.write(ram + 0x5000n, new Uint8Array([0xa5]));
  const fd = vmm.openIommufd();
  const ioas = fd.ioasAlloc();
  fd.ioasMap({ ioas_id: ioas, user_va: ram, length: 2n * MiB, iova: 0n });
  const dev = to_pci_dev(m.addDevice({ iommu: "dmar0" }));
  const devId = fd.bind(dev);
  const parent = fd.hwptAlloc({ dev_id: devId, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
  const nested = fd.hwptAlloc({
    dev_id: devId,
    pt_id: parent,
    data_type: IOMMU_HWPT_DATA_VTD_S1,
    data: iommu_hwpt_vtd_s1.encode({ flags: 0n, pgtbl_addr: 0x1000n, addr_width, __reserved: 0 }),
  });
  return { m, vmm, fd, dev, devId, parent, nested };
}

Deno.test(
  "drivers/iommu/iommu.c __iommu_group_set_domain_internal(): a failed replace re-attaches the failing device to the old domain (v6.12)",
  () => {
    const s = vtdSession(39);
    s.fd.attach(s.devId, s.parent);
    const before = s.dev.dma(0x5000);
    assert.ok(before.ok, before.describe());
    const parentDomain = s.dev.iommu_group!.domain!;
    // The nested HWPT's addr_width 39 is refused by intel_pasid_setup_nested() after
    // intel_nested_attach_dev() blocked the device.
    try {
      s.fd.attach(s.devId, s.nested);
      assert.fail("the replace should fail");
    } catch (e) {
      assert.ok(e instanceof ErrnoError, String(e));
      assert.equal(e.errno, EINVAL);
      assert.equal(e.check, "intel-nested-aw");
    }
    // v6.12: the revert re-attached the parent to the failing device, so DMA still translates.
    assert.equal(s.dev.iommu_group!.domain, parentDomain);
    assert.notEqual(parentDomain.type, IOMMU_DOMAIN_NESTED);
    const after = s.dev.dma(0x5000);
    assert.ok(after.ok, `the device lost its translation: ${after.describe()}`);
    assert.equal(after.pa, before.pa);
    assert.equal(s.m.physmem.read8(after.pa), 0xa5);
    s.fd.close();
  },
);
