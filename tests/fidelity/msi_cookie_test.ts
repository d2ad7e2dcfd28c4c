/**
 * Fidelity to v6.12 drivers/iommu/iommufd/device.c iommufd_group_setup_msi() and
 * drivers/iommu/dma-iommu.c iommu_get_msi_cookie() (issue 14, item C): a driver that reports a
 * software MSI window gets an MSI cookie on the user's domain at the group's first attach and on
 * replace, a fail-nth point with its unwinds.
 */
import assert from "node:assert/strict";
import {
  dev_iommu_ops,
  ENOMEM,
  ErrnoError,
  type iommu_domain,
  type iommu_resv_region,
  IOMMU_RESV_SW_MSI,
  type iommufd_hw_pagetable,
  xa_load,
} from "../../lib/internal.ts";
import { mockDevice, setupIommufd, teardown } from "../conformance/fixture.ts";
import { ictxOf } from "../conformance/ioas_helpers.ts";

const MSI_IOVA_BASE = 0x800_0000n;

/** A session whose mock device reports a software MSI window at MSI_IOVA_BASE. */
function swMsiSession() {
  const f = setupIommufd();
  const ioas = f.fd.ioasAlloc();
  const dev = mockDevice(f);
  const ops = dev_iommu_ops(dev);
  const saved = ops.get_resv_regions;
  ops.get_resv_regions = (_dev, list: iommu_resv_region[]) => {
    list.push({ start: MSI_IOVA_BASE, length: 0x10_0000n, prot: 0, type: IOMMU_RESV_SW_MSI });
  };
  const restore = () => (ops.get_resv_regions = saved);
  const devId = f.fd.bind(dev);
  const domainOf = (id: number): iommu_domain =>
    (xa_load(ictxOf(f).objects, id) as iommufd_hw_pagetable).domain!;
  return { f, ioas, dev, devId, restore, domainOf };
}

Deno.test(
  "drivers/iommu/iommufd/device.c iommufd_group_setup_msi(): the first attach gets an MSI cookie at the window's base, replace gets one for the new domain (v6.12)",
  () => {
    const s = swMsiSession();
    try {
      const hwpt1 = s.f.fd.hwptAlloc({ dev_id: s.devId, pt_id: s.ioas });
      const hwpt2 = s.f.fd.hwptAlloc({ dev_id: s.devId, pt_id: s.ioas });
      assert.equal(s.domainOf(hwpt1).iova_cookie ?? null, null);
      s.f.fd.attach(s.devId, hwpt1);
      assert.equal(s.domainOf(hwpt1).iova_cookie?.msi_iova, MSI_IOVA_BASE);
      s.f.fd.attach(s.devId, hwpt2); // a replace
      assert.equal(s.domainOf(hwpt2).iova_cookie?.msi_iova, MSI_IOVA_BASE);
      s.f.fd.attach(s.devId, hwpt1); // back: msi_cookie is set, no EEXIST
    } finally {
      s.restore();
    }
    teardown(s.f); // the cookies are freed with their domains
  },
);

Deno.test(
  "drivers/iommu/dma-iommu.c iommu_get_msi_cookie(): fail-nth reaches its allocation in an attach, which unwinds (v6.12)",
  () => {
    let reached = false;
    for (let n = 1; n < 60 && !reached; n++) {
      const s = swMsiSession();
      try {
        const hwpt = s.f.fd.hwptAlloc({ dev_id: s.devId, pt_id: s.ioas });
        s.f.vmm.task.fail_nth = n;
        try {
          s.f.fd.attach(s.devId, hwpt);
        } catch (e) {
          assert.ok(e instanceof ErrnoError, String(e));
          if (e.check === "msi-cookie-nomem") {
            reached = true;
            assert.equal(e.errno, ENOMEM);
            s.f.vmm.task.fail_nth = 0;
            // The reservation was removed again, and a second try works.
            s.f.fd.attach(s.devId, hwpt);
          }
        }
        const injected = s.f.vmm.task.fail_nth === 0;
        s.f.vmm.task.fail_nth = 0;
        if (!injected) break;
      } finally {
        s.restore();
      }
      teardown(s.f);
    }
    assert.ok(reached, "iommu_get_msi_cookie()'s kzalloc is a fail-nth point of the attach");
  },
);

Deno.test(
  "drivers/iommu/iommufd/device.c iommufd_group_do_replace_reserved_iova(): a failed MSI cookie on a same-IOAS replace drops the group's reservations (v6.12 err_unresv)",
  () => {
    let reached = false;
    for (let n = 1; n < 60 && !reached; n++) {
      const s = swMsiSession();
      try {
        const hwpt1 = s.f.fd.hwptAlloc({ dev_id: s.devId, pt_id: s.ioas });
        const hwpt2 = s.f.fd.hwptAlloc({ dev_id: s.devId, pt_id: s.ioas });
        s.f.fd.attach(s.devId, hwpt1);
        s.f.vmm.task.fail_nth = n;
        try {
          s.f.fd.attach(s.devId, hwpt2);
        } catch (e) {
          assert.ok(e instanceof ErrnoError, String(e));
          if (e.check === "msi-cookie-nomem") {
            reached = true;
            s.f.vmm.task.fail_nth = 0;
            // Still attached to hwpt1 on the same IOAS, but the MSI window is no longer reserved.
            assert.ok(s.dev.iommu_group!.domain === s.domainOf(hwpt1));
            const buf = s.f.vmm.mmap(4096n);
            s.f.fd.ioasMap({ ioas_id: s.ioas, user_va: buf, length: 4096n, iova: MSI_IOVA_BASE });
            s.f.fd.ioasUnmap(s.ioas, MSI_IOVA_BASE, 4096n);
            s.f.vmm.munmap(buf, 4096n);
          }
        }
        const injected = s.f.vmm.task.fail_nth === 0;
        s.f.vmm.task.fail_nth = 0;
        if (!injected) break;
      } finally {
        s.restore();
      }
      teardown(s.f);
    }
    assert.ok(reached, "the replace's MSI cookie allocation is a fail-nth point");
  },
);
