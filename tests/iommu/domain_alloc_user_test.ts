import assert from "node:assert/strict";
import {
  __IOMMU_DOMAIN_DMA_API,
  __IOMMU_DOMAIN_DMA_FQ,
  __IOMMU_DOMAIN_NESTED,
  __IOMMU_DOMAIN_PAGING,
  __IOMMU_DOMAIN_PLATFORM,
  __IOMMU_DOMAIN_PT,
  __IOMMU_DOMAIN_SVA,
  dev_iommu_ops,
  type device,
  EOPNOTSUPP,
  type ErrnoError,
  fail,
  type iommu_domain,
  IOMMU_DOMAIN_ALLOC_FLAGS,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_NESTED,
  IOMMU_DOMAIN_PLATFORM,
  IOMMU_DOMAIN_SVA,
  IOMMU_DOMAIN_UNMANAGED,
  type iommu_ops,
  type iommu_user_data,
  IS_ERR,
} from "../../lib/internal.ts";

Deno.test("domain type bits and types have the values of include/linux/iommu.h (v6.12)", () => {
  assert.deepEqual(
    [
      __IOMMU_DOMAIN_PAGING,
      __IOMMU_DOMAIN_DMA_API,
      __IOMMU_DOMAIN_PT,
      __IOMMU_DOMAIN_DMA_FQ,
      __IOMMU_DOMAIN_SVA,
      __IOMMU_DOMAIN_PLATFORM,
      __IOMMU_DOMAIN_NESTED,
    ],
    [1, 2, 4, 8, 16, 32, 64],
  );
  assert.deepEqual(
    [
      IOMMU_DOMAIN_BLOCKED,
      IOMMU_DOMAIN_IDENTITY,
      IOMMU_DOMAIN_UNMANAGED,
      IOMMU_DOMAIN_DMA,
      IOMMU_DOMAIN_DMA_FQ,
      IOMMU_DOMAIN_SVA,
      IOMMU_DOMAIN_PLATFORM,
      IOMMU_DOMAIN_NESTED,
    ],
    [0, 4, 1, 3, 11, 16, 32, 64],
  );
  assert.equal(IOMMU_DOMAIN_ALLOC_FLAGS & IOMMU_DOMAIN_DMA_FQ, IOMMU_DOMAIN_DMA);
  // A nested domain has no paging bit: it cannot be the target of iommu_map().
  assert.equal(IOMMU_DOMAIN_NESTED & __IOMMU_DOMAIN_PAGING, 0);
});

Deno.test("domain_alloc_user is reached through the device's IOMMU with (dev, flags, parent, user_data)", () => {
  const calls: unknown[][] = [];
  const ops: iommu_ops = {
    pgsize_bitmap: 1n << 12n,
    owner: "test",
    domain_alloc_user(dev, flags, parent, user_data): iommu_domain | ErrnoError {
      calls.push([dev.name, flags, parent, user_data]);
      if (user_data && !parent) return fail(EOPNOTSUPP, "test-1", "no paging parameters");
      return {
        type: parent ? IOMMU_DOMAIN_NESTED : IOMMU_DOMAIN_UNMANAGED,
        ops: {},
        dirty_ops: null,
        owner: null,
        pgsize_bitmap: 0n,
        geometry: { aperture_start: 0n, aperture_end: ~0n, force_aperture: false },
      };
    },
  };
  const dev: device = {
    name: "dev0",
    iommu: { iommu_dev: { ops, name: "iommu0" } },
    iommu_group: null,
  };
  const alloc = dev_iommu_ops(dev).domain_alloc_user!;
  assert.equal(alloc.length, 4);
  const parent = alloc(dev, 1, null, null);
  assert.ok(!IS_ERR(parent));
  assert.equal(parent.type & __IOMMU_DOMAIN_PAGING, __IOMMU_DOMAIN_PAGING);
  const data: iommu_user_data = { type: 0xdead, uptr: 0x1000n, len: 4 };
  const nested = alloc(dev, 0, parent, data);
  assert.ok(!IS_ERR(nested) && nested.type === IOMMU_DOMAIN_NESTED);
  const refused = alloc(dev, 0, null, data);
  assert.ok(IS_ERR(refused) && refused.errno === EOPNOTSUPP);
  assert.deepEqual(calls.map((c) => c.length), [4, 4, 4]);
  assert.throws(
    () => dev_iommu_ops({ name: "nohw", iommu: null, iommu_group: null }),
    /not behind an IOMMU/,
  );
});
