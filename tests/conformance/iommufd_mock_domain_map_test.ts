/**
 * Ports of the mapping cases of FIXTURE(iommufd_mock_domain) in
 * tools/testing/selftests/iommu/iommufd.c (v6.12): basic, all_aligns and all_aligns_copy, with the
 * variants one_domain, two_domains, one_domain_hugepage and two_domains_hugepage. The selftest's
 * huge pages are hugetlbfs pages (MAP_HUGETLB | MAP_POPULATE); the model has transparent huge
 * pages, so the hugepage variants use madvise(MADV_HUGEPAGE) and write the buffer to populate it,
 * which gives the same 2 MiB folios. (ro_unshare maps a file, which the model does not have;
 * user_copy, which needs an in-kernel access, is in iommufd_access_test.ts.)
 */
import { EFAULT, MADV_HUGEPAGE } from "../../lib/internal.ts";
import { assertReleasedOnExit, expectErrno } from "./fixture.ts";
import {
  checkMockIova,
  checkRefs,
  HUGEPAGE_SIZE,
  type IoasFixture,
  MOCK_PAGE_SIZE,
  mockDomain,
  P,
  setupFixture,
  teardownFixture,
} from "./ioas_helpers.ts";

interface Fixture extends IoasFixture {
  ioas_id: number;
  hwpt_ids: number[];
  mmap_buf_size: bigint;
  hugepages: boolean;
}

const VARIANTS = {
  one_domain: { mock_domains: 1, hugepages: false },
  two_domains: { mock_domains: 2, hugepages: false },
  one_domain_hugepage: { mock_domains: 1, hugepages: true },
  two_domains_hugepage: { mock_domains: 2, hugepages: true },
};
type Variant = keyof typeof VARIANTS;

function testMock(name: string, body: (f: Fixture) => void): void {
  for (const variant of Object.keys(VARIANTS) as Variant[]) {
    Deno.test(`iommufd_mock_domain.${name} (${variant})`, () => {
      const base = setupFixture();
      const v = VARIANTS[variant];
      const f: Fixture = {
        ...base,
        ioas_id: base.fd.ioasAlloc(),
        hwpt_ids: [],
        mmap_buf_size: v.hugepages ? HUGEPAGE_SIZE * 2n : P * 8n,
        hugepages: v.hugepages,
      };
      for (let i = 0; i < v.mock_domains; i++) f.hwpt_ids.push(mockDomain(f, f.ioas_id).hwpt_id);
      body(f);
      teardownFixture(f);
      assertReleasedOnExit(f.m);
    });
  }
}

/** The variant's mmap(): small pages, or huge pages populated up front. */
function mmapBuf(f: Fixture): bigint {
  const buf = f.vmm.mmap(f.mmap_buf_size);
  if (f.hugepages) {
    f.vmm.madvise(buf, f.mmap_buf_size, MADV_HUGEPAGE);
    for (let off = 0n; off < f.mmap_buf_size; off += HUGEPAGE_SIZE) {
      f.vmm.write(buf + off, new Uint8Array([1]));
    }
  }
  return buf;
}

/** check_mock_iova(): the user pages made it to every mock domain. */
function checkMock(f: Fixture, ptr: bigint, iova: bigint, length: bigint): void {
  for (const hwpt_id of f.hwpt_ids) checkMockIova(f, hwpt_id, ptr, iova, length);
}

testMock("basic", (f) => {
  // A simple one-page map.
  const iova = f.fd.ioasMap({ ioas_id: f.ioas_id, user_va: f.buffer, length: P });
  checkMock(f, f.buffer, iova, P);
  const buf_size = f.mmap_buf_size;
  const buf = mmapBuf(f);
  // EFAULT half way through mapping.
  f.vmm.munmap(buf + buf_size / 2n, buf_size / 2n);
  expectErrno(EFAULT, () => f.fd.ioasMap({ ioas_id: f.ioas_id, user_va: buf, length: buf_size }));
  // EFAULT on the first page.
  f.vmm.munmap(buf, buf_size / 2n);
  expectErrno(EFAULT, () => f.fd.ioasMap({ ioas_id: f.ioas_id, user_va: buf, length: buf_size }));
});

testMock("all_aligns", (f) => {
  const buf_size = f.mmap_buf_size;
  const test_step = f.hugepages ? buf_size / 16n : MOCK_PAGE_SIZE;
  const buf = mmapBuf(f);
  checkRefs(f, buf, buf_size, 0);
  // Map every combination of page size and alignment within a big region; less for huge pages.
  for (let start = 0n; start < buf_size; start += test_step) {
    for (
      let end = f.hugepages ? buf_size : start + MOCK_PAGE_SIZE;
      end < buf_size;
      end += MOCK_PAGE_SIZE
    ) {
      const length = end - start;
      const iova = f.fd.ioasMap({ ioas_id: f.ioas_id, user_va: buf + start, length });
      checkMock(f, buf + start, iova, length);
      checkRefs(f, buf + start / P * P, end / P * P - start / P * P, 1);
      f.fd.ioasUnmap(f.ioas_id, iova, length);
    }
  }
  checkRefs(f, buf, buf_size, 0);
  f.vmm.munmap(buf, buf_size);
});

testMock("all_aligns_copy", (f) => {
  const buf_size = f.mmap_buf_size;
  const test_step = f.hugepages ? buf_size / 16n : MOCK_PAGE_SIZE;
  const buf = mmapBuf(f);
  checkRefs(f, buf, buf_size, 0);
  for (let start = 0n; start < buf_size; start += test_step) {
    for (
      let end = f.hugepages ? buf_size : start + MOCK_PAGE_SIZE;
      end < buf_size;
      end += MOCK_PAGE_SIZE
    ) {
      const length = end - start;
      const iova = f.fd.ioasMap({ ioas_id: f.ioas_id, user_va: buf + start, length });
      // Add and destroy a domain while the area exists.
      const old_id = f.hwpt_ids[1];
      const md = mockDomain(f, f.ioas_id);
      f.hwpt_ids[1] = md.hwpt_id;
      checkMock(f, buf + start, iova, length);
      checkRefs(f, buf + start / P * P, end / P * P - start / P * P, 1);
      md.destroy();
      f.hwpt_ids[1] = old_id;
      if (old_id === undefined) f.hwpt_ids.pop();
      f.fd.ioasUnmap(f.ioas_id, iova, length);
    }
  }
  checkRefs(f, buf, buf_size, 0);
  f.vmm.munmap(buf, buf_size);
});
