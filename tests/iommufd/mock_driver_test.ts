/**
 * The selftest's mock IOMMU driver (spec/11-mock-driver.md), driven directly as the iommu core
 * and iommufd drive it: devices, domain_alloc_user with every check, attach, map and unmap with
 * their markers, fault injection, nested IOTLBs and their invalidation, dirty tracking, hw_info,
 * the domain halves of the test operations, and what a mock domain charges to whom.
 */
import assert from "node:assert/strict";
import {
  __iommu_group_set_domain,
  type device,
  EFAULT,
  EINVAL,
  ENODEV,
  ENOMEM,
  EOPNOTSUPP,
  ErrnoError,
  GFP_KERNEL,
  GFP_KERNEL_ACCOUNT,
  IOMMU_CAP_CACHE_COHERENCY,
  IOMMU_CAP_DIRTY_TRACKING,
  IOMMU_CAP_ENFORCE_CACHE_COHERENCY,
  iommu_dirty_bitmap,
  iommu_dirty_bitmap_init,
  IOMMU_DIRTY_NO_CLEAR,
  type iommu_domain,
  IOMMU_DOMAIN_BLOCKED,
  iommu_domain_free,
  IOMMU_DOMAIN_NESTED,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_HW_INFO_SELFTEST_REGVAL,
  IOMMU_HW_INFO_TYPE_SELFTEST,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
  iommu_hwpt_invalidate_selftest,
  iommu_hwpt_selftest,
  iommu_iotlb_gather,
  iommu_iova_to_phys,
  iommu_map,
  iommu_paging_domain_alloc,
  iommu_probe_device,
  IOMMU_READ,
  iommu_test_hw_info,
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
  IOMMU_TEST_IOTLB_DEFAULT,
  iommu_unmap,
  type iommu_user_data,
  type iommu_user_data_array,
  IOMMU_WRITE,
  type iommufd_ctx,
  iommufd_device_bind,
  iommufd_device_unbind,
  type iommufd_hwpt_paging,
  iommufd_test_md_check_iotlb,
  IS_ERR,
  Machine,
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_START,
  mock_blocking_domain,
  mock_dev,
  mock_dev_create,
  mock_dev_destroy,
  MOCK_DIRTY_TRACK,
  MOCK_FLAGS_DEVICE_HUGE_IOVA,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_HUGE_PAGE_SIZE,
  MOCK_IO_PAGE_SIZE,
  mock_iommu_device,
  mock_iommu_domain,
  mock_iommu_domain_nested,
  MOCK_NESTED_DOMAIN_IOTLB_ID_MAX,
  mock_ops,
  MOCK_PFN_DIRTY_IOVA,
  MOCK_PFN_HUGE_IOVA,
  MOCK_PFN_LAST_IOVA,
  MOCK_PFN_MASK,
  MOCK_PFN_START_IOVA,
  mockTestDirty,
  obj_full_size,
  OOM_SCORE_ADJ_MIN,
  PAGE_SIZE,
  type Rc,
  to_mock_dev,
  to_mock_domain,
  to_mock_nested,
  xa_empty,
  xa_load,
} from "../../lib/internal.ts";

const P = MOCK_IO_PAGE_SIZE;
const A = MOCK_APERTURE_START;
const PROT = IOMMU_READ | IOMMU_WRITE;

/** A machine, a VMM task in a cgroup of its own, and `n` mock devices with the given flags. */
function setup(...flags: number[]) {
  const m = new Machine({ memory: 256 * 2 ** 20 });
  const cg = m.cgroups.create("/vmm");
  const vmm = m.spawn({ cgroup: cg });
  const devs = (flags.length ? flags : [0]).map((f) =>
    to_mock_dev(m.addDevice({ iommu: "mock0", flags: f }))
  );
  return { m, cg, vmm, dev: devs[0], devs };
}

type Setup = ReturnType<typeof setup>;

function expectErr(rc: unknown, errno: number, check: string): ErrnoError {
  assert.ok(rc instanceof ErrnoError, `expected ${check}, got ${String(rc)}`);
  assert.equal(rc.errno, errno, `${rc.name}: ${rc.message}`);
  assert.equal(rc.check, check);
  return rc;
}

/** domain_alloc_user, as iommufd calls it, in the VMM's context. */
function allocUser(
  s: Setup,
  flags: number,
  parent: iommu_domain | null = null,
  user_data: iommu_user_data | null = null,
  dev: device = s.dev,
): iommu_domain | ErrnoError {
  return s.vmm.task.syscall(() => mock_ops.domain_alloc_user!(dev, flags, parent, user_data));
}

function paging(s: Setup, flags = 0, dev: device = s.dev): mock_iommu_domain {
  const d = allocUser(s, flags, null, null, dev);
  if (IS_ERR(d)) throw d;
  return to_mock_domain(d);
}

/** struct iommu_hwpt_selftest in the VMM's memory, as IOMMU_HWPT_ALLOC's data. */
function selftestData(s: Setup, iotlb = IOMMU_TEST_IOTLB_DEFAULT, len = 4): iommu_user_data {
  const uptr = s.vmm.mmap(4096n);
  s.vmm.write(uptr, iommu_hwpt_selftest.encode({ iotlb }));
  return { type: IOMMU_HWPT_DATA_SELFTEST, uptr, len };
}

function nested(s: Setup, parent: iommu_domain, iotlb = IOMMU_TEST_IOTLB_DEFAULT) {
  const d = allocUser(s, 0, parent, selftestData(s, iotlb));
  if (IS_ERR(d)) throw d;
  return to_mock_nested(d);
}

function kernel<T>(s: Setup, fn: () => T): T {
  return s.vmm.task.syscall(fn);
}

Deno.test("constants: half-page IO pages, 1 MiB huge pages, the entry's fields", () => {
  assert.equal(MOCK_IO_PAGE_SIZE, BigInt(PAGE_SIZE / 2));
  assert.equal(MOCK_IO_PAGE_SIZE, 2048n);
  assert.equal(MOCK_HUGE_PAGE_SIZE, 1n << 20n);
  assert.equal(MOCK_PFN_MASK, (1n << 53n) - 1n);
  assert.equal(MOCK_PFN_START_IOVA, 1n << 53n);
  assert.equal(MOCK_PFN_LAST_IOVA, MOCK_PFN_START_IOVA, "START and LAST share a bit");
  assert.equal(MOCK_PFN_DIRTY_IOVA, 1n << 54n);
  assert.equal(MOCK_PFN_HUGE_IOVA, 1n << 55n);
  assert.equal(MOCK_DIRTY_TRACK, 1);
});

Deno.test("mock_ops: blocking default domain, one page size, the mock0 instance", () => {
  assert.equal(mock_ops.default_domain, mock_blocking_domain);
  assert.equal(mock_ops.blocked_domain, mock_blocking_domain);
  assert.equal(mock_blocking_domain.type, IOMMU_DOMAIN_BLOCKED);
  assert.equal(mock_ops.pgsize_bitmap, MOCK_IO_PAGE_SIZE);
  assert.equal(mock_iommu_device.name, "mock0");
  assert.equal(mock_iommu_device.ops, mock_ops);
});

Deno.test("mock_dev_create: flags, probed behind mock0, a group each, names from the IDA", () => {
  const s = setup(0, MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_HUGE_IOVA);
  const [d0, d1] = s.devs;
  assert.deepEqual([d0.name, d1.name], ["iommufd_mock0", "iommufd_mock1"]);
  assert.equal(d1.flags, MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_HUGE_IOVA);
  for (const d of s.devs) {
    assert.equal(d.iommu!.iommu_dev, mock_iommu_device);
    assert.equal(d.iommu_group!.default_domain, mock_blocking_domain);
    assert.equal(d.iommu_group!.domain, mock_blocking_domain, "DMA is blocked from the start");
  }
  assert.notEqual(d0.iommu_group, d1.iommu_group, "every mock device has a group of its own");
  // Unknown flags.
  expectErr(s.m.kernel(() => mock_dev_create(1 << 2)), EINVAL, "mock-dev-flags");
  // No memory for the structure.
  s.m.kthreadd.fail_nth = 1;
  expectErr(s.m.kernel(() => mock_dev_create(0)), ENOMEM, "mock-dev-nomem");
  assert.equal(s.m.kthreadd.injectedFault, "failslab");
  // Destroying releases the device from the IOMMU and its number for reuse.
  s.m.kernel(() => mock_dev_destroy(d0));
  assert.equal(d0.iommu, null);
  assert.equal(d0.iommu_group, null);
  assert.equal(d0.mem.live, false);
  const again = s.m.kernel(() => mock_dev_create(0));
  assert.ok(again instanceof mock_dev);
  assert.equal(again.name, "iommufd_mock0");
});

Deno.test("mock_probe_device: a device that is not on the mock bus is refused", () => {
  const s = setup();
  const other: device = { name: "pci0", iommu: null, iommu_group: null };
  expectErr(
    s.m.kernel(() => iommu_probe_device(other, mock_iommu_device)),
    ENODEV,
    "mock-probe-bus",
  );
  assert.equal(other.iommu, null);
});

Deno.test("capable: cache coherent always, dirty tracking unless NO_DIRTY", () => {
  const { devs: [dev, nodirty] } = setup(0, MOCK_FLAGS_DEVICE_NO_DIRTY);
  assert.equal(mock_ops.capable!(dev, IOMMU_CAP_CACHE_COHERENCY), true);
  assert.equal(mock_ops.capable!(dev, IOMMU_CAP_DIRTY_TRACKING), true);
  assert.equal(mock_ops.capable!(nodirty, IOMMU_CAP_CACHE_COHERENCY), true);
  assert.equal(mock_ops.capable!(nodirty, IOMMU_CAP_DIRTY_TRACKING), false);
  assert.equal(mock_ops.capable!(dev, IOMMU_CAP_ENFORCE_CACHE_COHERENCY), false);
});

Deno.test("hw_info: 8 bytes of struct iommu_test_hw_info, type 0xfeedbeef; ENOMEM", () => {
  const s = setup();
  const info = kernel(s, () => mock_ops.hw_info!(s.dev));
  assert.ok(!IS_ERR(info));
  assert.equal(info.type, IOMMU_HW_INFO_TYPE_SELFTEST);
  assert.equal(info.type, 0xfeedbeef);
  assert.deepEqual([...info.data], [0, 0, 0, 0, 0xef, 0xbe, 0xad, 0xde]);
  assert.deepEqual(iommu_test_hw_info.decode(info.data), {
    flags: 0,
    test_reg: IOMMU_HW_INFO_SELFTEST_REGVAL,
  });
  s.vmm.task.fail_nth = 1;
  expectErr(kernel(s, () => mock_ops.hw_info!(s.dev)), ENOMEM, "mock-hw-info-nomem");
});

Deno.test("domain_alloc_user, paging: the checks in v6.12 order", () => {
  const s = setup(0, MOCK_FLAGS_DEVICE_NO_DIRTY, MOCK_FLAGS_DEVICE_HUGE_IOVA);
  const [, nodirty, huge] = s.devs;
  const data = selftestData(s);
  // mock-alloc-paging-flags: anything beyond NEST_PARENT | DIRTY_TRACKING, including the flag
  // iommufd keeps for itself; checked before the data.
  expectErr(allocUser(s, 1 << 7), EOPNOTSUPP, "mock-alloc-paging-flags");
  expectErr(allocUser(s, IOMMU_HWPT_FAULT_ID_VALID), EOPNOTSUPP, "mock-alloc-paging-flags");
  expectErr(allocUser(s, 1 << 7, null, data), EOPNOTSUPP, "mock-alloc-paging-flags");
  // mock-alloc-paging-data: any driver data, or dirty tracking for a NO_DIRTY device.
  expectErr(allocUser(s, 0, null, data), EOPNOTSUPP, "mock-alloc-paging-data");
  expectErr(
    allocUser(s, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, null, null, nodirty),
    EOPNOTSUPP,
    "mock-alloc-paging-data",
  );
  // mock-alloc-nomem
  s.vmm.task.fail_nth = 1;
  expectErr(allocUser(s, 0), ENOMEM, "mock-alloc-nomem");
  // Success: an UNMANAGED domain with the mock's aperture and page size.
  const d = paging(s, IOMMU_HWPT_ALLOC_NEST_PARENT);
  assert.equal(d.type, IOMMU_DOMAIN_UNMANAGED);
  assert.equal(d.ops, mock_ops.default_domain_ops);
  assert.equal(d.dirty_ops, null);
  assert.equal(d.pgsize_bitmap, MOCK_IO_PAGE_SIZE);
  assert.deepEqual(d.geometry, {
    aperture_start: MOCK_APERTURE_START,
    aperture_end: MOCK_APERTURE_LAST,
    force_aperture: false,
  });
  assert.equal(d.owner, null, "iommufd, not the driver, sets the owner");
  assert.ok(paging(s, IOMMU_HWPT_ALLOC_DIRTY_TRACKING).dirty_ops);
  assert.ok(paging(s, 0, nodirty), "NO_DIRTY devices get plain domains");
  assert.equal(paging(s, 0, huge).pgsize_bitmap, MOCK_IO_PAGE_SIZE | MOCK_HUGE_PAGE_SIZE);
});

Deno.test("domain_alloc_user, nested: the checks in v6.12 order; IOTLB slots from the data", () => {
  const s = setup();
  const parent = paging(s, IOMMU_HWPT_ALLOC_NEST_PARENT);
  const data = selftestData(s, 0x1234);
  // mock-alloc-nested-type: another data type, or any flag; checked before the parent.
  const wrongType = { ...data, type: IOMMU_HWPT_DATA_SELFTEST + 1 };
  expectErr(allocUser(s, 0, parent, wrongType), EOPNOTSUPP, "mock-alloc-nested-type");
  expectErr(
    allocUser(s, 0, parent, { ...data, type: IOMMU_HWPT_DATA_NONE }),
    EOPNOTSUPP,
    "mock-alloc-nested-type",
  );
  expectErr(
    allocUser(s, IOMMU_HWPT_ALLOC_NEST_PARENT, parent, data),
    EOPNOTSUPP,
    "mock-alloc-nested-type",
  );
  expectErr(allocUser(s, 0, parent, null), EOPNOTSUPP, "mock-alloc-nested-type");
  expectErr(allocUser(s, 0, mock_blocking_domain, wrongType), EOPNOTSUPP, "mock-alloc-nested-type");
  // mock-alloc-nested-parent: a nested domain, the blocking domain, another driver's domain.
  const n0 = nested(s, parent);
  expectErr(allocUser(s, 0, n0, data), EINVAL, "mock-alloc-nested-parent");
  expectErr(allocUser(s, 0, mock_blocking_domain, data), EINVAL, "mock-alloc-nested-parent");
  const foreign = { ...parent, ops: { attach_dev: () => 0 as Rc } };
  expectErr(allocUser(s, 0, foreign, data), EINVAL, "mock-alloc-nested-parent");
  // The copy: data_len must be exactly 4, and the pointer readable.
  expectErr(allocUser(s, 0, parent, { ...data, len: 3 }), EINVAL, "copy-user-len");
  expectErr(allocUser(s, 0, parent, { ...data, len: 5 }), EINVAL, "copy-user-len");
  expectErr(allocUser(s, 0, parent, { ...data, uptr: 0n }), EFAULT, "copy-struct-fault");
  // mock-alloc-nomem (the copy does not allocate, so the first failure point is the structure).
  s.vmm.task.fail_nth = 1;
  expectErr(allocUser(s, 0, parent, data), ENOMEM, "mock-alloc-nomem");
  // Success: every slot holds the user's value.
  const n = nested(s, parent, 0x1234);
  assert.ok(n instanceof mock_iommu_domain_nested);
  assert.equal(n.type, IOMMU_DOMAIN_NESTED);
  assert.equal(n.parent, parent);
  assert.deepEqual(n.iotlb, [0x1234, 0x1234, 0x1234, 0x1234]);
  for (let id = 0; id <= MOCK_NESTED_DOMAIN_IOTLB_ID_MAX; id++) {
    assert.equal(iommufd_test_md_check_iotlb(n, id, 0x1234), 0);
  }
  kernel(s, () => {
    iommu_domain_free(n);
    iommu_domain_free(n0);
    iommu_domain_free(parent);
  });
  assert.equal(n.mem.live, false);
  assert.equal(parent.mem.live, false);
});

Deno.test("attach: a dirty-tracking domain refuses a NO_DIRTY device with EINVAL", () => {
  const s = setup(0, MOCK_FLAGS_DEVICE_NO_DIRTY);
  const [dev, nodirty] = s.devs;
  const dirty = paging(s, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
  const plain = paging(s);
  const attach = mock_ops.default_domain_ops!.attach_dev!;
  assert.equal(attach(dirty, dev), 0);
  assert.equal(attach(plain, nodirty), 0);
  expectErr(attach(dirty, nodirty), EINVAL, "mock-attach-dirty");
  // Through the core: the group stays where it was.
  const group = nodirty.iommu_group!;
  expectErr(__iommu_group_set_domain(group, dirty), EINVAL, "mock-attach-dirty");
  assert.equal(group.domain, mock_blocking_domain);
  assert.equal(__iommu_group_set_domain(group, plain), 0);
  // Nested domains attach with the same operation.
  const n = nested(s, paging(s, IOMMU_HWPT_ALLOC_NEST_PARENT));
  assert.equal(n.ops.attach_dev!(n, nodirty), 0);
});

Deno.test("map and unmap: one entry per IO page, START and LAST markers, translation", () => {
  const s = setup();
  const d = paging(s);
  kernel(s, () => {
    assert.equal(iommu_map(d, A, 0x40000, 4n * P, PROT, GFP_KERNEL_ACCOUNT), 0);
    assert.equal(iommu_map(d, A + 8n * P, 0x80000, P, PROT, GFP_KERNEL_ACCOUNT), 0);
  });
  const ent = (iova: bigint) => xa_load(d.pfns, Number(iova / P));
  assert.equal(ent(A), (0x40000n / P) | MOCK_PFN_START_IOVA);
  assert.equal(ent(A + P), (0x40000n / P) + 1n, "no marker in the middle");
  assert.equal(ent(A + 2n * P), (0x40000n / P) + 2n);
  assert.equal(ent(A + 3n * P), (0x40000n / P + 3n) | MOCK_PFN_LAST_IOVA);
  assert.equal(ent(A + 4n * P), null);
  assert.equal(ent(A + 8n * P), (0x80000n / P) | MOCK_PFN_START_IOVA, "a one-page map: both");
  for (let k = 0n; k < 4n; k++) {
    assert.equal(iommu_iova_to_phys(d, A + k * P), 0x40000 + Number(k * P));
  }
  // Unmapped: WARN_ON(!ent), counted, and 0 as the kernel answers (pages.c reaches it).
  assert.equal(iommu_iova_to_phys(d, A + 4n * P), 0, "unmapped");
  assert.equal(d.unmappedReads, 1);
  assert.throws(() => iommu_iova_to_phys(d, A + 1024n), /WARN/, "inside an IO page");
  kernel(s, () => {
    assert.equal(iommu_unmap(d, A, 4n * P), 4n * P);
    assert.equal(iommu_unmap(d, A + 8n * P, P), P);
  });
  assert.ok(xa_empty(d.pfns));
  assert.equal(d.pfns.nodes.size, 0, "the nodes went with the last entry");
  kernel(s, () => iommu_domain_free(d));
});

Deno.test("unmap: splitting a mapping, or mapping over one, is a bug the mock catches", () => {
  const s = setup();
  const d = paging(s);
  kernel(s, () => assert.equal(iommu_map(d, A, 0, 4n * P, PROT, GFP_KERNEL), 0));
  assert.throws(() => kernel(s, () => iommu_unmap(d, A + P, P)), /starts inside a mapping/);
  assert.throws(() => kernel(s, () => iommu_map(d, A, 0, P, PROT, GFP_KERNEL)), /over a mapped/);
  assert.throws(() => kernel(s, () => iommu_domain_free(d)), /IOVAs mapped/);
});

Deno.test("huge IO pages: runs of 1 MiB pages store 512 entries each, marked huge", () => {
  const s = setup(MOCK_FLAGS_DEVICE_HUGE_IOVA);
  const d = paging(s);
  const H = MOCK_HUGE_PAGE_SIZE;
  // One small page, one huge page, one small page: three runs.
  kernel(
    s,
    () => assert.equal(iommu_map(d, A - P, 0x200000 - 2048, H + 2n * P, PROT, GFP_KERNEL), 0),
  );
  const ent = (iova: bigint) => xa_load(d.pfns, Number(iova / P))!;
  assert.equal(ent(A - P) & (MOCK_PFN_HUGE_IOVA | MOCK_PFN_START_IOVA), MOCK_PFN_START_IOVA);
  assert.equal(ent(A) & MOCK_PFN_HUGE_IOVA, MOCK_PFN_HUGE_IOVA);
  assert.equal(ent(A) & MOCK_PFN_START_IOVA, MOCK_PFN_START_IOVA, "the huge run's first entry");
  assert.equal(ent(A + H - P) & MOCK_PFN_LAST_IOVA, MOCK_PFN_LAST_IOVA, "and its last");
  assert.equal(ent(A + H / 2n) & (MOCK_PFN_HUGE_IOVA | MOCK_PFN_START_IOVA), MOCK_PFN_HUGE_IOVA);
  assert.equal(ent(A + H) & MOCK_PFN_HUGE_IOVA, 0n);
  assert.equal(d.pfns.entries.size, 514);
  // Unmapping in other runs than the map's is legal with huge pages: no marker checks.
  kernel(s, () => {
    assert.equal(iommu_unmap(d, A - P, 2n * P), 2n * P);
    assert.equal(iommu_unmap(d, A + P, H), H);
  });
  assert.ok(xa_empty(d.pfns));
});

Deno.test("map_pages under fault injection: ENOENT, or an xarray ENOMEM, and nothing stays mapped", () => {
  // A huge-page device makes iommu_map() call map_pages twice; fail every failure point in turn.
  const s = setup(MOCK_FLAGS_DEVICE_HUGE_IOVA);
  const d = paging(s);
  const seen = new Set<string>();
  for (let nth = 1;; nth++) {
    const before = Number(s.cg.read("memory.current"));
    s.vmm.task.fail_nth = nth;
    const rc = kernel(
      s,
      () => iommu_map(d, A, 0x100000, MOCK_HUGE_PAGE_SIZE + P, PROT, GFP_KERNEL_ACCOUNT),
    );
    s.vmm.task.fail_nth = 0;
    if (rc === 0) break;
    seen.add(`${rc.check} ${s.vmm.task.injectedFault}`);
    assert.ok(xa_empty(d.pfns), `fail-nth ${nth}: ${rc.check} left entries`);
    assert.equal(d.pfns.nodes.size, 0, `fail-nth ${nth}: nodes left`);
    assert.ok(Number(s.cg.read("memory.current")) <= before + PAGE_SIZE);
  }
  // Only the injection point fails the call: a node allocation failed by fail-nth is retried by
  // __xas_nomem() with the caller's flags (lib/xarray.c), which is why the kernel has the point.
  assert.deepEqual([...seen], ["mock-map-inject fail_iommufd"]);
  assert.equal(d.pfns.entries.size, 513);
});

/** An invalidation array of selftest entries in the VMM's memory. */
function invArray(
  s: Setup,
  entries: { flags: number; iotlb_id: number }[],
  over: Partial<iommu_user_data_array> = {},
): iommu_user_data_array {
  const uptr = s.vmm.mmap(4096n);
  entries.forEach((e, k) =>
    s.vmm.write(uptr + BigInt(8 * k), iommu_hwpt_invalidate_selftest.encode(e))
  );
  return {
    type: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
    uptr,
    entry_len: iommu_hwpt_invalidate_selftest.sizeof,
    entry_num: entries.length,
    ...over,
  };
}

Deno.test("cache_invalidate_user: every check, ALL, and entry_num := processed", () => {
  const s = setup();
  const n = nested(s, paging(s, IOMMU_HWPT_ALLOC_NEST_PARENT));
  const inv = (array: iommu_user_data_array) => {
    const rc = kernel(s, () => n.ops.cache_invalidate_user!(n, array));
    return { rc, processed: array.entry_num };
  };
  const D = IOMMU_TEST_IOTLB_DEFAULT;
  const req = (flags: number, iotlb_id: number) => ({ flags, iotlb_id });
  // An empty array of the right type asks only whether the type is understood.
  assert.deepEqual(inv(invArray(s, [])), { rc: 0, processed: 0 });
  // Wrong type: EINVAL with nothing processed, even for an empty array.
  let r = inv(invArray(s, [], { type: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID }));
  expectErr(r.rc, EINVAL, "mock-inv-type");
  assert.equal(r.processed, 0);
  r = inv(invArray(s, [req(0, 0)], { type: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID }));
  expectErr(r.rc, EINVAL, "mock-inv-type");
  // entry_len must be exactly 8.
  for (const entry_len of [9, 7, 1]) {
    r = inv(invArray(s, [req(0, 0)], { entry_len }));
    expectErr(r.rc, EINVAL, "copy-user-len");
    assert.equal(r.processed, 0);
  }
  // An unreadable array.
  r = inv(invArray(s, [req(0, 0)], { uptr: 0n }));
  expectErr(r.rc, EFAULT, "copy-struct-fault");
  // Bad flags, bad iotlb_id.
  r = inv(invArray(s, [req(0xffffffff, 0)]));
  expectErr(r.rc, EOPNOTSUPP, "mock-inv-flags");
  assert.equal(r.processed, 0);
  r = inv(invArray(s, [req(0, MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1)]));
  expectErr(r.rc, EINVAL, "mock-inv-id");
  assert.deepEqual(n.iotlb, [D, D, D, D], "nothing was invalidated so far");
  // The first entry is handled, the second fails: entry_num is 1.
  r = inv(invArray(s, [req(0, 0), req(0xffffffff, 1)]));
  expectErr(r.rc, EOPNOTSUPP, "mock-inv-flags");
  assert.equal(r.processed, 1);
  r = inv(invArray(s, [req(0, 1), req(0, MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1), req(0, 2)]));
  expectErr(r.rc, EINVAL, "mock-inv-id");
  assert.equal(r.processed, 1);
  assert.deepEqual(n.iotlb, [0, 0, D, D]);
  assert.equal(iommufd_test_md_check_iotlb(n, 2, D), 0);
  // ALL ignores iotlb_id, but only after checking it.
  r = inv(invArray(s, [req(IOMMU_TEST_INVALIDATE_FLAG_ALL, 7)]));
  expectErr(r.rc, EINVAL, "mock-inv-id");
  assert.deepEqual(n.iotlb, [0, 0, D, D]);
  r = inv(invArray(s, [req(IOMMU_TEST_INVALIDATE_FLAG_ALL, 1)]));
  assert.deepEqual(r, { rc: 0, processed: 1 });
  assert.deepEqual(n.iotlb, [0, 0, 0, 0]);
});

/** A bitmap that records the ranges reported into it. */
function recording() {
  const ranges: [bigint, bigint][] = [];
  const dirty = new iommu_dirty_bitmap();
  const gather = new iommu_iotlb_gather();
  iommu_dirty_bitmap_init(
    dirty,
    { set: (iova, length) => void ranges.push([iova, length]) },
    gather,
  );
  return { ranges, dirty, gather };
}

/** IOMMU_TEST_OP_DIRTY's domain half with a bitmap of the given bit numbers. */
function markDirty(
  d: iommu_domain,
  iova: bigint,
  length: bigint,
  page_size: bigint,
  bits: number[],
) {
  return mockTestDirty(d, iova, length, page_size, (nbytes) => {
    const bitmap = new Uint8Array(nbytes);
    for (const b of bits) bitmap[b >> 3] |= 1 << (b & 7);
    return bitmap;
  });
}

Deno.test("dirty tracking: switch, mark, read into a bitmap, clear, NO_CLEAR, tracking off", () => {
  const s = setup();
  const d = paging(s, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
  const ops = d.dirty_ops!;
  kernel(s, () => assert.equal(iommu_map(d, A, 0, 8n * P, PROT, GFP_KERNEL_ACCOUNT), 0));
  const read = (flags = 0, r = recording(), iova = A, size = 8n * P) => {
    const rc = kernel(s, () => ops.read_and_clear_dirty!(d, iova, size, flags, r.dirty));
    assert.equal(rc, 0);
    return r.ranges;
  };
  // Tracking off: marking is refused, and so is reading into a bitmap.
  expectErr(markDirty(d, A, 8n * P, P, [0]), EINVAL, "test-dirty-off");
  expectErr(
    kernel(s, () => ops.read_and_clear_dirty!(d, A, 8n * P, 0, recording().dirty)),
    EINVAL,
    "mock-dirty-off",
  );
  assert.equal(ops.set_dirty_tracking(d, true), 0);
  assert.equal(d.flags & MOCK_DIRTY_TRACK, MOCK_DIRTY_TRACK);
  assert.equal(markDirty(d, A, 8n * P, P, [0, 2, 5, 7, 9]), 4, "bit 9 is past the range");
  const expected = [0n, 2n, 5n, 7n].map((k): [bigint, bigint] => [A + k * P, P]);
  const r = recording();
  assert.deepEqual(read(0, r), expected);
  assert.deepEqual([r.gather.start, r.gather.end], [A, A + 8n * P - 1n], "the flush range");
  assert.deepEqual(read(), [], "read and cleared");
  // NO_CLEAR reports and leaves the bits.
  assert.equal(markDirty(d, A, 8n * P, P, [1, 6]), 2);
  const again: [bigint, bigint][] = [[A + P, P], [A + 6n * P, P]];
  assert.deepEqual(read(IOMMU_DIRTY_NO_CLEAR), again);
  assert.deepEqual(read(IOMMU_DIRTY_NO_CLEAR), again);
  assert.deepEqual(read(), again);
  assert.deepEqual(read(), []);
  // Unmapped IOVAs are skipped.
  assert.equal(markDirty(d, A, 8n * P, P, [3]), 1);
  assert.deepEqual(read(0, recording(), A - 4n * P, 16n * P), [[A + 3n * P, P]]);
  // Tracking off: without a bitmap, reading still cleans (what iommufd does before enabling).
  assert.equal(markDirty(d, A, 8n * P, P, [4]), 1);
  assert.equal(ops.set_dirty_tracking(d, false), 0);
  const none = new iommu_dirty_bitmap();
  assert.equal(kernel(s, () => ops.read_and_clear_dirty!(d, A, 8n * P, 0, none)), 0);
  assert.equal(ops.set_dirty_tracking(d, true), 0);
  assert.deepEqual(read(), [], "the stale bit was cleaned");
  // Enabling on a domain without dirty operations.
  const plain = paging(s);
  expectErr(ops.set_dirty_tracking(plain, true), EINVAL, "mock-dirty-enable");
  assert.equal(ops.set_dirty_tracking(plain, false), 0);
  kernel(s, () => iommu_unmap(d, A, 8n * P));
});

Deno.test("dirty tracking over huge pages: a dirty entry reports its whole huge page", () => {
  const s = setup(MOCK_FLAGS_DEVICE_HUGE_IOVA);
  const d = paging(s, IOMMU_HWPT_ALLOC_DIRTY_TRACKING);
  const H = MOCK_HUGE_PAGE_SIZE;
  kernel(s, () => assert.equal(iommu_map(d, A, 0x400000, 2n * H, PROT, GFP_KERNEL), 0));
  assert.equal(d.dirty_ops!.set_dirty_tracking(d, true), 0);
  const read = (iova: bigint, size: bigint, flags = IOMMU_DIRTY_NO_CLEAR) => {
    const r = recording();
    assert.equal(d.dirty_ops!.read_and_clear_dirty!(d, iova, size, flags, r.dirty), 0);
    return r.ranges;
  };
  // One 2 KiB entry of the second huge page is dirty.
  assert.equal(markDirty(d, A, 2n * H, P, [512 + 3]), 1);
  assert.deepEqual(read(A, 2n * H), [[A + H, H]], "the walk steps a huge page at a time");
  // v6.12 reports from where the walk is, not from the huge page's head.
  assert.deepEqual(read(A + H + 2n * P, H - 2n * P), [[A + H + 2n * P, H]]);
  assert.deepEqual(read(A + H, H, 0), [[A + H, H]]);
  assert.deepEqual(read(A, 2n * H), [], "cleared");
  kernel(s, () => iommu_unmap(d, A, 2n * H));
});

Deno.test("mockTestDirty and iommufd_test_md_check_iotlb: their checks", () => {
  const s = setup();
  const d = paging(s, IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_NEST_PARENT);
  const n = nested(s, d);
  expectErr(markDirty(d, A, 8n * P, P, []), EINVAL, "test-dirty-off");
  // The bitmap is read only after the checks, and its errors pass through.
  let asked = 0;
  const failing = () => (asked++, new ErrnoError(EFAULT, "copy-struct-fault", "no bitmap"));
  expectErr(mockTestDirty(d, A, 8n * P, P, failing), EINVAL, "test-dirty-off");
  assert.equal(asked, 0);
  d.dirty_ops!.set_dirty_tracking(d, true);
  expectErr(mockTestDirty(d, A, 8n * P, P, failing), EFAULT, "copy-struct-fault");
  assert.equal(markDirty(d, A, 8n * P, P, [0, 1]), 0, "nothing is mapped");
  // md-check-iotlb
  expectErr(iommufd_test_md_check_iotlb(d, 0, 0), EINVAL, "md-check-iotlb-nested");
  expectErr(
    iommufd_test_md_check_iotlb(n, MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1, IOMMU_TEST_IOTLB_DEFAULT),
    EINVAL,
    "md-check-iotlb-value",
  );
  expectErr(iommufd_test_md_check_iotlb(n, 0, 0), EINVAL, "md-check-iotlb-value");
  assert.equal(iommufd_test_md_check_iotlb(n, 0, IOMMU_TEST_IOTLB_DEFAULT), 0);
});

Deno.test("iommu_paging_domain_alloc: a kernel domain from the same allocator", () => {
  const s = setup(MOCK_FLAGS_DEVICE_HUGE_IOVA);
  const d = kernel(s, () => iommu_paging_domain_alloc(s.dev));
  assert.ok(d instanceof mock_iommu_domain);
  assert.equal(d.type, IOMMU_DOMAIN_UNMANAGED);
  assert.equal(d.owner, mock_ops, "the core sets the owner");
  assert.equal(d.dirty_ops, null);
  assert.equal(d.pgsize_bitmap, MOCK_IO_PAGE_SIZE | MOCK_HUGE_PAGE_SIZE);
});

/** memory.current and the slab counters of memory.stat. */
function charge(s: Setup) {
  const stat = Object.fromEntries(
    s.cg.read("memory.stat").trim().split("\n").map((l) => l.split(" ")).map((
      [k, v],
    ) => [k, Number(v)]),
  );
  return {
    current: Number(s.cg.read("memory.current")),
    slab_reclaimable: stat.slab_reclaimable,
    slab_unreclaimable: stat.slab_unreclaimable,
  };
}

Deno.test("memory: a mock user domain charges nothing of the driver's, not even its IOPTE nodes; nor does a kernel domain", () => {
  const s = setup();
  const data = selftestData(s); // user memory, charged to the cgroup like any other
  const start = charge(s);
  // A user domain, as iommufd makes it and fills it (GFP_KERNEL_ACCOUNT).
  const user = paging(s, IOMMU_HWPT_ALLOC_NEST_PARENT);
  const n = to_mock_nested(allocUser(s, 0, user, data) as iommu_domain);
  assert.deepEqual(charge(s), start, "the domain structures are GFP_KERNEL: not charged");
  kernel(s, () => assert.equal(iommu_map(user, A, 0x100000, 64n * P, PROT, GFP_KERNEL_ACCOUNT), 0));
  assert.ok(user.pfns.nodes.size > 0, "the table has nodes…");
  // lib/xarray.c xas_alloc(): GFP_NOWAIT | __GFP_NOWARN, __GFP_ACCOUNT only for XA_FLAGS_ACCOUNT.
  assert.deepEqual(charge(s), start, "…allocated uncharged: the xarray is not XA_FLAGS_ACCOUNT");
  kernel(s, () => assert.equal(iommu_unmap(user, A, 64n * P), 64n * P));
  assert.deepEqual(charge(s), start);
  kernel(s, () => {
    iommu_domain_free(n);
    iommu_domain_free(user);
  });
  // A kernel domain, mapped with GFP_KERNEL, even on behalf of a task in the cgroup.
  const before = charge(s);
  const kdom = kernel(s, () => iommu_paging_domain_alloc(s.dev));
  assert.ok(kdom instanceof mock_iommu_domain);
  kernel(s, () => assert.equal(iommu_map(kdom, A, 0x100000, 64n * P, PROT, GFP_KERNEL), 0));
  assert.ok(kdom.pfns.nodes.size > 0, "the table has nodes…");
  assert.deepEqual(charge(s), before, "…that nobody is charged for");
  kernel(s, () => {
    iommu_unmap(kdom, A, 64n * P);
    iommu_domain_free(kdom);
  });
  assert.deepEqual(charge(s), before);
});

Deno.test("memory: at memory.max a mock domain's table still maps: its nodes are not charged", () => {
  const s = setup();
  const user = paging(s);
  // No room beyond what is charged already, and nobody the OOM killer may kill.
  s.vmm.task.signal.oom_score_adj = OOM_SCORE_ADJ_MIN;
  s.cg.write("memory.max", String(charge(s).current));
  const before = charge(s);
  kernel(s, () => assert.equal(iommu_map(user, A, 0x100000, 64n * P, PROT, GFP_KERNEL_ACCOUNT), 0));
  assert.deepEqual(charge(s), before);
  assert.match(s.cg.read("memory.events"), /^max 0$/m, "no charge was even tried");
  kernel(s, () => iommu_unmap(user, A, 64n * P));
});

Deno.test("memory: IOMMU_HWPT_ALLOC on a mock device charges the HWPT object, not the domain", () => {
  const s = setup();
  const fd = s.vmm.openIommufd();
  const ictx = s.vmm.task.files!.fdt.get(fd.fd)!.private_data as iommufd_ctx;
  // Bind in the kernel, as VFIO's IOMMUFD_BIND would.
  const idev = s.vmm.task.syscall(() => iommufd_device_bind(ictx, s.dev));
  if (IS_ERR(idev)) throw idev;
  const ioas_id = fd.ioasAlloc();
  const before = charge(s);
  const hwpt_id = fd.hwptAlloc({
    dev_id: idev.id,
    pt_id: ioas_id,
    flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  });
  const hwpt = xa_load(ictx.objects, hwpt_id) as iommufd_hwpt_paging;
  const mock = to_mock_domain(hwpt.domain!);
  assert.equal(mock.owner, mock_ops, "iommufd set the owner");
  assert.ok(hwpt.mem!.objcg, "iommufd's object is charged to the VMM's cgroup");
  assert.equal(mock.mem.objcg, null, "the mock's domain structure is not (v6.12)");
  // Charged: the HWPT object, and the IOAS's reservations of the IOVAs outside the aperture.
  const reserved = hwpt.ioas.iopt.reserved_itree.nodes.filter((r) => r.owner === mock);
  assert.equal(reserved.length, 2);
  const iommufd_bytes = [hwpt.mem!, ...reserved.map((r) => r.mem)]
    .reduce((sum, mem) => sum + obj_full_size(mem.cache!), 0);
  const after = charge(s);
  assert.equal(after.slab_unreclaimable - before.slab_unreclaimable, iommufd_bytes);
  fd.destroy(hwpt_id);
  assert.equal(charge(s).slab_unreclaimable, before.slab_unreclaimable);
  s.vmm.task.syscall(() => iommufd_device_unbind(idev));
  fd.close();
});
