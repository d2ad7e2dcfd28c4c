import assert from "node:assert/strict";
import {
  check_zeroed_user,
  clear_user,
  copy_from_user,
  copy_struct_from_user,
  copy_to_user,
  E2BIG,
  EBADF,
  EFAULT,
  EINVAL,
  ENOTTY,
  ErrnoError,
  file,
  FOLL_LONGTERM,
  FOLL_WRITE,
  IS_ERR,
  Machine,
  PAGE_SIZE,
  pin_user_pages_fast,
  pin_user_pages_remote,
  PROT_READ,
  unpin_user_pages,
} from "../../lib/internal.ts";

const GiB = 1n << 30n;

Deno.test("mm: mmap is lazy; a write faults a page and its page tables in; reads see zeros", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/t");
  const t = m.spawn({ cgroup: cg });
  const buf = t.mmap(4n * GiB);
  assert.equal(cg.read("memory.current"), "0\n");
  assert.deepEqual(t.read(buf + 12345n, 3), new Uint8Array(3));
  assert.equal(t.mm!.anon_rss, 0, "a read maps the zero page");
  t.write(buf + 5n, new Uint8Array([7, 8]));
  assert.deepEqual(t.read(buf + 4n, 4), new Uint8Array([0, 7, 8, 0]));
  assert.equal(t.mm!.anon_rss, 1);
  assert.equal(t.mm!.pgtables_bytes, 3 * PAGE_SIZE, "PUD, PMD and PTE tables");
  assert.match(cg.read("memory.stat"), /^anon 4096\nkernel 12288\npagetables 12288\n/);
  assert.equal(cg.read("memory.current"), `${4 * PAGE_SIZE}\n`);
});

Deno.test("mm: the sparse promise — 64 GiB mapped, one byte per GiB touched", () => {
  const m = new Machine();
  const t = m.spawn();
  const buf = t.mmap(64n * GiB);
  for (let i = 0n; i < 64n; i++) t.write(buf + i * GiB + 100n, new Uint8Array([1]));
  assert.equal(t.mm!.anon_rss, 64);
  assert.equal(m.physmem.backedFrames, 64, "only written frames hold buffers");
  assert.equal(t.mm!.pgtables.map((l) => l.size).join(), "1,64,64");
});

Deno.test("mm: munmap splits VMAs, frees pages and empty page tables", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/t");
  const t = m.spawn({ cgroup: cg });
  const buf = t.mmap(4n << 20n);
  t.write(buf, new Uint8Array(4 << 20).fill(1));
  assert.equal(t.mm!.anon_rss, 1024);
  t.munmap(buf + (1n << 20n), 1n << 20n);
  assert.equal(t.mm!.vmas.length, 2);
  assert.equal(t.mm!.anon_rss, 768);
  t.munmap(buf, 4n << 20n);
  assert.equal(t.mm!.anon_rss, 0);
  assert.equal(t.mm!.pgtables_bytes, 0);
  assert.equal(cg.read("memory.current"), "0\n");
  assert.throws(
    () => t.munmap(buf + 1n, 4096n),
    (e) => e instanceof ErrnoError && e.errno === EINVAL,
  );
  assert.throws(() => t.mmap(0n), (e) => e instanceof ErrnoError && e.errno === EINVAL);
});

Deno.test("mm: a store outside every VMA kills the task with SIGSEGV", () => {
  const m = new Machine();
  const t = m.spawn();
  const buf = t.mmap(1n << 20n);
  t.write(buf, new Uint8Array([1]));
  assert.throws(() => t.write(0x1000n, new Uint8Array([1])), /SIGSEGV/);
  assert.ok(t.task.exit_state);
  assert.equal(m.pgdat.pages.size, 0, "its memory was freed");
  assert.throws(() => t.read(buf, 1), /exited/);
});

Deno.test("uaccess: copies return the bytes not copied; kernel threads have no user memory", () => {
  const m = new Machine();
  const t = m.spawn();
  const buf = t.mmap(2n * BigInt(PAGE_SIZE));
  t.write(buf, new Uint8Array([1, 2, 3, 4]));
  t.task.syscall(() => {
    const dst = new Uint8Array(4).fill(9);
    assert.equal(copy_from_user(dst, buf, 4), 0);
    assert.deepEqual(dst, new Uint8Array([1, 2, 3, 4]));
    assert.equal(copy_to_user(buf + BigInt(PAGE_SIZE) - 2n, new Uint8Array([5, 6, 7, 8]), 4), 0);
    const tail = new Uint8Array(8).fill(9);
    assert.equal(copy_from_user(tail, buf + 2n * BigInt(PAGE_SIZE) - 4n, 8), 4);
    assert.deepEqual(tail, new Uint8Array(8), "what was not copied is zeroed");
    assert.equal(copy_to_user(1n << 47n, new Uint8Array(1), 1), 1, "not user space");
  });
  m.kernel(() => assert.equal(copy_from_user(new Uint8Array(4), buf, 4), 4));
});

Deno.test("uaccess: copy_struct_from_user size rules", () => {
  const m = new Machine();
  const t = m.spawn();
  const buf = t.mmap(BigInt(PAGE_SIZE));
  t.write(buf, new Uint8Array([1, 2, 3, 4, 0, 0, 0, 0, 5]));
  t.task.syscall(() => {
    const k = new Uint8Array(8).fill(9);
    assert.equal(copy_struct_from_user(k, 8, buf, 4), 0);
    assert.deepEqual(k, new Uint8Array([1, 2, 3, 4, 0, 0, 0, 0]), "new kernel fields read as zero");
    assert.equal(copy_struct_from_user(k, 4, buf, 8), 0, "zero trailing bytes are fine");
    const big = copy_struct_from_user(k, 4, buf, 9);
    assert.ok(IS_ERR(big) && big.errno === E2BIG);
    const fault = copy_struct_from_user(k, 4, buf + BigInt(PAGE_SIZE) - 2n, 8);
    assert.ok(IS_ERR(fault) && fault.errno === EFAULT);
  });
});

Deno.test("uaccess: a tail that runs off the mapping is scanned front to back, whatever its size", () => {
  const m = new Machine();
  const t = m.spawn();
  const P = BigInt(PAGE_SIZE);
  const buf = t.mmap(2n * P);
  t.munmap(buf + P, P); // one page, then a hole
  t.task.syscall(() => {
    // A size near 4 GiB: zeros up to the hole, then the fault.
    assert.equal((check_zeroed_user(buf, 0xffffffff) as ErrnoError).errno, EFAULT);
    // A non-zero byte before the hole is found first: E2BIG's case, not EFAULT.
    assert.equal(copy_to_user(buf + P - 1n, new Uint8Array([7]), 1), 0);
    assert.equal(check_zeroed_user(buf, 0xffffffff), 0);
    assert.equal(check_zeroed_user(buf, Number(P) - 1), 1);
    // clear_user() zeroes up to the hole and reports what it could not.
    t.write(buf, new Uint8Array(PAGE_SIZE).fill(0xff));
    assert.equal(clear_user(buf + 16n, 0xffffffff), 0xffffffff - (PAGE_SIZE - 16));
    assert.deepEqual(t.read(buf, 20), new Uint8Array(20).fill(0xff, 0, 16));
    assert.equal(clear_user(buf, 100), 0);
  });
});

Deno.test("files: release runs on close, on exit and on kill; ioctl errors", () => {
  const m = new Machine();
  const released: number[] = [];
  const open = (t: ReturnType<Machine["spawn"]>, id: number) =>
    t.task.syscall(() =>
      t.task.files!.fd_install(
        new file({
          release: () => released.push(id),
          unlocked_ioctl: (_f, cmd) => cmd === 1 ? 42 : new ErrnoError(515, "x", "ENOIOCTLCMD"),
        }),
      )
    );
  const a = m.spawn();
  const fd = open(a, 1);
  assert.equal(fd, 3);
  assert.equal(a.ioctl(fd, 1, 0n), 42);
  const notty = a.ioctl(fd, 2, 0n);
  assert.ok(IS_ERR(notty) && notty.errno === ENOTTY);
  const badf = a.ioctl(99, 1, 0n);
  assert.ok(IS_ERR(badf) && badf.errno === EBADF);
  a.close(fd);
  assert.deepEqual(released, [1]);
  assert.throws(() => a.close(fd), (e) => e instanceof ErrnoError && e.errno === EBADF);
  const b = m.spawn();
  open(b, 2);
  b.task.syscall(() => b.kill());
  assert.ok(b.task.exit_state, "a task that kills itself dies on its way out");
  const c = m.spawn();
  open(c, 3);
  c.kill();
  assert.deepEqual(released, [1, 2, 3]);
  assert.ok(!m.tasks.has(c.task));
});

Deno.test("gup: pinned pages outlive munmap and exit; the charge stays until unpin", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/vmm");
  const vmm = m.spawn({ cgroup: cg });
  const buf = vmm.mmap(8n * BigInt(PAGE_SIZE));
  const pages: number[] = [];
  const n = vmm.task.syscall(() => pin_user_pages_fast(buf, 8, FOLL_WRITE | FOLL_LONGTERM, pages));
  assert.equal(n, 8);
  assert.equal(vmm.mm!.anon_rss, 8, "pinning faulted the pages in");
  vmm.munmap(buf, 8n * BigInt(PAGE_SIZE));
  assert.equal(m.pgdat.pages.get(pages[0])!._pincount, 1, "pins are PFNs of pinned pages");
  vmm.kill();
  assert.match(cg.read("memory.stat"), /^anon 0\n/, "unmapped pages are not `anon` any more");
  assert.equal(cg.read("memory.current"), "32768\n", "but stay charged while pinned");
  m.kernel(() => unpin_user_pages(pages, 8));
  assert.equal(cg.read("memory.current"), "0\n");
  assert.equal(m.pgdat.pages.size, 0);
});

Deno.test("gup: errors and partial pins", () => {
  const m = new Machine();
  const t = m.spawn();
  const buf = t.mmap(2n * BigInt(PAGE_SIZE));
  const ro = t.mmap(BigInt(PAGE_SIZE), PROT_READ);
  t.task.syscall(() => {
    const pages: number[] = [];
    assert.equal(pin_user_pages_fast(buf, 3, FOLL_WRITE, pages), 2, "stops at the VMA's end");
    unpin_user_pages(pages, 2);
    const none = pin_user_pages_fast(0x1000n, 1, FOLL_WRITE, pages);
    assert.ok(IS_ERR(none) && none.errno === EFAULT);
    const rw = pin_user_pages_fast(ro, 1, FOLL_WRITE, pages);
    assert.ok(IS_ERR(rw) && rw.errno === EFAULT);
    assert.equal(pin_user_pages_fast(buf, 0, 0, pages), 0);
  });
  const other = m.spawn();
  other.task.syscall(() => {
    const pages: number[] = [];
    assert.equal(pin_user_pages_remote(t.mm!, buf, 1, FOLL_WRITE, pages), 1);
    unpin_user_pages(pages, 1);
  });
});
