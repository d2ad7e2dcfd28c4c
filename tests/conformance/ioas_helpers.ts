/**
 * Helpers for the ported IOAS selftests (tools/testing/selftests/iommu/iommufd.c and
 * iommufd_utils.h, v6.12): the fixtures with their variants, and the test operations of
 * IOMMU_TEST_CMD that the IOAS cases use.
 *
 * The test operations are the handle's fd.test*() methods (selftest.c's operations, chapter 11),
 * under the names the selftest's iommufd_utils.h gives them. IOMMU_TEST_OP_DIRTY is the one done
 * here with the mock driver's domain half, after finding the HWPT's domain.
 */
import {
  CAP_IPC_LOCK,
  CAP_SYS_RESOURCE,
  type iommu_domain,
  type iommufd_ctx,
  type iommufd_hw_pagetable,
  Machine,
  MOCK_APERTURE_START,
  PAGE_SIZE,
  xa_load,
} from "../../lib/internal.ts";
import { assertReleasedOnExit, type IommufdFixture, snapshot, teardown } from "./fixture.ts";

/** PAGE_SIZE as a bigint, as the selftest's arithmetic needs it. */
export const P = BigInt(PAGE_SIZE);
/** tools/testing/selftests/iommu/iommufd.c MOCK_PAGE_SIZE: half a CPU page. */
export const MOCK_PAGE_SIZE = P / 2n;
/** HUGEPAGE_SIZE: the THP size the selftest reads from sysfs, 2 MiB on x86-64. */
export const HUGEPAGE_SIZE = 2n << 20n;
/** tools/testing/selftests/iommu/iommufd_utils.h BUFFER_SIZE: 16 pages. */
export const BUFFER_SIZE = 16n * P;
/** The u64 all-ones value the selftest passes to unmap everything. */
export const U64_MAX = (1n << 64n) - 1n;

/** A fixture with the selftest's buffer: 16 pages, 2 MiB aligned, already faulted in. */
export interface IoasFixture extends IommufdFixture {
  buffer: bigint;
}

/** NON-KERNEL: what makes a fixture: the VMM's credentials and limit, the RAM. */
export interface FixtureOptions {
  /** Run like the selftest, as root: CAP_IPC_LOCK pins without accounting (default true). */
  root?: boolean;
  rlimitMemlock?: bigint;
  memory?: number;
}

/**
 * FIXTURE_SETUP with the selftest's buffer. The snapshot that teardown compares against is taken
 * after the buffer exists, so what is checked is what iommufd did.
 */
export function setupFixture(options: FixtureOptions = {}): IoasFixture {
  const m = new Machine({ memory: options.memory });
  const cg = m.cgroups.create("/vmm");
  const capabilities = options.root ?? true ? [CAP_SYS_RESOURCE, CAP_IPC_LOCK] : [CAP_SYS_RESOURCE];
  const vmm = m.spawn({
    cgroup: cg,
    capabilities,
    rlimitMemlock: options.rlimitMemlock,
    comm: "selftest",
  });
  const buffer = vmm.mmap(HUGEPAGE_SIZE);
  vmm.munmap(buffer + BUFFER_SIZE, HUGEPAGE_SIZE - BUFFER_SIZE);
  vmm.write(buffer, new Uint8Array(Number(BUFFER_SIZE)).fill(0xa5));
  const before = snapshot(m, cg, vmm);
  return { m, cg, vmm, fd: vmm.openIommufd(), before, buffer };
}

/** FIXTURE_TEARDOWN: the temporary memory limit goes back, then teardown_iommufd(). */
export function teardownFixture(f: IoasFixture): void {
  f.m.iommufd_test_memory_limit = 65536;
  teardown(f);
}

/** What IOMMU_TEST_OP_MOCK_DOMAIN answers: the device's handle, its HWPT, its device ID. */
export interface MockDomain {
  stdev_id: number;
  hwpt_id: number;
  idev_id: number;
  /** IOMMU_DESTROY of stdev_id: the device detaches and unbinds. */
  destroy(): void;
}

/**
 * test_cmd_mock_domain(pt_id) (with MOCK_FLAGS_DEVICE_* `flags`: test_cmd_mock_domain_flags):
 * IOMMU_TEST_OP_MOCK_DOMAIN makes a mock device, binds and attaches it.
 */
export function mockDomain(f: IommufdFixture, pt_id: number, flags = 0): MockDomain {
  const { stdev_id, hwpt_id, idev_id } = f.fd.testMockDomain(pt_id, flags);
  return { stdev_id, hwpt_id, idev_id, destroy: () => f.fd.destroy(stdev_id) };
}

/** NON-KERNEL: the iommufd context behind the fixture's descriptor. */
export function ictxOf(f: IommufdFixture): iommufd_ctx {
  return f.vmm.task.files!.fdt.get(f.fd.fd)!.private_data as iommufd_ctx;
}

/** NON-KERNEL: the domain of HWPT `hwpt_id`. */
export function domainOf(f: IommufdFixture, hwpt_id: number): iommu_domain {
  const obj = xa_load(ictxOf(f).objects, hwpt_id) as iommufd_hw_pagetable | null;
  if (!obj?.domain) throw new Error(`object ${hwpt_id} is not a HWPT`);
  return obj.domain;
}

/** IOMMU_TEST_OP_ADD_RESERVED: iopt_reserve_iova(start, start + length − 1, NULL). */
export function addReserved(
  f: IommufdFixture,
  ioas_id: number,
  start: bigint,
  length: bigint,
): void {
  f.fd.testAddReserved(ioas_id, start, length);
}

/** check_mock_iova() / IOMMU_TEST_OP_MD_CHECK_MAP: the HWPT maps [iova, iova + length) to `uptr`. */
export function checkMockIova(
  f: IommufdFixture,
  hwpt_id: number,
  uptr: bigint,
  iova: bigint,
  length: bigint,
): void {
  f.fd.testMdCheckMap(hwpt_id, iova, length, uptr);
}

/** check_refs() / IOMMU_TEST_OP_MD_CHECK_REFS: every small page of the range has `refs` pins. */
export function checkRefs(f: IommufdFixture, uptr: bigint, length: bigint, refs: number): void {
  f.fd.testMdCheckRefs(uptr, length, refs);
}

/** IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT */
export function setTempMemoryLimit(f: IommufdFixture, limit: number): void {
  f.fd.testSetTempMemoryLimit(limit);
}

/**
 * IOMMU_TEST_OP_DIRTY: mark dirty, in the HWPT's mock domain, the pages whose bits are set in
 * `bitmap`; returns how many were marked (out_nr_dirty).
 */
export function testDirty(
  f: IommufdFixture,
  hwpt_id: number,
  iova: bigint,
  length: bigint,
  page_size: bigint,
  bitmap: Uint8Array,
): number {
  return f.fd.testDirty(hwpt_id, iova, length, page_size, bitmap);
}

/** FIXTURE(iommufd_ioas): an IOAS, and the mock domains of the variant attached to it. */
export interface IommufdIoasFixture extends IoasFixture {
  ioas_id: number;
  /** The last mock domain's selftest object and HWPT (0 without one). */
  stdev_id: number;
  hwpt_id: number;
  /** MOCK_APERTURE_START with a mock domain, else 0. */
  base_iova: bigint;
}

/** FIXTURE_VARIANT(iommufd_ioas): how many mock domains, and the temporary memory limit. */
export const IOMMUFD_IOAS_VARIANTS = {
  no_domain: { mock_domains: 0, memory_limit: 0 },
  mock_domain: { mock_domains: 1, memory_limit: 0 },
  two_mock_domain: { mock_domains: 2, memory_limit: 0 },
  mock_domain_limit: { mock_domains: 1, memory_limit: 16 },
};
/** A variant's name. */
export type IommufdIoasVariant = keyof typeof IOMMUFD_IOAS_VARIANTS;

/** FIXTURE_SETUP(iommufd_ioas). */
export function setupIommufdIoas(variant: IommufdIoasVariant): IommufdIoasFixture {
  const base = setupFixture();
  const f: IommufdIoasFixture = {
    ...base,
    ioas_id: base.fd.ioasAlloc(),
    stdev_id: 0,
    hwpt_id: 0,
    base_iova: 0n,
  };
  const v = IOMMUFD_IOAS_VARIANTS[variant];
  if (v.memory_limit) setTempMemoryLimit(f, v.memory_limit);
  for (let i = 0; i < v.mock_domains; i++) {
    const md = mockDomain(f, f.ioas_id);
    f.stdev_id = md.stdev_id;
    f.hwpt_id = md.hwpt_id;
    f.base_iova = MOCK_APERTURE_START;
  }
  return f;
}

/** teardown_iommufd()'s last step: no page of the selftest's buffer is pinned any more. */
export function checkRefsAfterClose(f: IoasFixture): void {
  const fd = f.vmm.openIommufd();
  checkRefs({ ...f, fd }, f.buffer, BUFFER_SIZE, 0);
  fd.close();
}

/**
 * TEST_F(iommufd_ioas, name) for every variant: FIXTURE_SETUP, the body, FIXTURE_TEARDOWN with the
 * no-leak check, the pin check of teardown_iommufd(), and the exit check.
 */
export function testIommufdIoas(
  name: string,
  body: (f: IommufdIoasFixture, variant: IommufdIoasVariant) => void,
): void {
  for (const variant of Object.keys(IOMMUFD_IOAS_VARIANTS) as IommufdIoasVariant[]) {
    Deno.test(`iommufd_ioas.${name} (${variant})`, () => {
      const f = setupIommufdIoas(variant);
      body(f, variant);
      teardownFixture(f);
      checkRefsAfterClose(f);
      assertReleasedOnExit(f.m);
    });
  }
}
