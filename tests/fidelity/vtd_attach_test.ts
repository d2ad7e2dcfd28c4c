/**
 * Fidelity to v6.12 drivers/iommu/intel (issue 14, item G): the allocations of an attach —
 * cache.c cache_tag_assign()'s kzalloc, iommu.c domain_attach_iommu()'s kzalloc (made before the
 * refcount check) and its xa_cmpxchg — are fail-nth points, each unwound.
 */
import assert from "node:assert/strict";
import {
  ErrnoError,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_VTD_S1,
  iommu_hwpt_vtd_s1,
  Machine,
  to_pci_dev,
} from "../../lib/internal.ts";

const MiB = 1n << 20n;

function session() {
  const m = new Machine({ memory: 1 * 2 ** 30 });
  const iommu = m.addIommu({ kind: "vtd" });
  const vmm = m.spawn({ cgroup: m.cgroups.create("/vm1"), comm: "vmm", rlimitMemlock: 1n << 30n });
  const dev = to_pci_dev(m.addDevice({ iommu: "dmar0" }));
  const ram = vmm.mmap(2n * MiB);
  vmm.write(ram + 0x5000n, new Uint8Array([0xa5]));
  const slab = m.pgdat.vm_stat.NR_SLAB_UNRECLAIMABLE_B;
  const ids = iommu.domain_ids.size;
  const fd = vmm.openIommufd();
  const ioas = fd.ioasAlloc();
  fd.ioasMap({ ioas_id: ioas, user_va: ram, length: 2n * MiB, iova: 0n });
  const devId = fd.bind(dev);
  const parent = fd.hwptAlloc({ dev_id: devId, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
  const nested = fd.hwptAlloc({
    dev_id: devId,
    pt_id: parent,
    data_type: IOMMU_HWPT_DATA_VTD_S1,
    data: iommu_hwpt_vtd_s1.encode({
      flags: 0n,
      pgtbl_addr: 0x1000n,
      addr_width: 48,
      __reserved: 0,
    }),
  });
  return { m, iommu, vmm, dev, ram, slab, ids, fd, devId, parent, nested };
}

Deno.test(
  "drivers/iommu/intel/cache.c cache_tag_assign() and iommu.c domain_attach_iommu(): fail-nth reaches their kzalloc in an attach, and each failure unwinds (v6.12)",
  () => {
    const checks = new Set<string>();
    for (let n = 1; n < 100; n++) {
      const s = session();
      let stage = "attach parent";
      s.vmm.task.fail_nth = n;
      let error: unknown = null;
      try {
        s.fd.attach(s.devId, s.parent);
        stage = "replace with nested";
        s.fd.attach(s.devId, s.nested);
      } catch (e) {
        error = e;
      }
      const injected = s.vmm.task.fail_nth === 0;
      s.vmm.task.fail_nth = 0;
      if (!injected) {
        assert.equal(error, null);
        s.fd.close();
        break;
      }
      assert.ok(error instanceof ErrnoError, String(error));
      checks.add(`${error.check} in ${stage}`);
      if (stage === "replace with nested") {
        // The failed replace left the device on the parent (the core's revert re-attached it).
        const t = s.dev.dma(0x5000);
        assert.ok(t.ok, `${error.check}: ${t.describe()}`);
      }
      s.fd.close();
      s.vmm.munmap(s.ram, 2n * MiB);
      assert.equal(s.iommu.domain_ids.size, s.ids, `${error.check}: a domain id leaked`);
      assert.equal(
        s.m.pgdat.vm_stat.NR_SLAB_UNRECLAIMABLE_B,
        s.slab,
        `${error.check}: slab leaked`,
      );
    }
    // Both attaches meet both points: dmar_domain_attach_device() and intel_nested_attach_dev().
    for (const c of ["intel-tag-nomem", "intel-did-nomem"]) {
      for (const stage of ["attach parent", "replace with nested"]) {
        assert.ok(checks.has(`${c} in ${stage}`), `${c} not reached in ${stage}: ${[...checks]}`);
      }
    }
  },
);

Deno.test(
  "drivers/iommu/intel/iommu.c domain_attach_iommu(): the xa_cmpxchg of a second unit's record allocates an xarray node; on dmar0 (index 0) it does not",
  () => {
    const s = session();
    s.m.addIommu({ kind: "vtd" }); // dmar1
    const dev1 = to_pci_dev(s.m.addDevice({ iommu: "dmar1" }));
    const reclaimable = () => s.m.pgdat.vm_stat.NR_SLAB_RECLAIMABLE_B;
    const first = reclaimable();
    s.fd.attach(s.devId, s.parent);
    assert.equal(reclaimable(), first, "index 0 lives in the xarray's head: no node");
    const dev1Id = s.fd.bind(dev1);
    // The parent's domain is attached through dmar1 too: its iommu_array gets index 1.
    const before = reclaimable();
    s.fd.attach(dev1Id, s.parent);
    assert.ok(reclaimable() > before, "an xarray node for index 1");
    s.fd.close();
  },
);

Deno.test(
  "drivers/iommu/intel/iommu.c domain_attach_iommu(): one failed node allocation cannot fail the xa_cmpxchg (lib/xarray.c __xas_nomem() retries); every failure gives the dmar1 domain id back",
  () => {
    let injected = true;
    for (let n = 1; n < 80 && injected; n++) {
      const s = session();
      const dmar1 = s.m.addIommu({ kind: "vtd" });
      const dev1 = to_pci_dev(s.m.addDevice({ iommu: "dmar1" }));
      s.fd.attach(s.devId, s.parent);
      const dev1Id = s.fd.bind(dev1);
      const ids = dmar1.domain_ids.size;
      s.vmm.task.fail_nth = n;
      try {
        s.fd.attach(dev1Id, s.parent);
      } catch (e) {
        assert.ok(e instanceof ErrnoError, String(e));
        assert.notEqual(e.check, "xa-store-nomem", `fail-nth ${n}`);
        assert.equal(dmar1.domain_ids.size, ids, "the id taken on dmar1 was given back");
      }
      injected = s.vmm.task.fail_nth === 0;
      s.vmm.task.fail_nth = 0;
      s.fd.close();
    }
    assert.ok(!injected, "the sweep ran past the last failure point");
  },
);
