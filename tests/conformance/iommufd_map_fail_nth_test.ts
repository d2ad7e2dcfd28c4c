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
  MOCK_APERTURE_START,
} from "../../mod.ts";
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
      checkRefs(f, f.buffer, 16n * P, 0);
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
