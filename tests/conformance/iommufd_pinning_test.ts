/**
 * Pinning and its accounting (drivers/iommu/iommufd/pages.c, v6.12; the rules of
 * reference/accounting.md §4): lazy pinning, one count per iopt_pages however many domains and
 * copies use it, two counts for two maps of one user range, the three accounting modes, the
 * RLIMIT_MEMLOCK failure that restores every counter, unpinning at unmap and close, a mapping
 * process that has exited, huge pages, and IOMMU_OPTION_HUGE_PAGES. Every test ends with the
 * teardown check.
 */
import assert from "node:assert/strict";
import {
  EFAULT,
  EINVAL,
  ENOMEM,
  get_file,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  MADV_HUGEPAGE,
  MOCK_APERTURE_START,
  MOCK_FLAGS_DEVICE_HUGE_IOVA,
  MOCK_PFN_HUGE_IOVA,
  MOCK_PFN_START_IOVA,
  to_mock_domain,
  xa_load,
} from "../../lib/internal.ts";
import { assertReleasedOnExit, expectErrno } from "./fixture.ts";
import {
  checkMockIova,
  checkRefs,
  domainOf,
  HUGEPAGE_SIZE,
  type IoasFixture,
  mockDomain,
  P,
  setupFixture,
  teardownFixture,
} from "./ioas_helpers.ts";

/** The counters a pin changes: the user's and the process's locked pages, and pinned_vm. */
function counters(f: IoasFixture) {
  return {
    user: f.vmm.task.cred.user.locked_vm,
    mm: f.vmm.mm!.locked_vm,
    pinned: f.vmm.mm!.pinned_vm,
  };
}

/** A VMM without CAP_IPC_LOCK, so that its pins are counted against RLIMIT_MEMLOCK. */
function unprivileged(rlimitMemlock = 8n << 20n) {
  return setupFixture({ root: false, rlimitMemlock });
}

Deno.test("lazy pinning: an IOAS without domains pins nothing, not even memory that is not there", () => {
  const f = unprivileged();
  const ioas_id = f.fd.ioasAlloc();
  const anon = f.vmm.mm!.anon_rss;
  f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: 16n * P, iova: MOCK_APERTURE_START });
  const bad = MOCK_APERTURE_START + 16n * P;
  f.fd.ioasMap({ ioas_id, user_va: 0x1000_0000n, length: 4n * P, iova: bad });
  assert.deepEqual(counters(f), { user: 0, mm: 0, pinned: 0 });
  assert.equal(f.vmm.mm!.anon_rss, anon, "no page was faulted in");
  checkRefs(f, f.buffer, 16n * P, 0);
  // The first domain pins: and finds the mapping of memory that does not exist.
  expectErrno(EFAULT, () => mockDomain(f, ioas_id));
  assert.deepEqual(counters(f), { user: 0, mm: 0, pinned: 0 }, "the failed fill was undone");
  f.fd.ioasUnmap(ioas_id, bad, 4n * P);
  mockDomain(f, ioas_id);
  assert.deepEqual(counters(f), { user: 16, mm: 0, pinned: 16 });
  checkRefs(f, f.buffer, 16n * P, 1);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("pins are counted once per iopt_pages: more domains and COPY add nothing", () => {
  const f = unprivileged();
  const ioas_id = f.fd.ioasAlloc();
  mockDomain(f, ioas_id);
  const iova = f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: 16n * P });
  assert.deepEqual(counters(f), { user: 16, mm: 0, pinned: 16 });
  const second = mockDomain(f, ioas_id);
  checkMockIova(f, second.hwpt_id, f.buffer, iova, 16n * P);
  // A copy in the same IOAS and one into another IOAS with its own domain share the pages.
  const copy = f.fd.ioasCopy({
    dst_ioas_id: ioas_id,
    src_ioas_id: ioas_id,
    src_iova: iova,
    length: 8n * P,
  });
  const other = f.fd.ioasAlloc();
  const md = mockDomain(f, other);
  const copy2 = f.fd.ioasCopy({
    dst_ioas_id: other,
    src_ioas_id: ioas_id,
    src_iova: iova + 4n * P,
    length: 4n * P,
  });
  checkMockIova(f, md.hwpt_id, f.buffer + 4n * P, copy2, 4n * P);
  assert.deepEqual(counters(f), { user: 16, mm: 0, pinned: 16 });
  checkRefs(f, f.buffer, 16n * P, 1);
  // The original goes; the copies keep their pages pinned, once.
  f.fd.ioasUnmap(ioas_id, iova, 16n * P);
  assert.deepEqual(counters(f), { user: 8, mm: 0, pinned: 8 });
  checkRefs(f, f.buffer, 8n * P, 1);
  checkRefs(f, f.buffer + 8n * P, 8n * P, 0);
  f.fd.ioasUnmap(ioas_id, copy, 8n * P);
  assert.deepEqual(counters(f), { user: 4, mm: 0, pinned: 4 });
  md.destroy();
  assert.deepEqual(
    counters(f),
    { user: 0, mm: 0, pinned: 0 },
    "its last domain gone, nothing is pinned",
  );
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("two IOMMU_IOAS_MAPs of the same user memory are counted twice", () => {
  const f = unprivileged();
  const ioas_id = f.fd.ioasAlloc();
  mockDomain(f, ioas_id);
  f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: 16n * P });
  f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: 16n * P });
  assert.deepEqual(counters(f), { user: 32, mm: 0, pinned: 32 });
  checkRefs(f, f.buffer, 16n * P, 2);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("RLIMIT_MEMLOCK: a map over the limit fails with ENOMEM and every counter is restored", () => {
  const f = unprivileged(12n * P);
  const ioas_id = f.fd.ioasAlloc();
  mockDomain(f, ioas_id);
  const memcg = f.cg.read("memory.current");
  const e = expectErrno(
    ENOMEM,
    () => f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: 16n * P }),
  );
  assert.equal(e.check, "locked-vm-user");
  assert.deepEqual(counters(f), { user: 0, mm: 0, pinned: 0 });
  checkRefs(f, f.buffer, 16n * P, 0);
  assert.equal(f.cg.read("memory.current"), memcg, "the domain's page-table memory went too");
  assert.deepEqual(f.fd.ioasIovaRanges(ioas_id).ranges.length, 1);
  // Equality is allowed: 12 pages fit a 12-page limit.
  f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: 12n * P });
  assert.deepEqual(counters(f), { user: 12, mm: 0, pinned: 12 });
  // Adding a domain to an IOAS that has areas is not counted again.
  mockDomain(f, ioas_id);
  assert.deepEqual(counters(f), { user: 12, mm: 0, pinned: 12 });
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("RLIMIT_MEMLOCK: attaching the first domain pins and may fail; the IOAS is unchanged", () => {
  const f = unprivileged(12n * P);
  const ioas_id = f.fd.ioasAlloc();
  f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: 16n * P, iova: MOCK_APERTURE_START });
  expectErrno(ENOMEM, () => mockDomain(f, ioas_id));
  assert.deepEqual(counters(f), { user: 0, mm: 0, pinned: 0 });
  checkRefs(f, f.buffer, 16n * P, 0);
  assert.equal(f.fd.ioasUnmap(ioas_id, MOCK_APERTURE_START, 16n * P), 16n * P);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("IOMMU_OPTION_RLIMIT_MODE 1: pins count in mm->locked_vm; CAP_IPC_LOCK counts nothing", () => {
  const f = unprivileged();
  f.fd.option(IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET, 1n);
  const ioas_id = f.fd.ioasAlloc();
  mockDomain(f, ioas_id);
  f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: 16n * P });
  assert.deepEqual(counters(f), { user: 0, mm: 16, pinned: 16 });
  teardownFixture(f);

  const root = setupFixture();
  const ioas2 = root.fd.ioasAlloc();
  mockDomain(root, ioas2);
  root.fd.ioasMap({ ioas_id: ioas2, user_va: root.buffer, length: 16n * P });
  assert.deepEqual(counters(root), { user: 0, mm: 0, pinned: 16 }, "NONE mode: pinned_vm only");
  teardownFixture(root);
  assertReleasedOnExit(root.m);
});

Deno.test("user accounting: two processes of one user share one RLIMIT_MEMLOCK budget", () => {
  const f = unprivileged(20n * P);
  const ioas_id = f.fd.ioasAlloc();
  mockDomain(f, ioas_id);
  f.fd.ioasMap({ ioas_id, user_va: f.buffer, length: 16n * P });
  const other = f.m.spawn({ rlimitMemlock: 20n * P });
  const buf = other.mmap(8n * P);
  const fd2 = other.openIommufd();
  const ioas2 = fd2.ioasAlloc();
  fd2.testMockDomain(ioas2);
  expectErrno(ENOMEM, () => fd2.ioasMap({ ioas_id: ioas2, user_va: buf, length: 8n * P }));
  fd2.ioasMap({ ioas_id: ioas2, user_va: buf, length: 4n * P });
  assert.equal(f.vmm.task.cred.user.locked_vm, 20);
  fd2.close();
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("fork_gone and fork_present (access-free parts): pinning another process's memory", () => {
  const f = setupFixture();
  const ioas_id = f.fd.ioasAlloc();
  const file = f.vmm.task.files!.fdt.get(f.fd.fd)!;
  // A child with its own memory maps it through the same open file.
  const child = f.m.spawn({ capabilities: [] });
  const childBuf = child.mmap(16n * P);
  child.write(childBuf, new Uint8Array(Number(16n * P)).fill(7));
  const childFd = child.task.syscall(() => child.task.files!.fd_install(get_file(file)));
  const map = (iova: bigint) =>
    child.task.syscall(() => {
      const arg = child.mmap(P);
      child.write(arg, new Uint8Array([40, 0, 0, 0, 7, 0, 0, 0, ioas_id, 0, 0, 0, 0, 0, 0, 0]));
      const v = new DataView(new ArrayBuffer(24));
      v.setBigUint64(0, childBuf, true);
      v.setBigUint64(8, 16n * P, true);
      v.setBigUint64(16, iova, true);
      child.write(arg + 16n, new Uint8Array(v.buffer));
      return child.ioctl(childFd, 0x3b85, arg);
    });
  assert.equal(map(MOCK_APERTURE_START), 0);
  // fork_present: the domain is filled from the child's address space, remotely.
  const md = mockDomain(f, ioas_id);
  assert.equal(child.mm!.pinned_vm, 16, "the pins are the child's");
  assert.equal(child.task.cred.user.locked_vm, 16);
  md.destroy();
  assert.equal(child.mm!.pinned_vm, 0);
  // fork_gone: once the child has exited, its memory cannot be pinned.
  child.task.do_exit();
  expectErrno(EFAULT, () => mockDomain(f, ioas_id));
  f.fd.ioasUnmap(ioas_id, MOCK_APERTURE_START, 16n * P);
  assert.equal(child.task.cred.user.locked_vm, 0);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("huge pages: 2 MiB folios map as 1 MiB mock pages, unmap whole, and pin once per page", () => {
  const f = unprivileged(1n << 30n);
  const ioas_id = f.fd.ioasAlloc();
  const md = mockDomain(f, ioas_id, MOCK_FLAGS_DEVICE_HUGE_IOVA);
  const size = 4n * HUGEPAGE_SIZE;
  const buf = f.vmm.mmap(size);
  f.vmm.madvise(buf, size, MADV_HUGEPAGE);
  const iova = f.fd.ioasMap({ ioas_id, user_va: buf, length: size });
  assert.equal(iova % HUGEPAGE_SIZE, 0n, "the IOVA keeps the user address's 2 MiB alignment");
  assert.equal(f.vmm.mm!.pmds.size, 4, "pinning faulted in four huge pages");
  assert.deepEqual(counters(f), { user: 2048, mm: 0, pinned: 2048 });
  checkMockIova(f, md.hwpt_id, buf, iova, size);
  const mock = to_mock_domain(domainOf(f, md.hwpt_id));
  const ent = f.m.kernel(() => xa_load(mock.pfns, Number(iova / 2048n)))!;
  assert.ok(ent & MOCK_PFN_HUGE_IOVA, "the domain holds the run in huge pages");
  // Every start in 256 KiB steps, every end in 256 KiB steps.
  const step = HUGEPAGE_SIZE / 8n;
  for (let start = 0n; start < size; start += step * 5n) {
    for (let end = start + step; end <= size; end += step * 3n) {
      const at = f.fd.ioasMap({ ioas_id, user_va: buf + start, length: end - start });
      checkMockIova(f, md.hwpt_id, buf + start, at, end - start);
      f.fd.ioasUnmap(ioas_id, at, end - start);
    }
  }
  f.fd.ioasUnmap(ioas_id, iova, size);
  assert.deepEqual(counters(f), { user: 0, mm: 0, pinned: 0 });
  f.vmm.munmap(buf, size);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("IOMMU_OPTION_HUGE_PAGES 0: every PAGE_SIZE is mapped on its own", () => {
  const f = unprivileged(1n << 30n);
  const ioas_id = f.fd.ioasAlloc();
  f.fd.option(IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET, 0n, ioas_id);
  const md = mockDomain(f, ioas_id, MOCK_FLAGS_DEVICE_HUGE_IOVA);
  assert.equal(
    f.fd.ioasIovaRanges(ioas_id).out_iova_alignment,
    P,
    "the alignment became PAGE_SIZE",
  );
  const size = 2n * HUGEPAGE_SIZE;
  const buf = f.vmm.mmap(size);
  f.vmm.madvise(buf, size, MADV_HUGEPAGE);
  const iova = f.fd.ioasMap({ ioas_id, user_va: buf, length: size });
  const mock = to_mock_domain(domainOf(f, md.hwpt_id));
  for (let off = 0n; off < size; off += P) {
    const ent = f.m.kernel(() => xa_load(mock.pfns, Number((iova + off) / 2048n)))!;
    assert.ok(!(ent & MOCK_PFN_HUGE_IOVA), "no huge IOPTE");
    assert.ok(ent & MOCK_PFN_START_IOVA, "each page was its own map_pages call");
  }
  // Turning it back on is refused only when it would raise the alignment: it never does.
  expectErrno(EINVAL, () => f.fd.option(IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET, 2n, ioas_id));
  f.fd.ioasUnmap(ioas_id, iova, size);
  f.vmm.munmap(buf, size);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});

Deno.test("IOMMU_IOAS_MAP: a fault writing the IOVA back fails with EFAULT and keeps the mapping", () => {
  const f = unprivileged();
  const ioas_id = f.fd.ioasAlloc();
  mockDomain(f, ioas_id);
  // The struct at the end of a read-only page: the kernel can read it but not write iova back.
  const ro = f.vmm.mmap(P);
  const arg = ro;
  f.vmm.write(arg, new Uint8Array([40, 0, 0, 0, 6, 0, 0, 0, ioas_id, 0, 0, 0, 0, 0, 0, 0]));
  const v = new DataView(new ArrayBuffer(16));
  v.setBigUint64(0, f.buffer, true);
  v.setBigUint64(8, 4n * P, true);
  f.vmm.write(arg + 16n, new Uint8Array(v.buffer));
  // mprotect(PROT_READ), which the model does not have: the VMA loses VM_WRITE.
  const vma = f.vmm.mm!.vmas.find((x) => x.vm_start === Number(ro))!;
  (vma as { vm_flags: number }).vm_flags = 1;
  assert.equal(f.fd.ioctl(0x3b85, arg), -EFAULT);
  assert.deepEqual(counters(f), { user: 4, mm: 0, pinned: 4 }, "the mapping exists");
  assert.equal(f.fd.ioasUnmap(ioas_id, 0n, (1n << 64n) - 1n), 4n * P);
  f.vmm.munmap(ro, P);
  teardownFixture(f);
  assertReleasedOnExit(f.m);
});
