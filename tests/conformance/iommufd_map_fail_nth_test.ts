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
  ErrnoError,
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
  const f = setupFixture({ root: false, devices: { plain: 4 } });
  const ioas_id = f.fd.ioasAlloc();
  const ioas2 = f.fd.ioasAlloc();
  setTempMemoryLimit(f, 32);
  return { f, ioas_id, ioas2 };
}

Deno.test("iommufd_fail_nth (basic, map_domain, map_two_domains): every injection fails cleanly", () => {
  const clean = fixture();
  sequence(clean.f, clean.ioas_id, clean.ioas2);
  teardownFixture(clean.f);
  checkRefs(clean.f, clean.f.buffer, 16n * P, 0);

  const sites = new Map<string, number>();
  let absorbed = 0;
  let n = 1;
  for (; n < 2000; n++) {
    const { f, ioas_id, ioas2 } = fixture();
    f.vmm.fail_nth = n;
    let error: unknown = null;
    try {
      sequence(f, ioas_id, ioas2);
    } catch (e) {
      error = e;
    }
    const injected = f.vmm.fail_nth === 0;
    f.vmm.fail_nth = 0;
    if (!injected) {
      assert.equal(error, null, "the run past the last injection point succeeds");
      teardownFixture(f);
      break;
    }
    // A failure may also be absorbed: temp_kmalloc() settles for less memory, as in the kernel.
    if (error === null) absorbed++;
    else {
      assert.ok(error instanceof ErrnoError, `injection ${n} (${f.vmm.injectedFault}): ${error}`);
      // An injected lookup failure is ENOENT, or EINVAL where the command reports a failed lookup
      // that way (IOMMU_HWPT_ALLOC's pt_id); a failed pin is EFAULT; an allocation ENOMEM.
      assert.ok(
        [ENOMEM, ENOENT, EFAULT, EINVAL].includes(error.errno),
        `injection ${n}: ${error.message}`,
      );
    }
    assert.match(f.cg.read("memory.events"), /\nmax 0\n/, "an injected failure is not a limit hit");
    sites.set(f.vmm.injectedFault!, (sites.get(f.vmm.injectedFault!) ?? 0) + 1);
    teardownFixture(f);
    checkRefs(f, f.buffer, 16n * P, 0);
  }
  assert.ok(n > 50 && n < 2000, `${n - 1} injection points`);
  assert.ok(absorbed < n / 4, `${absorbed} of ${n - 1} injections absorbed`);
  for (const site of ["failslab", "fail_page_alloc", "fail_iommufd"]) {
    assert.ok(sites.get(site)! > 0, `${site} was swept: ${JSON.stringify([...sites])}`);
  }
});
