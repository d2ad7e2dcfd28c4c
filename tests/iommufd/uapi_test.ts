import assert from "node:assert/strict";
import type { RootContent, Table } from "mdast";
import { parseMarkdown, textOf } from "../../tools/literate/spec.ts";
import * as model from "../../lib/internal.ts";
import {
  _IOC_NR,
  defineStruct,
  EINVAL,
  EOPNOTSUPP,
  fail,
  formatIoctl,
  formatStruct,
  IOMMU_DESTROY,
  iommu_destroy,
  IOMMU_FAULT_QUEUE_ALLOC,
  IOMMU_GET_HW_INFO,
  IOMMU_HW_CAP_DIRTY_TRACKING,
  iommu_hw_info,
  IOMMU_HW_INFO_SELFTEST_REGVAL,
  IOMMU_HW_INFO_TYPE_INTEL_VTD,
  IOMMU_HW_INFO_TYPE_NONE,
  IOMMU_HW_INFO_TYPE_SELFTEST,
  IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17,
  IOMMU_HWPT_ALLOC,
  iommu_hwpt_alloc,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_HWPT_GET_DIRTY_BITMAP,
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,
  IOMMU_HWPT_INVALIDATE,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  iommu_hwpt_invalidate_selftest,
  iommu_hwpt_pgfault,
  IOMMU_HWPT_SET_DIRTY_TRACKING,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_COPY,
  IOMMU_IOAS_IOVA_RANGES,
  iommu_ioas_iova_ranges,
  IOMMU_IOAS_MAP,
  iommu_ioas_map,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
  IOMMU_OPTION,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  IOMMU_PGFAULT_FLAGS_LAST_PAGE,
  IOMMU_PGFAULT_FLAGS_PASID_VALID,
  IOMMU_PGFAULT_PERM_EXEC,
  IOMMU_PGFAULT_PERM_PRIV,
  IOMMU_PGFAULT_PERM_READ,
  IOMMU_PGFAULT_PERM_WRITE,
  IOMMU_TEST_CMD,
  iommu_test_hw_info,
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
  IOMMU_TEST_IOTLB_DEFAULT,
  IOMMU_TEST_OP_ADD_RESERVED,
  IOMMU_TEST_OP_MD_CHECK_IOTLB,
  IOMMU_TEST_OP_MOCK_DOMAIN,
  IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
  IOMMU_TEST_OP_TRIGGER_IOPF,
  IOMMU_VFIO_IOAS,
  IOMMU_VFIO_IOAS_CLEAR,
  IOMMU_VFIO_IOAS_GET,
  IOMMU_VFIO_IOAS_SET,
  IOMMU_VTD_INV_FLAGS_LEAF,
  IOMMU_VTD_S1_EAFE,
  IOMMU_VTD_S1_SRE,
  IOMMU_VTD_S1_WPE,
  IOMMUFD_CMD_BASE,
  IOMMUFD_PAGE_RESP_INVALID,
  IOMMUFD_PAGE_RESP_SUCCESS,
  IOMMUFD_TYPE,
  iommufdIoctls,
  MOCK_APERTURE_LAST,
  MOCK_APERTURE_START,
  MOCK_FLAGS_DEVICE_HUGE_IOVA,
  MOCK_FLAGS_DEVICE_NO_DIRTY,
  MOCK_NESTED_DOMAIN_IOTLB_ID_MAX,
  MOCK_NESTED_DOMAIN_IOTLB_NUM,
  Struct,
} from "../../lib/internal.ts";

const SPEC = new URL("../../spec/", import.meta.url);

/** Every struct descriptor exported from mod.ts, by struct name. */
const structs = new Map<string, Struct>(
  Object.values(model as Record<string, unknown>).filter((v): v is Struct => v instanceof Struct)
    .map((s) => [s.name, s]),
);

/**
 * The layouts of include/uapi/linux/iommufd.h and drivers/iommu/iommufd/iommufd_test.h (v6.12) on
 * x86-64/arm64, written out from the reference notes: sizeof, then "offset field type" per field.
 */
const KERNEL_LAYOUTS: Record<string, [sizeof: number, fields: string]> = {
  iommu_destroy: [8, "0 size __u32, 4 id __u32"],
  iommu_ioas_alloc: [12, "0 size __u32, 4 flags __u32, 8 out_ioas_id __u32"],
  iommu_iova_range: [16, "0 start __aligned_u64, 8 last __aligned_u64"],
  iommu_ioas_iova_ranges: [
    32,
    "0 size __u32, 4 ioas_id __u32, 8 num_iovas __u32, 12 __reserved __u32, " +
    "16 allowed_iovas __aligned_u64, 24 out_iova_alignment __aligned_u64",
  ],
  iommu_ioas_allow_iovas: [
    24,
    "0 size __u32, 4 ioas_id __u32, 8 num_iovas __u32, 12 __reserved __u32, " +
    "16 allowed_iovas __aligned_u64",
  ],
  iommu_ioas_map: [
    40,
    "0 size __u32, 4 flags __u32, 8 ioas_id __u32, 12 __reserved __u32, " +
    "16 user_va __aligned_u64, 24 length __aligned_u64, 32 iova __aligned_u64",
  ],
  iommu_ioas_copy: [
    40,
    "0 size __u32, 4 flags __u32, 8 dst_ioas_id __u32, 12 src_ioas_id __u32, " +
    "16 length __aligned_u64, 24 dst_iova __aligned_u64, 32 src_iova __aligned_u64",
  ],
  iommu_ioas_unmap: [
    24,
    "0 size __u32, 4 ioas_id __u32, 8 iova __aligned_u64, 16 length __aligned_u64",
  ],
  iommu_option: [
    24,
    "0 size __u32, 4 option_id __u32, 8 op __u16, 10 __reserved __u16, 12 object_id __u32, " +
    "16 val64 __aligned_u64",
  ],
  iommu_vfio_ioas: [12, "0 size __u32, 4 ioas_id __u32, 8 op __u16, 10 __reserved __u16"],
  iommu_hwpt_alloc: [
    48,
    "0 size __u32, 4 flags __u32, 8 dev_id __u32, 12 pt_id __u32, 16 out_hwpt_id __u32, " +
    "20 __reserved __u32, 24 data_type __u32, 28 data_len __u32, 32 data_uptr __aligned_u64, " +
    "40 fault_id __u32, 44 __reserved2 __u32",
  ],
  iommu_hwpt_vtd_s1: [
    24,
    "0 flags __aligned_u64, 8 pgtbl_addr __aligned_u64, 16 addr_width __u32, 20 __reserved __u32",
  ],
  iommu_hw_info: [
    40,
    "0 size __u32, 4 flags __u32, 8 dev_id __u32, 12 data_len __u32, " +
    "16 data_uptr __aligned_u64, 24 out_data_type __u32, 28 __reserved __u32, " +
    "32 out_capabilities __aligned_u64",
  ],
  iommu_hw_info_vtd: [
    24,
    "0 flags __u32, 4 __reserved __u32, 8 cap_reg __aligned_u64, 16 ecap_reg __aligned_u64",
  ],
  iommu_hwpt_set_dirty_tracking: [
    16,
    "0 size __u32, 4 flags __u32, 8 hwpt_id __u32, 12 __reserved __u32",
  ],
  iommu_hwpt_get_dirty_bitmap: [
    48,
    "0 size __u32, 4 hwpt_id __u32, 8 flags __u32, 12 __reserved __u32, 16 iova __aligned_u64, " +
    "24 length __aligned_u64, 32 page_size __aligned_u64, 40 data __aligned_u64",
  ],
  iommu_hwpt_invalidate: [
    32,
    "0 size __u32, 4 hwpt_id __u32, 8 data_uptr __aligned_u64, 16 data_type __u32, " +
    "20 entry_len __u32, 24 entry_num __u32, 28 __reserved __u32",
  ],
  iommu_hwpt_vtd_s1_invalidate: [
    24,
    "0 addr __aligned_u64, 8 npages __aligned_u64, 16 flags __u32, 20 __reserved __u32",
  ],
  iommu_fault_alloc: [
    16,
    "0 size __u32, 4 flags __u32, 8 out_fault_id __u32, 12 out_fault_fd __u32",
  ],
  // v6.12: a plain __u64 after five __u32 leaves an unnamed hole at 20..23 on 64-bit ABIs.
  iommu_hwpt_pgfault: [
    40,
    "0 flags __u32, 4 dev_id __u32, 8 pasid __u32, 12 grpid __u32, 16 perm __u32, " +
    "24 addr __u64, 32 length __u32, 36 cookie __u32",
  ],
  iommu_hwpt_page_response: [8, "0 cookie __u32, 4 code __u32"],
  iommu_hwpt_selftest: [4, "0 iotlb __u32"],
  iommu_hwpt_invalidate_selftest: [8, "0 flags __u32, 4 iotlb_id __u32"],
  iommu_test_hw_info: [8, "0 flags __u32, 4 test_reg __u32"],
  // include/uapi/linux/vfio.h (v6.12)
  vfio_device_info: [
    24,
    "0 argsz __u32, 4 flags __u32, 8 num_regions __u32, 12 num_irqs __u32, 16 cap_offset __u32, " +
    "20 pad __u32",
  ],
  iommu_test_cmd: [
    72,
    "0 size __u32, 4 op __u32, 8 id __u32, 12 __reserved __u32, 16 union0 __aligned_u64, " +
    "24 union1 __aligned_u64, 32 union2 __aligned_u64, 40 union3 __aligned_u64, " +
    "48 union4 __aligned_u64, 56 union5 __aligned_u64, 64 last __u32",
  ],
  // The union's members, from the union's start (offset 16 of struct iommu_test_cmd).
  "iommu_test_cmd.add_reserved": [16, "0 start __aligned_u64, 8 length __aligned_u64"],
  "iommu_test_cmd.mock_domain_flags": [
    16,
    "0 out_stdev_id __u32, 4 out_hwpt_id __u32, 8 out_idev_id __u32, 12 dev_flags __u32",
  ],
  "iommu_test_cmd.mock_domain_replace": [4, "0 pt_id __u32"],
  "iommu_test_cmd.check_map": [
    24,
    "0 iova __aligned_u64, 8 length __aligned_u64, 16 uptr __aligned_u64",
  ],
  "iommu_test_cmd.check_refs": [24, "0 length __aligned_u64, 8 uptr __aligned_u64, 16 refs __u32"],
  "iommu_test_cmd.create_access": [8, "0 out_access_fd __u32, 4 flags __u32"],
  "iommu_test_cmd.destroy_access_pages": [4, "0 access_pages_id __u32"],
  "iommu_test_cmd.access_pages": [
    32,
    "0 flags __u32, 4 out_access_pages_id __u32, 8 iova __aligned_u64, 16 length __aligned_u64, " +
    "24 uptr __aligned_u64",
  ],
  "iommu_test_cmd.access_rw": [
    32,
    "0 iova __aligned_u64, 8 length __aligned_u64, 16 uptr __aligned_u64, 24 flags __u32",
  ],
  "iommu_test_cmd.memory_limit": [4, "0 limit __u32"],
  "iommu_test_cmd.access_replace_ioas": [4, "0 ioas_id __u32"],
  "iommu_test_cmd.dirty": [
    48,
    "0 flags __u32, 8 iova __aligned_u64, 16 length __aligned_u64, 24 page_size __aligned_u64, " +
    "32 uptr __aligned_u64, 40 out_nr_dirty __aligned_u64",
  ],
  "iommu_test_cmd.check_iotlb": [8, "0 id __u32, 4 iotlb __u32"],
  "iommu_test_cmd.trigger_iopf": [
    24,
    "0 dev_id __u32, 4 pasid __u32, 8 grpid __u32, 12 perm __u32, 16 addr __u64",
  ],
  vfio_device_bind_iommufd: [
    16,
    "0 argsz __u32, 4 flags __u32, 8 iommufd __s32, 12 out_devid __u32",
  ],
  vfio_device_attach_iommufd_pt: [12, "0 argsz __u32, 4 flags __u32, 8 pt_id __u32"],
  vfio_device_detach_iommufd_pt: [8, "0 argsz __u32, 4 flags __u32"],
  // include/uapi/linux/vfio.h (v6.12): the type1 container structs iommufd's vfio_compat.c reads.
  vfio_iommu_type1_info: [
    24,
    "0 argsz __u32, 4 flags __u32, 8 iova_pgsizes __u64, 16 cap_offset __u32, 20 pad __u32",
  ],
  vfio_info_cap_header: [8, "0 id __u16, 2 version __u16, 4 next __u32"],
  vfio_iommu_type1_info_cap_iova_range: [
    16,
    "0 id __u16, 2 version __u16, 4 next __u32, 8 nr_iovas __u32, 12 reserved __u32",
  ],
  vfio_iova_range: [16, "0 start __u64, 8 end __u64"],
  vfio_iommu_type1_info_dma_avail: [12, "0 id __u16, 2 version __u16, 4 next __u32, 8 avail __u32"],
  vfio_iommu_type1_dma_map: [
    32,
    "0 argsz __u32, 4 flags __u32, 8 vaddr __u64, 16 iova __u64, 24 size __u64",
  ],
  vfio_iommu_type1_dma_unmap: [24, "0 argsz __u32, 4 flags __u32, 8 iova __u64, 16 size __u64"],
};

Deno.test("uapi: every v6.12 struct has the kernel's sizeof, field order, offsets and types", () => {
  assert.deepEqual([...structs.keys()].sort(), Object.keys(KERNEL_LAYOUTS).sort());
  for (const [name, [sizeof, fields]] of Object.entries(KERNEL_LAYOUTS)) {
    const s = structs.get(name)!;
    assert.equal(s.sizeof, sizeof, `sizeof(struct ${name})`);
    assert.equal(
      s.fields.map((f) => `${f.offset} ${f.name} ${f.type}`).join(", "),
      fields,
      `struct ${name}`,
    );
  }
});

Deno.test("uapi: offsetof / offsetofend; an unknown field throws", () => {
  assert.equal(iommu_hwpt_alloc.offsetof("data_uptr"), 32);
  assert.equal(iommu_hwpt_alloc.offsetofend("data_uptr"), 40);
  assert.equal(iommu_hwpt_alloc.offsetofend("__reserved"), 24);
  assert.equal(iommu_hw_info.offsetofend("__reserved"), 32);
  // @ts-expect-error: not a field of struct iommu_destroy
  assert.throws(() => iommu_destroy.offsetof("nope"), /struct iommu_destroy has no field nope/);
});

Deno.test("uapi: C layout rules for every type, with padding inside and at the tail", () => {
  const s = defineStruct("t", {
    a: ["__u8", "in"],
    b: ["__u16", "in"],
    c: ["__s32", "in"],
    d: ["__u8", "in"],
    e: ["__aligned_u64", "in"],
    f: ["__u8", "out"],
  });
  assert.deepEqual(s.fields.map((f) => [f.name, f.offset, f.size]), [
    ["a", 0, 1],
    ["b", 2, 2],
    ["c", 4, 4],
    ["d", 8, 1],
    ["e", 16, 8],
    ["f", 24, 1],
  ]);
  assert.equal(s.sizeof, 32);
  const values = { a: 0xff, b: 0xffff, c: -2, d: 7, e: 0xfedcba9876543210n, f: 1 };
  const bytes = s.encode(values);
  assert.deepEqual(s.decode(bytes), values);
  assert.deepEqual([...bytes.subarray(4, 8)], [0xfe, 0xff, 0xff, 0xff]); // -2, little-endian
  assert.deepEqual([...bytes.subarray(16, 24)], [0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
  const small = defineStruct("small", { x: ["__u16", "in"], y: ["__u8", "in"] });
  assert.equal(small.sizeof, 4);
});

Deno.test("uapi: encode is little-endian, leaves omitted fields zero; decode round-trips bigints", () => {
  const v = {
    size: 48,
    flags: IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
    dev_id: 2,
    pt_id: 1,
    out_hwpt_id: 0,
    __reserved: 0,
    data_type: IOMMU_HWPT_DATA_VTD_S1,
    data_len: 24,
    data_uptr: 0xffff_ffff_ffff_f000n,
    fault_id: 9,
    __reserved2: 0,
  };
  const bytes = iommu_hwpt_alloc.encode(v);
  assert.equal(bytes.length, 48);
  assert.deepEqual([...bytes.subarray(0, 8)], [48, 0, 0, 0, 3, 0, 0, 0]);
  assert.deepEqual([...bytes.subarray(32, 40)], [0x00, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual(iommu_hwpt_alloc.decode(bytes), v);
  assert.equal(typeof iommu_hwpt_alloc.decode(bytes).data_uptr, "bigint");
  assert.equal(typeof iommu_hwpt_alloc.decode(bytes).dev_id, "number");

  const sparse = iommu_hwpt_alloc.decode(
    iommu_hwpt_alloc.encode({ dev_id: 5, data_uptr: undefined }),
  );
  assert.deepEqual(sparse, {
    ...v,
    size: 0,
    flags: 0,
    dev_id: 5,
    pt_id: 0,
    data_type: 0,
    data_len: 0,
    data_uptr: 0n,
    fault_id: 0,
  });
  assert.deepEqual(iommu_destroy.encode(), new Uint8Array(8));
});

Deno.test("uapi: a short buffer decodes as if zero-extended; bytes past sizeof are ignored", () => {
  // A v6.6 binary's 24-byte struct iommu_hwpt_alloc.
  const old = iommu_hwpt_alloc.encode({ size: 24, flags: 1, dev_id: 2, pt_id: 3, data_len: 99 })
    .subarray(0, 24);
  const d = iommu_hwpt_alloc.decode(old);
  assert.deepEqual([d.size, d.flags, d.dev_id, d.pt_id], [24, 1, 2, 3]);
  assert.deepEqual([d.data_type, d.data_len, d.data_uptr, d.fault_id], [0, 0, 0n, 0]);
  // A field cut in half reads its present low bytes only.
  const half = iommu_ioas_map.encode({ iova: 0x1122334455667788n }).subarray(0, 36);
  assert.equal(iommu_ioas_map.decode(half).iova, 0x55667788n);
  // A newer binary's longer struct: the kernel's view is the first sizeof bytes.
  const longer = new Uint8Array(64).fill(0xee);
  longer.set(iommu_destroy.encode({ size: 64, id: 7 }));
  assert.deepEqual(iommu_destroy.decode(longer), { size: 64, id: 7 });
  assert.deepEqual(iommu_destroy.decode(new Uint8Array(0)), { size: 0, id: 0 });
});

Deno.test("uapi: a value that does not fit its field throws", () => {
  assert.throws(() => iommu_destroy.encode({ id: 2 ** 32 }), RangeError);
  assert.throws(() => iommu_destroy.encode({ id: -1 }), RangeError);
  assert.throws(() => iommu_destroy.encode({ id: 1.5 }), RangeError);
  assert.throws(
    () => iommu_hwpt_alloc.encode({ data_uptr: 1n << 64n }),
    /struct iommu_hwpt_alloc.data_uptr: 18446744073709551616 does not fit __aligned_u64/,
  );
  // @ts-expect-error: 64-bit fields are bigint
  assert.throws(() => iommu_hwpt_alloc.encode({ data_uptr: 1 }), RangeError);
  // @ts-expect-error: 32-bit fields are number
  assert.throws(() => iommu_destroy.encode({ id: 1n }), RangeError);
  // @ts-expect-error: not a field
  assert.throws(() => iommu_destroy.encode({ nope: 1 }), /has no field nope/);
});

Deno.test("uapi: ioctl numbers are _IO(';', nr) with the kernel's command bytes", () => {
  assert.equal(IOMMUFD_TYPE, ";".charCodeAt(0));
  assert.deepEqual(
    [
      IOMMU_DESTROY,
      IOMMU_IOAS_ALLOC,
      IOMMU_IOAS_ALLOW_IOVAS,
      IOMMU_IOAS_COPY,
      IOMMU_IOAS_IOVA_RANGES,
      IOMMU_IOAS_MAP,
      IOMMU_IOAS_UNMAP,
      IOMMU_OPTION,
      IOMMU_VFIO_IOAS,
      IOMMU_HWPT_ALLOC,
      IOMMU_GET_HW_INFO,
      IOMMU_HWPT_SET_DIRTY_TRACKING,
      IOMMU_HWPT_GET_DIRTY_BITMAP,
      IOMMU_HWPT_INVALIDATE,
      IOMMU_FAULT_QUEUE_ALLOC,
    ],
    [
      0x3b80,
      0x3b81,
      0x3b82,
      0x3b83,
      0x3b84,
      0x3b85,
      0x3b86,
      0x3b87,
      0x3b88,
      0x3b89,
      0x3b8a,
      0x3b8b,
      0x3b8c,
      0x3b8d,
      0x3b8e,
    ],
  );
  assert.equal(IOMMU_TEST_CMD, 0x3ba0);
  assert.equal(_IOC_NR(IOMMU_TEST_CMD), IOMMUFD_CMD_BASE + 32);
});

Deno.test("uapi: the command table: one row per v6.12 command, min_size = offsetofend(last)", () => {
  // reference/kernel-uapi.md §3.1, the min_size column.
  const expected: [string, number, string, number, number][] = [
    ["IOMMU_DESTROY", 0x3b80, "id", 8, 8],
    ["IOMMU_IOAS_ALLOC", 0x3b81, "out_ioas_id", 12, 12],
    ["IOMMU_IOAS_ALLOW_IOVAS", 0x3b82, "allowed_iovas", 24, 24],
    ["IOMMU_IOAS_COPY", 0x3b83, "src_iova", 40, 40],
    ["IOMMU_IOAS_IOVA_RANGES", 0x3b84, "out_iova_alignment", 32, 32],
    ["IOMMU_IOAS_MAP", 0x3b85, "iova", 40, 40],
    ["IOMMU_IOAS_UNMAP", 0x3b86, "length", 24, 24],
    ["IOMMU_OPTION", 0x3b87, "val64", 24, 24],
    ["IOMMU_VFIO_IOAS", 0x3b88, "__reserved", 12, 12],
    ["IOMMU_HWPT_ALLOC", 0x3b89, "__reserved", 24, 48],
    ["IOMMU_GET_HW_INFO", 0x3b8a, "__reserved", 32, 40],
    ["IOMMU_HWPT_SET_DIRTY_TRACKING", 0x3b8b, "__reserved", 16, 16],
    ["IOMMU_HWPT_GET_DIRTY_BITMAP", 0x3b8c, "data", 48, 48],
    ["IOMMU_HWPT_INVALIDATE", 0x3b8d, "__reserved", 32, 32],
    ["IOMMU_FAULT_QUEUE_ALLOC", 0x3b8e, "out_fault_fd", 16, 16],
  ];
  assert.deepEqual(
    iommufdIoctls.map((op) => [op.name, op.ioctl_num, op.last, op.min_size, op.size]),
    expected,
  );
  iommufdIoctls.forEach((op, index) => {
    assert.equal(_IOC_NR(op.ioctl_num) - IOMMUFD_CMD_BASE, index, op.name);
    assert.equal((model as Record<string, unknown>)[op.name], op.ioctl_num, op.name);
    assert.equal(op.struct.fields[0].name, "size", op.name);
  });
});

Deno.test("uapi: flag and enum values of include/uapi/linux/iommufd.h (v6.12)", () => {
  assert.deepEqual([IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_WRITEABLE, IOMMU_IOAS_MAP_READABLE], [
    1,
    2,
    4,
  ]);
  assert.deepEqual([IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_HUGE_PAGES], [0, 1]);
  assert.deepEqual([IOMMU_OPTION_OP_SET, IOMMU_OPTION_OP_GET], [0, 1]);
  assert.deepEqual([IOMMU_VFIO_IOAS_GET, IOMMU_VFIO_IOAS_SET, IOMMU_VFIO_IOAS_CLEAR], [0, 1, 2]);
  assert.deepEqual(
    [IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_FAULT_ID_VALID],
    [1, 2, 4],
  );
  assert.deepEqual([IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_DATA_VTD_S1], [0, 1]);
  assert.deepEqual([IOMMU_VTD_S1_SRE, IOMMU_VTD_S1_EAFE, IOMMU_VTD_S1_WPE], [1, 2, 4]);
  assert.deepEqual([IOMMU_HW_INFO_TYPE_NONE, IOMMU_HW_INFO_TYPE_INTEL_VTD], [0, 1]);
  assert.equal(IOMMU_HW_CAP_DIRTY_TRACKING, 1);
  assert.equal(IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17, 1);
  assert.equal(IOMMU_HWPT_DIRTY_TRACKING_ENABLE, 1);
  assert.equal(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR, 1);
  assert.equal(IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, 0);
  assert.equal(IOMMU_VTD_INV_FLAGS_LEAF, 1);
  assert.deepEqual([IOMMU_PGFAULT_FLAGS_PASID_VALID, IOMMU_PGFAULT_FLAGS_LAST_PAGE], [1, 2]);
  assert.deepEqual(
    [
      IOMMU_PGFAULT_PERM_READ,
      IOMMU_PGFAULT_PERM_WRITE,
      IOMMU_PGFAULT_PERM_EXEC,
      IOMMU_PGFAULT_PERM_PRIV,
    ],
    [1, 2, 4, 8],
  );
  assert.deepEqual([IOMMUFD_PAGE_RESP_SUCCESS, IOMMUFD_PAGE_RESP_INVALID], [0, 1]);
  // Nothing newer than v6.12.
  for (
    const later of [
      "IOMMU_IOAS_MAP_FILE",
      "IOMMU_VIOMMU_ALLOC",
      "IOMMU_HWPT_ALLOC_PASID",
      "IOMMU_HWPT_DATA_ARM_SMMUV3",
      "IOMMU_HW_INFO_TYPE_ARM_SMMUV3",
      "iommu_hw_info_arm_smmuv3",
    ]
  ) {
    assert.equal(later in model, false, later);
  }
});

Deno.test("iommufd_test: selftest constants of drivers/iommu/iommufd/iommufd_test.h (v6.12)", () => {
  assert.equal(IOMMU_HWPT_DATA_SELFTEST, 0xdead);
  assert.equal(IOMMU_TEST_IOTLB_DEFAULT, 0xbadbeef);
  assert.deepEqual([MOCK_NESTED_DOMAIN_IOTLB_ID_MAX, MOCK_NESTED_DOMAIN_IOTLB_NUM], [3, 4]);
  assert.equal(IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 0xdeadbeef);
  assert.equal(IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID, 0xdadbeef);
  assert.equal(IOMMU_TEST_INVALIDATE_FLAG_ALL, 1);
  assert.equal(IOMMU_HW_INFO_TYPE_SELFTEST, 0xfeedbeef);
  assert.equal(IOMMU_HW_INFO_SELFTEST_REGVAL, 0xdeadbeef);
  assert.deepEqual([MOCK_APERTURE_START, MOCK_APERTURE_LAST], [0x1000000n, 0x7fffffffn]);
  assert.deepEqual([MOCK_FLAGS_DEVICE_NO_DIRTY, MOCK_FLAGS_DEVICE_HUGE_IOVA], [1, 2]);
  assert.deepEqual(
    [
      IOMMU_TEST_OP_ADD_RESERVED,
      IOMMU_TEST_OP_MOCK_DOMAIN,
      IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
      IOMMU_TEST_OP_MD_CHECK_IOTLB,
      IOMMU_TEST_OP_TRIGGER_IOPF,
    ],
    [1, 2, 12, 14, 15],
  );
  const ops = Object.entries(model).filter(([k]) => k.startsWith("IOMMU_TEST_OP_"));
  assert.deepEqual(
    ops.map(([, v]) => v).sort((a, b) => Number(a) - Number(b)),
    Array.from({ length: 15 }, (_, k) => k + 1),
  );
  const info = iommu_test_hw_info.encode({ test_reg: IOMMU_HW_INFO_SELFTEST_REGVAL });
  assert.equal(formatStruct(iommu_test_hw_info, info, "out"), "{flags=0, test_reg=0xdeadbeef}");
});

const hwptAllocOp = iommufdIoctls.find((op) => op.name === "IOMMU_HWPT_ALLOC")!;

Deno.test("trace: IOMMU_HWPT_ALLOC in and out, like strace", () => {
  const input = iommu_hwpt_alloc.encode({
    size: 48,
    flags: IOMMU_HWPT_ALLOC_NEST_PARENT,
    dev_id: 2,
    pt_id: 1,
  });
  const output = iommu_hwpt_alloc.encode({ size: 48, dev_id: 2, out_hwpt_id: 3 });
  assert.equal(
    formatIoctl(3, hwptAllocOp, input, output, 0),
    "ioctl(3, IOMMU_HWPT_ALLOC, {size=48, flags=IOMMU_HWPT_ALLOC_NEST_PARENT, dev_id=2, pt_id=1, " +
      "data_type=IOMMU_HWPT_DATA_NONE, data_len=0, data_uptr=NULL, fault_id=0} " +
      "=> {out_hwpt_id=3}) = 0",
  );
});

Deno.test("trace: errors carry the errno name, the reason and the check", () => {
  const input = iommu_hwpt_alloc.encode({ size: 48, dev_id: 2, pt_id: 77 });
  const err = fail(EINVAL, "hwpt-alloc-pt", "pt_id names no IOAS or paging HWPT");
  assert.equal(
    formatIoctl(3, hwptAllocOp, input, null, err),
    "ioctl(3, IOMMU_HWPT_ALLOC, {size=48, flags=0, dev_id=2, pt_id=77, " +
      "data_type=IOMMU_HWPT_DATA_NONE, data_len=0, data_uptr=NULL, fault_id=0}) " +
      "= -1 EINVAL (pt_id names no IOAS or paging HWPT [hwpt-alloc-pt])",
  );
});

Deno.test("trace: unknown bits, unknown enum values, non-zero reserved fields, short structs", () => {
  const odd = iommu_hwpt_alloc.encode({
    size: 48,
    flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_FAULT_ID_VALID | 0x100,
    __reserved: 5,
    data_type: IOMMU_HWPT_DATA_SELFTEST,
    data_len: 4,
    data_uptr: 0x1000n,
    __reserved2: 1,
  });
  assert.equal(
    formatStruct(iommu_hwpt_alloc, odd, "in"),
    "{size=48, flags=IOMMU_HWPT_ALLOC_DIRTY_TRACKING|IOMMU_HWPT_FAULT_ID_VALID|0x100, dev_id=0, " +
      "pt_id=0, __reserved=0x5, data_type=0xdead, data_len=4, data_uptr=0x1000, fault_id=0, " +
      "__reserved2=0x1}",
  );
  // A v6.6 binary passes 24 bytes: only the fields it has are shown.
  const old = iommu_hwpt_alloc.encode({ size: 24, dev_id: 2, pt_id: 1 }).subarray(0, 24);
  assert.equal(formatStruct(iommu_hwpt_alloc, old, "in"), "{size=24, flags=0, dev_id=2, pt_id=1}");
  const e = fail(EOPNOTSUPP, "x-1", "r");
  assert.match(
    formatIoctl(3, hwptAllocOp, old, null, e),
    /\{size=24, .*\}\) = -1 EOPNOTSUPP \(r \[x-1\]\)$/,
  );
});

Deno.test("trace: inout fields on both sides; commands without answers print no =>", () => {
  const op = iommufdIoctls.find((op) => op.name === "IOMMU_IOAS_IOVA_RANGES")!;
  const input = iommu_ioas_iova_ranges.encode({
    size: 32,
    ioas_id: 1,
    num_iovas: 1,
    allowed_iovas: 0x7fff0000n,
  });
  const output = iommu_ioas_iova_ranges.encode({
    size: 32,
    ioas_id: 1,
    num_iovas: 3,
    allowed_iovas: 0x7fff0000n,
    out_iova_alignment: 4096n,
  });
  assert.equal(
    formatIoctl(4, op, input, output, 0),
    "ioctl(4, IOMMU_IOAS_IOVA_RANGES, {size=32, ioas_id=1, num_iovas=1, " +
      "allowed_iovas=0x7fff0000} => {num_iovas=3, out_iova_alignment=0x1000}) = 0",
  );
  const destroy = iommufdIoctls[0];
  const arg = iommu_destroy.encode({ size: 8, id: 3 });
  assert.equal(formatIoctl(3, destroy, arg, arg, 0), "ioctl(3, IOMMU_DESTROY, {size=8, id=3}) = 0");
});

Deno.test("trace: 64-bit flags, fault records and selftest data", () => {
  const info = iommu_hw_info.encode({
    data_len: 8,
    out_data_type: IOMMU_HW_INFO_TYPE_SELFTEST,
    out_capabilities: BigInt(IOMMU_HW_CAP_DIRTY_TRACKING) | (1n << 40n),
  });
  assert.equal(
    formatStruct(iommu_hw_info, info, "out"),
    "{data_len=8, out_data_type=0xfeedbeef, out_capabilities=IOMMU_HW_CAP_DIRTY_TRACKING|0x10000000000}",
  );
  const fault = iommu_hwpt_pgfault.encode({
    flags: IOMMU_PGFAULT_FLAGS_PASID_VALID | IOMMU_PGFAULT_FLAGS_LAST_PAGE,
    dev_id: 2,
    pasid: 1,
    grpid: 2,
    perm: IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE,
    addr: 0xdeadbeafn,
    length: 4096,
    cookie: 7,
  });
  assert.equal(
    formatStruct(iommu_hwpt_pgfault, fault, "out"),
    "{flags=IOMMU_PGFAULT_FLAGS_PASID_VALID|IOMMU_PGFAULT_FLAGS_LAST_PAGE, dev_id=2, pasid=1, " +
      "grpid=2, perm=IOMMU_PGFAULT_PERM_READ|IOMMU_PGFAULT_PERM_WRITE, addr=0xdeadbeaf, " +
      "length=4096, cookie=7}",
  );
  assert.equal(formatStruct(iommu_hwpt_pgfault, fault, "in"), "{}");
  const inv = iommu_hwpt_invalidate_selftest.encode({ flags: IOMMU_TEST_INVALIDATE_FLAG_ALL });
  assert.equal(
    formatStruct(iommu_hwpt_invalidate_selftest, inv, "in"),
    "{flags=IOMMU_TEST_INVALIDATE_FLAG_ALL, iotlb_id=0}",
  );
});

// The chapter's tables must say what the code says.

const LAYOUT_HEADER = ["Offset", "Field", "Type", "Size"];
const COMMAND_HEADER = [
  "Number",
  "Ioctl",
  "Struct",
  "Last mandatory field",
  "min_size",
  "sizeof",
  "Since",
];

function rowsOf(table: Table): string[][] {
  return table.children.map((row) => row.children.map((cell) => textOf(cell).trim()));
}

/** The rows a layout table of `s` must have: its fields, with the holes as (padding) rows. */
function layoutRows(s: Struct): string[][] {
  const rows: string[][] = [];
  let end = 0;
  const pad = (upTo: number) => {
    if (upTo > end) rows.push([String(end), "(padding)", "", String(upTo - end)]);
  };
  for (const f of s.fields) {
    pad(f.offset);
    rows.push([String(f.offset), f.name, f.type, String(f.size)]);
    end = f.offset + f.size;
  }
  pad(s.sizeof);
  return rows;
}

Deno.test("chapters: every layout table and the command table match the descriptors", async () => {
  const seen: string[] = [];
  let commandTables = 0;
  for await (const entry of Deno.readDir(SPEC)) {
    if (entry.name.endsWith(".md")) {
      const text = await Deno.readTextFile(new URL(entry.name, SPEC));
      // Only a chapter with a table row naming every cell of a header can hold such a table
      // (parsing all of them was most of this file's time). A table missed here would fail the
      // counts below: one command table, one layout table per struct.
      if (!mayHoldTable(text)) continue;
      commandTables += checkTables(parseMarkdown(text).children, seen);
    }
  }
  assert.equal(commandTables, 1);
  // The members of iommu_test_cmd's union ("iommu_test_cmd.dirty") are laid out by its table.
  const tabled = [...structs.keys()].filter((name) => !name.includes("."));
  assert.deepEqual(seen.sort(), tabled.sort(), "one layout table per struct");
});

/** Whether some line of `text` is a table row naming every cell of a layout or command header. */
function mayHoldTable(text: string): boolean {
  const rows = text.split("\n").filter((l) => l.trimStart().startsWith("|"));
  return [LAYOUT_HEADER, COMMAND_HEADER].some((header) =>
    rows.some((row) => header.every((cell) => row.includes(cell)))
  );
}

function checkTables(nodes: RootContent[], seen: string[]): number {
  let heading = "";
  let commandTables = 0;
  for (const node of nodes) {
    if (node.type === "heading") heading = textOf(node);
    if (node.type !== "table") continue;
    const [header, ...rows] = rowsOf(node);
    if (header.join("|") === LAYOUT_HEADER.join("|")) {
      const name = /struct (\w+)/.exec(heading)?.[1];
      assert.ok(name, `layout table under "${heading}" names no struct`);
      const s = structs.get(name);
      assert.ok(s, `layout table for struct ${name}, which the model does not define`);
      assert.deepEqual(rows, layoutRows(s), `layout table of struct ${name}`);
      seen.push(name);
    } else if (header.join("|") === COMMAND_HEADER.join("|")) {
      commandTables++;
      assert.deepEqual(
        rows.map((r) => r.slice(0, 6)),
        iommufdIoctls.map((op) => [
          `0x${op.ioctl_num.toString(16)}`,
          op.name,
          op.struct.name,
          op.last,
          String(op.min_size),
          String(op.size),
        ]),
      );
    }
  }
  return commandTables;
}
