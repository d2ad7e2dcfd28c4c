/**
 * Ports of the selftest's cases on in-kernel accesses (tools/testing/selftests/iommu/iommufd.c,
 * v6.12): iommufd_ioas.access_domain_destory, access_pin, access_pin_unmap, access_rw,
 * access_rw_unaligned, fork_gone and fork_present in the four iommufd_ioas variants, and
 * iommufd_mock_domain.user_copy. Each ends with the teardown check: after close, pins, locked_vm,
 * memcg counters and objects are back where they started. Then the checks of chapter 16 that the
 * selftest does not reach.
 */
import assert from "node:assert/strict";
import {
  EADDRINUSE,
  EBADE,
  EBADFD,
  EBUSY,
  EDEADLK,
  EFAULT,
  EINVAL,
  ENOENT,
  EOPNOTSUPP,
  EPERM,
  get_file,
  IOMMU_IOAS_MAP_READABLE,
  iommufd_access_attach,
  iommufd_access_create,
  iommufd_access_destroy,
  iommufd_access_detach,
  iommufd_access_pin_pages,
  iommufd_access_unpin_pages,
  IommufdFd,
  MADV_HUGEPAGE,
  MOCK_ACCESS_RW_SLOW_PATH,
  MOCK_ACCESS_RW_WRITE,
  MOCK_APERTURE_START,
  MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
  MOCK_FLAGS_ACCESS_WRITE,
  type Process,
} from "../../lib/internal.ts";
import { assertReleasedOnExit, expectErrno } from "./fixture.ts";
import {
  BUFFER_SIZE,
  checkMockIova,
  checkRefs,
  checkRefsAfterClose,
  HUGEPAGE_SIZE,
  ictxOf,
  type IommufdIoasFixture,
  type IommufdIoasVariant,
  MOCK_PAGE_SIZE,
  mockDomain,
  P,
  setupFixture,
  teardownFixture,
  testIommufdIoas,
} from "./ioas_helpers.ts";

type Fixture = IommufdIoasFixture;
type Variant = IommufdIoasVariant;
const testIoas = testIommufdIoas;

/** A deterministic stand-in for the selftest's rand(). */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) & 0xffff;
  };
}

/**
 * The memory an access reads and writes, as the test sees it: `fill` puts new contents there
 * (null when no task can any more), `view` reads it back.
 */
interface Memory {
  fill: ((bytes: Uint8Array) => void) | null;
  view: (offset: number, length: number) => Uint8Array;
}

function bufferMemory(task: Process, buffer: bigint): Memory {
  return {
    fill: (bytes) => task.write(buffer, bytes),
    view: (offset, length) => task.read(buffer + BigInt(offset), length),
  };
}

/**
 * assert.deepEqual for two byte arrays, without its generic walk when they are equal (checkAccessRw
 * compares 25,200 short arrays per call); on a difference, assert.deepEqual reports it. A plain
 * loop: TypedArray.every() calls a function per byte.
 */
function assertBytes(actual: Uint8Array, expected: Uint8Array, message: () => string): void {
  let same = actual.length === expected.length;
  for (let i = 0; same && i < actual.length; i++) same = actual[i] === expected[i];
  if (!same) assert.deepEqual(actual, expected, message());
}

/**
 * check_access_rw(): random contents; every read of 1..63 bytes at 100 starts around the second
 * page boundary matches them, every write of random bytes lands there; then one read of the whole
 * buffer. Without `fill` (the memory's owner is gone), the contents are what the writes made them,
 * tracked in a mirror.
 */
function checkAccessRw(
  fd: IommufdFd,
  access_id: number,
  iova: bigint,
  def_flags: number,
  mem: Memory,
  seed = 1,
): void {
  const rand = prng(seed);
  const size = Number(BUFFER_SIZE);
  let mirror: Uint8Array;
  if (mem.fill) {
    const contents = new Uint8Array(size);
    const u16 = new DataView(contents.buffer);
    for (let i = 0; i < size; i += 2) u16.setUint16(i, rand(), true);
    mem.fill(contents);
    mirror = contents;
  } else mirror = mem.view(0, size);
  const tmp = new Uint8Array(64);
  for (let at = iova + P - 50n; at < iova + P + 50n; at++) {
    const off = Number(at - iova);
    for (let length = 1; length < tmp.length; length++) {
      const buf = tmp.subarray(0, length);
      fd.testAccessRw(access_id, at, buf, def_flags);
      assertBytes(buf, mirror.subarray(off, off + length), () => `read ${length} at ${at}`);
      for (let i = 0; i < length; i++) buf[i] = rand() & 0xff;
      fd.testAccessRw(access_id, at, buf, def_flags | MOCK_ACCESS_RW_WRITE);
      mirror.set(buf, off);
      if (mem.fill) assertBytes(mem.view(off, length), buf, () => `write ${length} at ${at}`);
    }
  }
  // Multi-page test
  const whole = new Uint8Array(size);
  fd.testAccessRw(access_id, iova, whole, def_flags);
  assert.deepEqual(whole, mirror);
  if (mem.fill) assert.deepEqual(mem.view(0, size), mirror);
}

testIoas("access_domain_destory", (f) => {
  const buf_size = 2n * HUGEPAGE_SIZE;
  // MAP_HUGETLB | MAP_POPULATE: two huge pages, faulted in.
  const raw = f.vmm.mmap(buf_size + HUGEPAGE_SIZE);
  const buf = (raw + HUGEPAGE_SIZE - 1n) / HUGEPAGE_SIZE * HUGEPAGE_SIZE;
  f.vmm.madvise(buf, buf_size, MADV_HUGEPAGE);
  f.vmm.write(buf, new Uint8Array(Number(buf_size)).fill(1));
  f.fd.ioasMap({ ioas_id: f.ioas_id, user_va: buf, length: buf_size, iova: f.base_iova });
  const access = f.fd.testCreateAccess(f.ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
  const id = f.fd.testAccessPages(access, f.base_iova + P, P, buf + P);
  // Causes a complicated unpin across a huge page boundary
  if (f.stdev_id) f.fd.destroy(f.stdev_id);
  f.fd.testDestroyAccessPages(access, id);
  f.fd.testDestroyAccess(access);
  f.vmm.munmap(raw, buf_size + HUGEPAGE_SIZE);
});

testIoas("access_pin", (f) => {
  const access = f.fd.testCreateAccess(f.ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
  for (let npages = 1n; npages < BUFFER_SIZE / P; npages++) {
    const length = npages * P;
    // Single map/unmap
    f.fd.ioasMap({
      ioas_id: f.ioas_id,
      user_va: f.buffer,
      length: BUFFER_SIZE,
      iova: MOCK_APERTURE_START,
    });
    let id = f.fd.testAccessPages(access, MOCK_APERTURE_START, length, f.buffer);
    f.fd.testDestroyAccessPages(access, id);
    // Double user
    const first = f.fd.testAccessPages(access, MOCK_APERTURE_START, length, f.buffer);
    id = f.fd.testAccessPages(access, MOCK_APERTURE_START, length, f.buffer);
    f.fd.testDestroyAccessPages(access, id);
    f.fd.testDestroyAccessPages(access, first);
    // Add/remove a domain with a user
    id = f.fd.testAccessPages(access, MOCK_APERTURE_START, length, f.buffer);
    const md = mockDomain(f, f.ioas_id);
    checkMockIova(f, md.hwpt_id, f.buffer, MOCK_APERTURE_START, BUFFER_SIZE);
    md.destroy();
    f.fd.testDestroyAccessPages(access, id);
    f.fd.ioasUnmap(f.ioas_id, MOCK_APERTURE_START, BUFFER_SIZE);
  }
  f.fd.testDestroyAccess(access);
});

testIoas("access_pin_unmap", (f) => {
  const access = f.fd.testCreateAccess(f.ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
  f.fd.ioasMap({
    ioas_id: f.ioas_id,
    user_va: f.buffer,
    length: BUFFER_SIZE,
    iova: MOCK_APERTURE_START,
  });
  const id = f.fd.testAccessPages(access, MOCK_APERTURE_START, BUFFER_SIZE, f.buffer);
  // Trigger the unmap op
  f.fd.ioasUnmap(f.ioas_id, MOCK_APERTURE_START, BUFFER_SIZE);
  // kernel removed the item for us
  expectErrno(ENOENT, () => f.fd.testDestroyAccessPages(access, id));
});

testIoas("access_rw", (f) => {
  const access = f.fd.testCreateAccess(f.ioas_id, 0);
  const iova = f.fd.ioasMap({ ioas_id: f.ioas_id, user_va: f.buffer, length: BUFFER_SIZE });
  const mem = bufferMemory(f.vmm, f.buffer);
  checkAccessRw(f.fd, access, iova, 0, mem);
  checkAccessRw(f.fd, access, iova, MOCK_ACCESS_RW_SLOW_PATH, mem, 2);
  f.fd.ioasUnmap(f.ioas_id, iova, BUFFER_SIZE);
  f.fd.testDestroyAccess(access);
});

testIoas("access_rw_unaligned", (f) => {
  const access = f.fd.testCreateAccess(f.ioas_id, 0);
  // Unaligned pages
  const iova = f.base_iova + MOCK_PAGE_SIZE;
  f.fd.ioasMap({ ioas_id: f.ioas_id, user_va: f.buffer, length: BUFFER_SIZE, iova });
  checkAccessRw(f.fd, access, iova, 0, bufferMemory(f.vmm, f.buffer));
  f.fd.ioasUnmap(f.ioas_id, iova, BUFFER_SIZE);
  f.fd.testDestroyAccess(access);
});

/**
 * fork(): a child with memory of its own (the model has no MAP_SHARED across fork, so the
 * child's buffer stands for the shared one) and the iommufd descriptor, mapping its buffer.
 */
function forkAndMap(f: Fixture): { child: Process; buf: bigint } {
  const child = f.m.spawn({ capabilities: [], comm: "child" });
  const buf = child.mmap(BUFFER_SIZE);
  child.write(buf, new Uint8Array(Number(BUFFER_SIZE)).fill(0x5a));
  const file = f.vmm.task.files!.fdt.get(f.fd.fd)!;
  const childFd = new IommufdFd(
    child,
    child.task.syscall(() => child.task.files!.fd_install(get_file(file))),
  );
  childFd.ioasMap({
    ioas_id: f.ioas_id,
    user_va: buf,
    length: BUFFER_SIZE,
    iova: MOCK_APERTURE_START,
  });
  return { child, buf };
}

testIoas("fork_gone", (f) => {
  const access = f.fd.testCreateAccess(f.ioas_id, 0);
  // Create a mapping with a different mm
  const { child } = forkAndMap(f);
  child.task.do_exit();
  if (f.stdev_id) {
    // If a domain already existed then everything was pinned within the fork, so this copies
    // from one domain to another.
    mockDomain(f, f.ioas_id);
    const view = (offset: number, length: number) => {
      const bytes = new Uint8Array(length);
      f.fd.testAccessRw(access, MOCK_APERTURE_START + BigInt(offset), bytes, 0);
      return bytes;
    };
    checkAccessRw(f.fd, access, MOCK_APERTURE_START, 0, { fill: null, view });
  } else {
    // Otherwise we need to actually pin pages which can't happen since the fork is gone.
    expectErrno(EFAULT, () => mockDomain(f, f.ioas_id));
  }
  f.fd.testDestroyAccess(access);
});

testIoas("fork_present", (f) => {
  const access = f.fd.testCreateAccess(f.ioas_id, 0);
  // Create a mapping with a different mm
  const { child, buf } = forkAndMap(f);
  // Read pages from the remote process
  mockDomain(f, f.ioas_id);
  checkAccessRw(f.fd, access, MOCK_APERTURE_START, 0, bufferMemory(child, buf));
  child.task.do_exit();
  f.fd.testDestroyAccess(access);
});

for (const variant of ["one_domain", "two_domains"]) {
  Deno.test(`iommufd_mock_domain.user_copy (${variant})`, () => {
    const f = setupFixture();
    const ioas = f.fd.ioasAlloc();
    const hwpts = [mockDomain(f, ioas).hwpt_id];
    if (variant === "two_domains") hwpts.push(mockDomain(f, ioas).hwpt_id);
    const check = () => {
      for (const hwpt of hwpts) checkMockIova(f, hwpt, f.buffer, MOCK_APERTURE_START, BUFFER_SIZE);
    };
    // Pin the pages in an IOAS with no domains then copy to an IOAS with domains
    const ioas_id = f.fd.ioasAlloc();
    let src_iova = f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: BUFFER_SIZE });
    const access = f.fd.testCreateAccess(ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
    f.fd.testAccessPages(access, src_iova, BUFFER_SIZE, f.buffer);
    const copy = (src_ioas_id: number) =>
      f.fd.ioasCopy({
        dst_ioas_id: ioas,
        src_ioas_id,
        src_iova,
        length: BUFFER_SIZE,
        dst_iova: MOCK_APERTURE_START,
      });
    copy(ioas_id);
    check();
    // Now replace the ioas with a new one
    const new_ioas_id = f.fd.ioasAlloc();
    src_iova = f.fd.ioasMap({ ioas_id: new_ioas_id, user_va: f.buffer, length: BUFFER_SIZE });
    f.fd.testAccessReplaceIoas(access, new_ioas_id);
    // Destroy the old ioas and cleanup copied mapping
    f.fd.ioasUnmap(ioas, MOCK_APERTURE_START, BUFFER_SIZE);
    f.fd.destroy(ioas_id);
    // Then run the same test again with the new ioas
    const id = f.fd.testAccessPages(access, src_iova, BUFFER_SIZE, f.buffer);
    copy(new_ioas_id);
    check();
    f.fd.testDestroyAccessPages(access, id);
    f.fd.testDestroyAccess(access);
    f.fd.destroy(new_ioas_id);
    teardownFixture(f);
    checkRefsAfterClose(f);
    assertReleasedOnExit(f.m);
  });
}

// The checks of chapter 16 the selftest does not reach.

Deno.test("access: pinned pages are counted once, shared with a domain, and unpinned by the last", () => {
  const f = setupFixture({ root: false });
  const ioas_id = f.fd.ioasAlloc();
  const iova = MOCK_APERTURE_START;
  f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: BUFFER_SIZE, iova });
  const access = f.fd.testCreateAccess(ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
  const before = f.vmm.task.cred.user.locked_vm;
  const id = f.fd.testAccessPages(access, iova + 2n * P, 4n * P, f.buffer + 2n * P);
  assert.equal(f.vmm.task.cred.user.locked_vm - before, 4, "an access's pin is counted");
  checkRefs(f, f.buffer + 2n * P, 4n * P, 1);
  // A domain joins: its PFNs come from the xarray for the pinned pages, the rest are pinned.
  const md = mockDomain(f, ioas_id);
  assert.equal(f.vmm.task.cred.user.locked_vm - before, 16, "each page once");
  checkRefs(f, f.buffer + 2n * P, 4n * P, 1);
  md.destroy();
  assert.equal(f.vmm.task.cred.user.locked_vm - before, 4, "the access keeps its pages");
  checkRefs(f, f.buffer, 2n * P, 0);
  f.fd.testDestroyAccessPages(access, id);
  assert.equal(f.vmm.task.cred.user.locked_vm, before);
  checkRefs(f, f.buffer, BUFFER_SIZE, 0);
  f.fd.testDestroyAccess(access);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("access: EBADFD, EOPNOTSUPP, EBADE, EPERM, EINVAL and ENOENT from the test operations", () => {
  const f = setupFixture();
  const ioas_id = f.fd.ioasAlloc();
  expectErrno(EOPNOTSUPP, () => f.fd.testCreateAccess(ioas_id, 2));
  expectErrno(ENOENT, () => f.fd.testCreateAccess(ioas_id + 100, 0));
  const rw = f.fd.testCreateAccess(ioas_id, 0);
  const pin = f.fd.testCreateAccess(ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
  // The iommufd's own descriptor is not an access; a closed one is not open.
  expectErrno(EBADFD, () => f.fd.testAccessRw(f.fd.fd, 0n, new Uint8Array(1)));
  expectErrno(EBADFD, () => f.fd.testDestroyAccessPages(99, 0));
  // Pinning needs an access created for it.
  expectErrno(EOPNOTSUPP, () => f.fd.testAccessPages(rw, 0n, P));
  expectErrno(EOPNOTSUPP, () => f.fd.testAccessPages(pin, 0n, P, 0n, 4));
  // Nothing mapped.
  expectErrno(ENOENT, () => f.fd.testAccessPages(pin, 0n, P));
  expectErrno(ENOENT, () => f.fd.testAccessRw(rw, 0n, new Uint8Array(8)));
  const iova = f.fd.ioasMap({
    ioas_id,
    user_va: f.buffer,
    length: BUFFER_SIZE,
    flags: IOMMU_IOAS_MAP_READABLE,
  });
  // The pages are not those at uptr.
  const e = expectErrno(EBADE, () => f.fd.testAccessPages(pin, iova, P, f.buffer + P));
  assert.equal(e.check, "test-access-pages-check");
  // Read-only mapping: no write pin, no write.
  expectErrno(EPERM, () => f.fd.testAccessPages(pin, iova, P, 0n, MOCK_FLAGS_ACCESS_WRITE));
  expectErrno(EPERM, () => f.fd.testAccessRw(rw, iova, new Uint8Array(8), MOCK_ACCESS_RW_WRITE));
  // Length 0, and a range running past the mapping.
  expectErrno(EINVAL, () => f.fd.testAccessPages(pin, iova, 0n));
  expectErrno(EINVAL, () => f.fd.testAccessRw(rw, iova, new Uint8Array(0)));
  expectErrno(ENOENT, () => f.fd.testAccessPages(pin, iova, BUFFER_SIZE + P));
  expectErrno(ENOENT, () => f.fd.testAccessRw(rw, iova + BUFFER_SIZE - 4n, new Uint8Array(8)));
  expectErrno(ENOENT, () => f.fd.testDestroyAccessPages(pin, 7));
  // Userspace cannot destroy an access object: the driver holds it.
  const access_obj_id = ioas_id + 2;
  expectErrno(EBUSY, () => f.fd.destroy(access_obj_id));
  // Nor the IOAS it is attached to.
  expectErrno(EBUSY, () => f.fd.destroy(ioas_id));
  f.fd.testDestroyAccess(rw);
  f.fd.testDestroyAccess(pin);
  f.fd.destroy(ioas_id);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("access: a pinning access raises the IOAS alignment, and cannot join a 2 KiB-aligned one", () => {
  const f = setupFixture();
  const ioas_id = f.fd.ioasAlloc();
  mockDomain(f, ioas_id);
  assert.equal(f.fd.ioasIovaRanges(ioas_id, 1).out_iova_alignment, MOCK_PAGE_SIZE);
  const pin = f.fd.testCreateAccess(ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
  assert.equal(f.fd.ioasIovaRanges(ioas_id, 1).out_iova_alignment, P);
  expectErrno(
    EINVAL,
    () =>
      f.fd.ioasMap({
        ioas_id,
        user_va: f.buffer,
        length: P,
        iova: MOCK_APERTURE_START + MOCK_PAGE_SIZE,
      }),
  );
  f.fd.testDestroyAccess(pin);
  assert.equal(f.fd.ioasIovaRanges(ioas_id, 1).out_iova_alignment, MOCK_PAGE_SIZE);
  f.fd.ioasMap({
    ioas_id,
    user_va: f.buffer,
    length: P,
    iova: MOCK_APERTURE_START + MOCK_PAGE_SIZE,
  });
  const e = expectErrno(
    EADDRINUSE,
    () => f.fd.testCreateAccess(ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES),
  );
  assert.equal(e.check, "add-domain-align");
  // An access that does not pin has no alignment.
  f.fd.testDestroyAccess(f.fd.testCreateAccess(ioas_id, 0));
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("access: replace unpins through the driver, and replace of the same IOAS does nothing", () => {
  const f = setupFixture();
  const a = f.fd.ioasAlloc();
  const b = f.fd.ioasAlloc();
  const iova = f.fd.ioasMap({ ioas_id: a, user_va: f.buffer, length: BUFFER_SIZE });
  const pin = f.fd.testCreateAccess(a, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
  const id = f.fd.testAccessPages(pin, iova, BUFFER_SIZE, f.buffer);
  f.fd.testAccessReplaceIoas(pin, a);
  checkRefs(f, f.buffer, BUFFER_SIZE, 1);
  expectErrno(ENOENT, () => f.fd.testAccessReplaceIoas(pin, b + 10));
  checkRefs(f, f.buffer, BUFFER_SIZE, 1);
  f.fd.testAccessReplaceIoas(pin, b);
  checkRefs(f, f.buffer, BUFFER_SIZE, 0);
  expectErrno(ENOENT, () => f.fd.testDestroyAccessPages(pin, id));
  // The old IOAS is free, the new one is held.
  f.fd.destroy(a);
  expectErrno(EBUSY, () => f.fd.destroy(b));
  f.fd.testDestroyAccess(pin);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("access: the access keeps the context alive after /dev/iommu is closed", () => {
  const f = setupFixture();
  const fd2 = f.vmm.openIommufd();
  const ictx2 = ictxOf({ ...f, fd: fd2 });
  const ioas_id = fd2.ioasAlloc();
  const iova = fd2.ioasMap({ ioas_id, user_va: f.buffer, length: BUFFER_SIZE });
  const pin = fd2.testCreateAccess(ioas_id, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
  fd2.testAccessPages(pin, iova, BUFFER_SIZE, f.buffer);
  f.vmm.close(fd2.fd);
  assert.notEqual(ictx2.mem, null, "the context outlives the close of /dev/iommu");
  checkRefs(f, f.buffer, BUFFER_SIZE, 1);
  fd2.testDestroyAccess(pin);
  assert.equal(ictx2.mem, null, "closing the access released the context");
  checkRefs(f, f.buffer, BUFFER_SIZE, 0);
  f.vmm.munmap(fd2.scratch(), 1n << 20n);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("access: a driver that never unpins makes IOAS_UNMAP fail with EDEADLOCK", () => {
  const f = setupFixture();
  const ioas_id = f.fd.ioasAlloc();
  const iova = f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: BUFFER_SIZE });
  const ictx = ictxOf(f);
  let calls = 0;
  const access = f.vmm.task.syscall(() =>
    iommufd_access_create(ictx, { needs_pin_pages: true, unmap: () => calls++ }, null)
  );
  if (access instanceof Error) throw access;
  const pages = new Float64Array(2);
  f.vmm.task.syscall(() => {
    assert.equal(iommufd_access_attach(access, ioas_id), 0);
    assert.equal(iommufd_access_pin_pages(access, iova, 2n * P, pages, 0), 0);
  });
  const e = expectErrno(EDEADLK, () => f.fd.ioasUnmap(ioas_id, iova, BUFFER_SIZE));
  assert.equal(e.check, "unmap-deadlock");
  assert.equal(calls, 101, "notified 101 times");
  // The area refuses new pins and reads until it is gone; unpinning still works.
  f.vmm.task.syscall(() => {
    const rc = iommufd_access_pin_pages(access, iova, P, new Float64Array(1), 0);
    assert.equal(rc && rc.check, "pin-pages-align");
    iommufd_access_unpin_pages(access, iova, 2n * P);
  });
  assert.equal(f.fd.ioasUnmap(ioas_id, iova, BUFFER_SIZE), BUFFER_SIZE);
  f.vmm.task.syscall(() => {
    iommufd_access_detach(access);
    iommufd_access_destroy(access);
  });
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});
