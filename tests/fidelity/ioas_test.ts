/**
 * Fidelity to v6.12 drivers/iommu/iommufd/ioas.c (issue 14, item K): in the CONFIG_IOMMUFD_TEST
 * build iommufd_ioas_copy() first calls selftest.c iommufd_test_syz_conv_iova_id(), which strips
 * MOCK_FLAGS_ACCESS_SYZ (bit 16) from flags and decodes src_iova as (nth area, offset).
 */
import assert from "node:assert/strict";
import {
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  MOCK_FLAGS_ACCESS_SYZ,
} from "../../lib/internal.ts";
import { setupIommufd, teardown } from "../conformance/fixture.ts";

const P = 4096n;

Deno.test(
  "drivers/iommu/iommufd/ioas.c iommufd_ioas_copy(): iommufd_test_syz_conv_iova_id() decodes a MOCK_FLAGS_ACCESS_SYZ src_iova (v6.12 selftest build)",
  () => {
    const f = setupIommufd();
    const src = f.fd.ioasAlloc();
    const dst = f.fd.ioasAlloc();
    const buf = f.vmm.mmap(8n * P);
    for (let i = 0n; i < 8n; i++) f.vmm.write(buf + i * P, new Uint8Array([0x40 + Number(i)]));
    // Two areas: pages 0-3 at IOVA 1 MiB, pages 4-7 at IOVA 2 MiB.
    f.fd.ioasMap({ ioas_id: src, user_va: buf, length: 4n * P, iova: 1n << 20n });
    f.fd.ioasMap({ ioas_id: src, user_va: buf + 4n * P, length: 4n * P, iova: 2n << 20n });
    // syzkaller's encoding: area 1 (low 32 bits), offset 2 pages (high 32 bits).
    const dst_iova = f.fd.ioasCopy({
      dst_ioas_id: dst,
      src_ioas_id: src,
      src_iova: ((2n * P) << 32n) | 1n,
      length: P,
      flags: MOCK_FLAGS_ACCESS_SYZ | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
    });
    // The copy is of source IOVA 2 MiB + 2 pages: user page 6.
    const access = f.fd.testCreateAccess(dst);
    const out = new Uint8Array(1);
    f.fd.testAccessRw(access, dst_iova, out);
    assert.equal(out[0], 0x46, "the copy maps the decoded source IOVA");
    f.fd.testDestroyAccess(access);
    f.vmm.munmap(buf, 8n * P);
    teardown(f);
  },
);
