/**
 * A fail-nth sweep in the shape of tools/testing/selftests/iommu/iommufd_fail_nth.c (v6.12), over
 * a realistic sequence of its `basic`, `map_domain` and `map_two_domains` bodies: IOVA ranges,
 * allowed ranges, MAP into an IOAS with a domain (with the temporary memory limit the selftest
 * lowers to force many batches), a second domain filled from the first, COPY into a second IOAS,
 * dirty tracking and a dirty bitmap, UNMAP, a domain leaving, unmap-all. Each run injects one
 * failure; after closing the iommufd nothing may be left: no pin, no locked page, no charge, no
 * IOMMU page, no bound group.
 */
import assert from "node:assert/strict";
import {
  EFAULT,
  EINVAL,
  ENOENT,
  ENOMEM,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  MOCK_ACCESS_RW_SLOW_PATH,
  MOCK_ACCESS_RW_WRITE,
  MOCK_APERTURE_START,
  MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
} from "../../lib/internal.ts";
import {
  checkRefs,
  type IoasFixture,
  mockDomain,
  P,
  setTempMemoryLimit,
  setupFixture,
  teardownFixture,
  U64_MAX,
} from "./ioas_helpers.ts";
import { sweepFailNth } from "./fixture.ts";

/** The swept sequence. Setup — opening, the IOASes, the memory limit — is not swept. */
function sequence(f: IoasFixture, ioas_id: number, ioas2: number): void {
  const { fd } = f;
  fd.ioasIovaRanges(ioas_id, 4);
  fd.ioasAllowIovas(ioas_id, [{
    start: MOCK_APERTURE_START,
    last: MOCK_APERTURE_START + (1n << 24n) - 1n,
  }]);
  const first = mockDomain(f, ioas_id);
  const iova = fd.ioasMap({ ioas_id, user_va: f.buffer, length: 16n * P });
  fd.ioasMap({
    ioas_id,
    user_va: f.buffer + 2n * P,
    length: 4n * P,
    iova: MOCK_APERTURE_START + (1n << 23n),
  });
  const second = mockDomain(f, ioas_id);
  mockDomain(f, ioas2);
  fd.ioasCopy({ dst_ioas_id: ioas2, src_ioas_id: ioas_id, src_iova: iova + P, length: 8n * P });
  const dirty = fd.hwptAlloc({
    dev_id: first.idev_id,
    pt_id: ioas_id,
    flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  });
  fd.setDirtyTracking(dirty, true);
  fd.hwptGetDirtyBitmap({ hwpt_id: dirty, iova, length: 16n * P, page_size: P });
  fd.ioasUnmap(ioas_id, iova, 16n * P);
  second.destroy();
  fd.ioasUnmap(ioas_id, 0n, U64_MAX);
}

function fixture() {
  const f = setupFixture({ root: false });
  const ioas = [f.fd.ioasAlloc(), f.fd.ioasAlloc()];
  setTempMemoryLimit(f, 32);
  return { ...f, ioas };
}

Deno.test("iommufd_fail_nth (basic, map_domain, map_two_domains): every injection fails cleanly", () => {
  const { points, sites, absorbed } = sweepFailNth({
    setup: fixture,
    run: (f) => sequence(f, f.ioas[0], f.ioas[1]),
    teardown: (f) => {
      teardownFixture(f);
      {
        // teardown_iommufd(): a new descriptor asks, the old one is closed
        const fd = f.vmm.openIommufd();
        checkRefs({ ...f, fd }, f.buffer, 16n * P, 0);
        fd.close();
      }
    },
    // An injected lookup failure is ENOENT, or EINVAL where the command reports a failed lookup
    // that way (IOMMU_HWPT_ALLOC's pt_id); a failed pin is EFAULT; an allocation ENOMEM.
    allowed: (e) => [ENOMEM, ENOENT, EFAULT, EINVAL].includes(e.errno),
    limit: 2000,
  });
  assert.ok(points > 50, `${points} injection points`);
  // A failure may also be absorbed: temp_kmalloc() settles for less memory, as in the kernel.
  assert.ok(absorbed < points / 4, `${absorbed} of ${points} injections absorbed`);
  for (const site of ["failslab", "fail_page_alloc", "fail_iommufd"]) {
    assert.ok(sites.get(site)! > 0, `${site} was swept: ${JSON.stringify([...sites])}`);
  }
});

/**
 * iommufd_fail_nth.c's access_rw, access_pin and access_pin_domain bodies, in one sequence: reads
 * and writes on the fast path, the one-page path and the slow path, a pinning access filled from
 * the user and then read by a new domain, a replace that unpins through the driver, and an unmap
 * that notifies the access.
 */
function accessSequence(f: IoasFixture, ioas_id: number, ioas2: number): void {
  const { fd } = f;
  const iova = MOCK_APERTURE_START;
  fd.ioasMap({ ioas_id, user_va: f.buffer, length: 16n * P, iova });
  const rw = fd.testCreateAccess(ioas_id, 0);
  const buf = new Uint8Array(Number(P) + 16);
  fd.testAccessRw(rw, iova + 5n, buf.subarray(0, 1));
  fd.testAccessRw(rw, iova + 5n, buf.subarray(0, 8), MOCK_ACCESS_RW_WRITE);
  fd.testAccessRw(rw, iova + 7n, buf.subarray(0, 8), MOCK_ACCESS_RW_SLOW_PATH);
  fd.testAccessRw(rw, iova + P - 8n, buf, MOCK_ACCESS_RW_SLOW_PATH | MOCK_ACCESS_RW_WRITE);
  const pin = fd.testCreateAccess(ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
  const id = fd.testAccessPages(pin, iova + 2n * P, 8n * P, f.buffer + 2n * P);
  mockDomain(f, ioas_id);
  fd.testAccessPages(pin, iova, 16n * P, f.buffer);
  fd.testDestroyAccessPages(pin, id);
  fd.testAccessRw(rw, iova + 7n, buf, MOCK_ACCESS_RW_SLOW_PATH);
  fd.ioasMap({ ioas_id: ioas2, user_va: f.buffer, length: 4n * P, iova });
  fd.testAccessReplaceIoas(rw, ioas2);
  fd.ioasUnmap(ioas_id, iova, 16n * P);
  fd.testDestroyAccess(pin);
  fd.testDestroyAccess(rw);
}

Deno.test("iommufd_fail_nth (access_rw, access_pin, access_pin_domain): every injection fails cleanly", () => {
  const checks = new Set<string>();
  const { points, sites } = sweepFailNth({
    setup: () => {
      const f = fixture();
      // The handle's scratch area, where test operations put their buffers, is faulted in first:
      // a fault of user memory that fails is the task's problem, not iommufd's.
      f.vmm.write(f.fd.scratch(), new Uint8Array(4 * Number(P)));
      return f;
    },
    run: (f) => accessSequence(f, f.ioas[0], f.ioas[1]),
    teardown: (f) => {
      teardownFixture(f);
      {
        // teardown_iommufd(): a new descriptor asks, the old one is closed
        const fd = f.vmm.openIommufd();
        checkRefs({ ...f, fd }, f.buffer, 16n * P, 0);
        fd.close();
      }
    },
    // As above; an injected failure while storing PFNs for an access, or in the one-page read
    // path, is EINVAL.
    allowed: (e) => checks.add(e.check) && [ENOMEM, ENOENT, EFAULT, EINVAL].includes(e.errno),
    limit: 2000,
  });
  assert.ok(points > 50, `${points} injection points`);
  // The access paths' own failure points were reached.
  for (const check of ["xarray-inject", "rw-page-inject", "add-access-nomem"]) {
    assert.ok(checks.has(check), `${check}: ${[...checks].join(", ")}`);
  }
  for (const site of ["failslab", "fail_iommufd"]) {
    assert.ok(sites.get(site)! > 0, `${site} was swept: ${JSON.stringify([...sites])}`);
  }
});
