/**
 * Fidelity to v6.12 drivers/iommu/iommufd/io_pagetable.c iopt_table_enforce_dev_resv_regions()
 * (issue 14, item C): the iommufd_should_fail() point at its start, and the checks of the MSI
 * regions a driver reports.
 */
import assert from "node:assert/strict";
import {
  dev_iommu_ops,
  EINVAL,
  ErrnoError,
  IOMMU_RESV_MSI,
  type iommu_resv_region,
  IOMMU_RESV_SW_MSI,
} from "../../lib/internal.ts";
import { expectErrno, mockDevice, setupIommufd, teardown } from "../conformance/fixture.ts";

Deno.test(
  "drivers/iommu/iommufd/io_pagetable.c iopt_table_enforce_dev_resv_regions(): fail-nth reaches its iommufd_should_fail() in an attach (v6.4+)",
  () => {
    const checks: string[] = [];
    for (let n = 1; n < 50; n++) {
      const f = setupIommufd();
      const ioas = f.fd.ioasAlloc();
      const dev = mockDevice(f);
      const devId = f.fd.bind(dev);
      const hwpt = f.fd.hwptAlloc({ dev_id: devId, pt_id: ioas });
      f.vmm.task.fail_nth = n;
      let error: unknown = null;
      try {
        f.fd.attach(devId, hwpt);
      } catch (e) {
        error = e;
      }
      const injected = f.vmm.task.fail_nth === 0;
      f.vmm.task.fail_nth = 0;
      if (!injected) {
        assert.equal(error, null);
        teardown(f);
        break;
      }
      assert.ok(error instanceof ErrnoError, String(error));
      checks.push(error.check);
      if (error.check === "enforce-resv-inject") {
        assert.equal(error.errno, EINVAL);
        // Nothing was reserved or attached: the device attaches on the next try.
        f.fd.attach(devId, hwpt);
      }
      teardown(f);
    }
    assert.ok(
      checks.includes("enforce-resv-inject"),
      `the attach's injection points: ${checks.join(", ")}`,
    );
    // It comes before the driver's attach, right after the HWPT's lookup.
    assert.equal(checks[checks.indexOf("enforce-resv-inject") - 1], "get-object-inject");
  },
);

Deno.test(
  "drivers/iommu/iommufd/io_pagetable.c iopt_table_enforce_dev_resv_regions(): a software MSI window with a hardware MSI region, or two, is refused on attach (v6.12)",
  () => {
    for (
      const types of [[IOMMU_RESV_SW_MSI, IOMMU_RESV_MSI], [IOMMU_RESV_SW_MSI, IOMMU_RESV_SW_MSI]]
    ) {
      const f = setupIommufd();
      const ioas = f.fd.ioasAlloc();
      const dev = mockDevice(f);
      const ops = dev_iommu_ops(dev);
      const saved = ops.get_resv_regions;
      ops.get_resv_regions = (_dev, list: iommu_resv_region[]) => {
        types.forEach((type, k) =>
          list.push({
            start: 0x800_0000n + BigInt(k) * 0x10_0000n,
            length: 0x10_0000n,
            prot: 0,
            type,
          })
        );
      };
      try {
        const devId = f.fd.bind(dev);
        const hwpt = f.fd.hwptAlloc({ dev_id: devId, pt_id: ioas });
        const e = expectErrno(EINVAL, () => f.fd.attach(devId, hwpt));
        assert.equal(e.check, "enforce-resv-msi");
        // The device's reservations were removed again: the window can be mapped.
        const buf = f.vmm.mmap(4096n);
        f.fd.ioasMap({ ioas_id: ioas, user_va: buf, length: 4096n, iova: 0x800_0000n });
        f.fd.ioasUnmap(ioas, 0x800_0000n, 4096n);
        f.vmm.munmap(buf, 4096n);
      } finally {
        ops.get_resv_regions = saved;
      }
      teardown(f);
    }
  },
);
