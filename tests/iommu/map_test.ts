/**
 * The iommu core's mapping functions (spec/05-iommu-core.md#mapping) against a recording driver:
 * the page-size runs of iommu_pgsize(), the checks of iommu_map() in order, the rollback of a
 * failed map, iommu_unmap() and its IOTLB gather, iommu_iova_to_phys(), and the dirty bitmap.
 */
import assert from "node:assert/strict";
import {
  __GFP_COMP,
  __GFP_HIGHMEM,
  type device,
  EINVAL,
  EIO,
  ENODEV,
  ENOMEM,
  ErrnoError,
  fail,
  generic_device_group,
  GFP_KERNEL,
  GFP_KERNEL_ACCOUNT,
  iommu_device_claim_dma_owner,
  iommu_device_release_dma_owner,
  iommu_dirty_bitmap,
  iommu_dirty_bitmap_init,
  iommu_dirty_bitmap_record,
  type iommu_domain,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_NESTED,
  type iommu_domain_ops,
  IOMMU_DOMAIN_UNMANAGED,
  iommu_iotlb_gather,
  iommu_iova_to_phys,
  iommu_map,
  type iommu_ops,
  iommu_pgsize,
  iommu_probe_device,
  IOMMU_READ,
  iommu_release_device,
  iommu_unmap,
  IOMMU_WRITE,
  type iova_bitmap,
  type Rc,
} from "../../lib/internal.ts";

const K2 = 2048n;
const M1 = 1n << 20n;
const PROT = IOMMU_READ | IOMMU_WRITE;

interface Call {
  op: "map" | "unmap";
  iova: bigint;
  pgsize: bigint;
  count: number;
}

/**
 * A driver that records every call and keeps its mappings as pages in a Map. `failMap` makes the
 * n-th map_pages call (1-based) map `partial` of its pages and fail with EIO.
 */
function recorder(
  pgsize_bitmap: bigint,
  options: { failMap?: number; partial?: number; syncMap?: (iova: bigint, size: bigint) => Rc } =
    {},
) {
  const calls: Call[] = [];
  const pages = new Map<bigint, { paddr: number; pgsize: bigint }>();
  const flushed: { start: bigint; end: bigint }[] = [];
  let maps = 0;
  const ops: iommu_domain_ops = {
    map_pages(_d, iova, paddr, pgsize, pgcount) {
      calls.push({ op: "map", iova, pgsize, count: pgcount });
      const n = ++maps === options.failMap ? options.partial ?? 0 : pgcount;
      for (let k = 0; k < n; k++) {
        pages.set(iova + BigInt(k) * pgsize, { paddr: paddr + k * Number(pgsize), pgsize });
      }
      const mapped = BigInt(n) * pgsize;
      return n === pgcount ? { ret: 0, mapped } : { ret: fail(EIO, "toy-map", "boom"), mapped };
    },
    unmap_pages(_d, iova, pgsize, pgcount, gather) {
      calls.push({ op: "unmap", iova, pgsize, count: pgcount });
      if (!pages.has(iova)) return 0n;
      for (let k = 0n; k < BigInt(pgcount); k++) pages.delete(iova + k * pgsize);
      const size = BigInt(pgcount) * pgsize;
      if (gather.start > iova) gather.start = iova;
      if (gather.end < iova + size - 1n) gather.end = iova + size - 1n;
      return size;
    },
    iotlb_sync(_d, gather) {
      flushed.push({ start: gather.start, end: gather.end });
    },
    iova_to_phys(_d, iova) {
      return pages.get(BigInt(iova))?.paddr ?? 0;
    },
  };
  if (options.syncMap) {
    const syncMap = options.syncMap;
    ops.iotlb_sync_map = (_d, iova, size) => syncMap(iova, size);
  }
  const domain: iommu_domain = {
    type: IOMMU_DOMAIN_UNMANAGED,
    ops,
    dirty_ops: null,
    owner: null,
    pgsize_bitmap,
    geometry: { aperture_start: 0n, aperture_end: (1n << 48n) - 1n, force_aperture: true },
  };
  return { domain, calls, pages, flushed };
}

function expectErr(rc: Rc | ErrnoError, errno: number, check: string): void {
  assert.ok(rc instanceof ErrnoError, `expected ${check}, got success`);
  assert.equal(rc.errno, errno, rc.message);
  assert.equal(rc.check, check);
}

Deno.test("iommu_pgsize: the largest aligned size, stopping where a larger page becomes usable", () => {
  const { domain } = recorder(K2 | M1);
  // The chapter's example: 3 MiB at 0xff000 is 2 × 2 KiB, 2 × 1 MiB, then 510 × 2 KiB.
  assert.deepEqual(iommu_pgsize(domain, 0xff000n, 0xff000n, 3n * M1), { pgsize: K2, count: 2 });
  assert.deepEqual(iommu_pgsize(domain, M1, M1, 3n * M1 - 0x1000n), { pgsize: M1, count: 2 });
  assert.deepEqual(iommu_pgsize(domain, 3n * M1, 3n * M1, M1 - 0x1000n), {
    pgsize: K2,
    count: 510,
  });
  // IOVA and physical address at different offsets within 1 MiB: small pages all the way.
  assert.deepEqual(iommu_pgsize(domain, 0xff000n, 0x1ff800n, 3n * M1), {
    pgsize: K2,
    count: 3 * 512,
  });
  // Address 0 constrains nothing.
  assert.deepEqual(iommu_pgsize(domain, 0n, 0n, 2n * M1 + K2), { pgsize: M1, count: 2 });
});

Deno.test("iommu_map: runs of iommu_pgsize(), then iotlb_sync_map over the whole range", () => {
  const synced: [bigint, bigint][] = [];
  const t = recorder(K2 | M1, { syncMap: (iova, size) => (synced.push([iova, size]), 0) });
  assert.equal(iommu_map(t.domain, 0xff000n, 0xff000, 3n * M1, PROT, GFP_KERNEL_ACCOUNT), 0);
  assert.deepEqual(t.calls, [
    { op: "map", iova: 0xff000n, pgsize: K2, count: 2 },
    { op: "map", iova: M1, pgsize: M1, count: 2 },
    { op: "map", iova: 3n * M1, pgsize: K2, count: 510 },
  ]);
  assert.deepEqual(synced, [[0xff000n, 3n * M1]]);
  assert.equal(iommu_iova_to_phys(t.domain, 2n * M1), 2 * 2 ** 20);
  // Unmapping takes the same runs (the IOVA standing in for the physical address).
  t.calls.length = 0;
  assert.equal(iommu_unmap(t.domain, 0xff000n, 3n * M1), 3n * M1);
  assert.deepEqual(t.calls.map((c) => [c.pgsize, c.count]), [[K2, 2], [M1, 2], [K2, 510]]);
  assert.equal(t.pages.size, 0);
});

Deno.test("iommu_map: the checks, in order, with their errnos", () => {
  const t = recorder(K2);
  const map = (d: iommu_domain, iova: bigint, pa: number, size: bigint, gfp = GFP_KERNEL) =>
    iommu_map(d, iova, pa, size, PROT, gfp);
  // map-gfp comes first, even for a domain that could not be mapped anyway.
  const nested = { ...t.domain, type: IOMMU_DOMAIN_NESTED };
  expectErr(map(nested, 0n, 0, K2, GFP_KERNEL | __GFP_HIGHMEM), EINVAL, "map-gfp");
  expectErr(map(t.domain, 0n, 0, K2, GFP_KERNEL | __GFP_COMP), EINVAL, "map-gfp");
  // map-paging: nested, identity and blocked domains have no table the core may write.
  for (const type of [IOMMU_DOMAIN_NESTED, IOMMU_DOMAIN_IDENTITY, IOMMU_DOMAIN_BLOCKED]) {
    expectErr(map({ ...t.domain, type }, 0n, 0, K2), EINVAL, "map-paging");
  }
  // map-nodev: no map_pages, or no page sizes; before the alignment check.
  const noMap = { ...t.domain, ops: { ...t.domain.ops, map_pages: undefined } };
  expectErr(map(noMap, 1n, 0, K2), ENODEV, "map-nodev");
  expectErr(map({ ...t.domain, pgsize_bitmap: 0n }, 0n, 0, K2), ENODEV, "map-nodev");
  // map-align: IOVA, physical address and size must all be multiples of the smallest page.
  expectErr(map(t.domain, 1024n, 0, K2), EINVAL, "map-align");
  expectErr(map(t.domain, 0n, 1024, K2), EINVAL, "map-align");
  expectErr(map(t.domain, 0n, 0, K2 + 1024n), EINVAL, "map-align");
  assert.deepEqual(t.calls, [], "no check reached the driver");
  assert.equal(map(t.domain, 0n, 0, K2), 0);
});

Deno.test("iommu_map: a failing map_pages is rolled back, including its partial run", () => {
  // The second run (1 MiB pages) maps one of its two pages, then fails.
  const t = recorder(K2 | M1, { failMap: 2, partial: 1 });
  const rc = iommu_map(t.domain, 0xff000n, 0xff000, 3n * M1, PROT, GFP_KERNEL);
  expectErr(rc, EIO, "toy-map");
  assert.equal(t.pages.size, 0, "everything that was mapped is unmapped again");
  const unmaps = t.calls.filter((c) => c.op === "unmap");
  // The rollback covers 2 × 2 KiB and the 1 MiB page of the failed run, and no more.
  assert.deepEqual(unmaps.map((c) => [c.iova, c.pgsize, c.count]), [
    [0xff000n, K2, 2],
    [M1, M1, 1],
  ]);
  assert.equal(t.flushed.length, 1, "one IOTLB flush for the rollback");
});

Deno.test("iommu_map: a failing iotlb_sync_map unmaps the whole range, its errno passes", () => {
  const t = recorder(K2, { syncMap: () => fail(ENOMEM, "toy-sync", "no") });
  expectErr(iommu_map(t.domain, 0n, 0, 4n * K2, PROT, GFP_KERNEL), ENOMEM, "toy-sync");
  assert.equal(t.pages.size, 0);
});

Deno.test("iommu_unmap: nothing for bad requests, stops at a hole, flushes the gather once", () => {
  const t = recorder(K2);
  assert.equal(iommu_map(t.domain, 0n, 0, 4n * K2, PROT, GFP_KERNEL), 0);
  assert.equal(iommu_unmap({ ...t.domain, type: IOMMU_DOMAIN_NESTED }, 0n, K2), 0n);
  assert.equal(iommu_unmap({ ...t.domain, pgsize_bitmap: 0n }, 0n, K2), 0n);
  assert.equal(iommu_unmap(t.domain, 1024n, K2), 0n, "misaligned IOVA");
  assert.equal(iommu_unmap(t.domain, 0n, 1024n), 0n, "misaligned size");
  assert.equal(t.pages.size, 4);
  // A hole at the start: the driver unmaps nothing, so neither does the core.
  assert.equal(iommu_unmap(t.domain, 8n * K2, K2), 0n);
  t.flushed.length = 0;
  assert.equal(iommu_unmap(t.domain, K2, 2n * K2), 2n * K2);
  assert.deepEqual(t.flushed, [{ start: K2, end: 3n * K2 - 1n }]);
});

Deno.test("iommu_iotlb_gather: starts empty; iommu_iova_to_phys by domain type", () => {
  const g = new iommu_iotlb_gather();
  assert.equal(g.start, (1n << 64n) - 1n);
  assert.equal(g.end, 0n);
  const t = recorder(K2);
  assert.equal(iommu_iova_to_phys({ ...t.domain, type: IOMMU_DOMAIN_IDENTITY }, 0x1234n), 0x1234);
  assert.equal(iommu_iova_to_phys({ ...t.domain, type: IOMMU_DOMAIN_BLOCKED }, 0x1234n), 0);
  assert.equal(iommu_map(t.domain, 0x10000n, 0x42000, K2, PROT, GFP_KERNEL), 0);
  assert.equal(iommu_iova_to_phys(t.domain, 0x10000n), 0x42000);
});

Deno.test("iommu_dirty_bitmap: records into the bitmap and widens the gather", () => {
  const marked: [bigint, bigint][] = [];
  const bitmap: iova_bitmap = { set: (iova, length) => void marked.push([iova, length]) };
  const gather = new iommu_iotlb_gather();
  gather.start = 0n;
  const dirty = new iommu_dirty_bitmap();
  iommu_dirty_bitmap_init(dirty, bitmap, gather);
  assert.equal(gather.start, (1n << 64n) - 1n, "init empties the gather");
  iommu_dirty_bitmap_record(dirty, 0x5000n, 0x1000n);
  iommu_dirty_bitmap_record(dirty, 0x2000n, 0x800n);
  assert.deepEqual(marked, [[0x5000n, 0x1000n], [0x2000n, 0x800n]]);
  assert.deepEqual([gather.start, gather.end], [0x2000n, 0x5fffn]);
  // Neither half: recording is a no-op (iommufd clears stale bits this way).
  const none = new iommu_dirty_bitmap();
  iommu_dirty_bitmap_init(none, null, null);
  iommu_dirty_bitmap_record(none, 0n, 0x1000n);
  assert.equal(marked.length, 2);
});

Deno.test("generic_device_group and iommu_release_device: a group per device, freed with it", () => {
  const freed: iommu_domain[] = [];
  const empty: iommu_domain = {
    type: IOMMU_DOMAIN_IDENTITY,
    ops: { attach_dev: () => 0 },
    dirty_ops: null,
    owner: null,
    pgsize_bitmap: 0n,
    geometry: { aperture_start: 0n, aperture_end: 0n, force_aperture: false },
  };
  const ops: iommu_ops = {
    owner: "toy",
    pgsize_bitmap: K2,
    device_group: generic_device_group,
    domain_alloc_paging: () => ({
      ...empty,
      type: IOMMU_DOMAIN_UNMANAGED,
      ops: { attach_dev: () => 0, free: (d) => void freed.push(d) },
    }),
    identity_domain: empty,
  };
  const iommu = { ops, name: "toy0" };
  const a: device = { name: "a", iommu: null, iommu_group: null };
  const b: device = { name: "b", iommu: null, iommu_group: null };
  assert.equal(iommu_probe_device(a, iommu), 0);
  assert.equal(iommu_probe_device(b, iommu), 0);
  assert.notEqual(a.iommu_group, b.iommu_group, "one group per device");
  // Claiming gives the group a paging domain as its blocking domain (no static blocked domain).
  assert.equal(iommu_device_claim_dma_owner(a, "owner"), 0);
  const group = a.iommu_group!;
  const blocking = group.blocking_domain!;
  assert.equal(blocking.type, IOMMU_DOMAIN_UNMANAGED);
  assert.throws(() => iommu_release_device(a), /WARN/, "the group is still owned");
  assert.equal(a.iommu_group, group, "the refused release changed nothing");
  iommu_device_release_dma_owner(a);
  iommu_release_device(a);
  assert.equal(a.iommu, null);
  assert.equal(a.iommu_group, null);
  assert.deepEqual(freed, [blocking], "the blocking domain goes with the group; identity stays");
  assert.equal(group.default_domain, null);
  iommu_release_device(b);
  assert.equal(b.iommu_group, null);
});
