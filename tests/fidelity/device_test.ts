/**
 * Fidelity to v6.12 drivers/iommu/iommufd/device.c (issue 14, item E): iommufd_device_do_replace()
 * checks only that the group is attached, not that the device itself is (the March 2025 stable fix
 * "iommufd: Fail replace if device has not been attached" is later than v6.12).
 */
import assert from "node:assert/strict";
import { dev_iommu_ops, type iommufd_hw_pagetable, xa_load } from "../../lib/internal.ts";
import { type iommufd_device, iommufd_device_replace } from "../../lib/internal.ts";
import { mockDevice, setupIommufd, teardown } from "../conformance/fixture.ts";
import { ictxOf } from "../conformance/ioas_helpers.ts";

Deno.test(
  "drivers/iommu/iommufd/device.c iommufd_device_do_replace(): a bound, never-attached device of an attached group is replaced (v6.12)",
  () => {
    const f = setupIommufd();
    const ioas = f.fd.ioasAlloc();
    // Two mock devices in one IOMMU group.
    const dev0 = mockDevice(f);
    const ops = dev_iommu_ops(dev0);
    const device_group = ops.device_group;
    ops.device_group = () => dev0.iommu_group!;
    let dev1;
    try {
      dev1 = mockDevice(f);
    } finally {
      ops.device_group = device_group;
    }
    assert.equal(dev1.iommu_group, dev0.iommu_group);
    const id0 = f.fd.bind(dev0);
    const id1 = f.fd.bind(dev1);
    const hwpt1 = f.fd.hwptAlloc({ dev_id: id0, pt_id: ioas });
    const hwpt2 = f.fd.hwptAlloc({ dev_id: id0, pt_id: ioas });
    f.fd.attach(id0, hwpt1);
    // An in-kernel caller replaces dev1, which was bound but never attached.
    const ictx = ictxOf(f);
    const idev1 = xa_load(ictx.objects, id1) as iommufd_device;
    const pt_id = { value: hwpt2 };
    const rc = f.m.kernel(() => iommufd_device_replace(idev1, pt_id));
    assert.equal(rc, 0, `v6.12 has no device_list check: ${rc && rc.message}`);
    const h2 = xa_load(ictx.objects, hwpt2) as iommufd_hw_pagetable;
    assert.equal(dev0.iommu_group!.domain, h2.domain, "the group moved to hwpt2");
    assert.equal(
      idev1.igroup.device_list.includes(idev1),
      false,
      "dev1 is still not on device_list",
    );
    teardown(f);
  },
);
