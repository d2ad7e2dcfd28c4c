/**
 * Transparent huge pages (spec chapter 3, #thp) and pinning in PFNs: placement of 2 MiB-multiple
 * mappings, madvise(), the huge-page fault and its fallbacks, splitting at munmap, and pins taken
 * and dropped a folio at a time.
 */
import assert from "node:assert/strict";
import {
  EINVAL,
  ENOMEM,
  ErrnoError,
  FOLL_LONGTERM,
  FOLL_WRITE,
  IS_ERR,
  Machine,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  PAGE_SIZE,
  pin_user_pages_fast,
  PMD_SIZE,
  unpin_user_page_range_dirty_lock,
  unpin_user_pages,
  VM_HUGEPAGE,
} from "../../lib/internal.ts";

const M2 = BigInt(PMD_SIZE);
const P = BigInt(PAGE_SIZE);

function expectErrno(errno: number, call: () => unknown): ErrnoError {
  try {
    call();
  } catch (e) {
    if (e instanceof ErrnoError && e.errno === errno) return e;
    throw e;
  }
  throw new Error("expected an error");
}

Deno.test("mmap: a length in whole 2 MiB is placed 2 MiB-aligned, others are not moved", () => {
  const m = new Machine();
  const t = m.spawn();
  const small = t.mmap(3n * P);
  const big = t.mmap(4n * M2);
  assert.equal(big % M2, 0n);
  assert.notEqual(small % M2, 0n);
  const odd = t.mmap(M2 + P);
  assert.equal(
    odd + M2 + P,
    small < big ? small : big,
    "an odd length goes right below, unaligned",
  );
});

Deno.test("madvise: checks, and the VMAs it splits", () => {
  const m = new Machine();
  const t = m.spawn();
  const buf = t.mmap(8n * M2);
  expectErrno(EINVAL, () => t.madvise(buf + 1n, P, MADV_HUGEPAGE));
  expectErrno(EINVAL, () => t.madvise(buf, P, 99));
  t.madvise(buf + 2n * M2, 2n * M2, MADV_HUGEPAGE);
  const vmas = t.mm!.vmas.map((v) => [BigInt(v.vm_start) - buf, !!(v.vm_flags & VM_HUGEPAGE)]);
  assert.deepEqual(vmas.slice(-3), [[0n, false], [2n * M2, true], [4n * M2, false]]);
  // Part of the range unmapped: ENOMEM, and the mapped part is advised all the same.
  t.munmap(buf + 6n * M2, 2n * M2);
  expectErrno(ENOMEM, () => t.madvise(buf + 4n * M2, 4n * M2, MADV_HUGEPAGE));
  assert.ok(
    t.mm!.vmas.some((v) => BigInt(v.vm_start) === buf + 4n * M2 && v.vm_flags & VM_HUGEPAGE),
  );
  t.madvise(buf, 6n * M2, MADV_NOHUGEPAGE);
});

Deno.test("THP fault: one 2 MiB folio and a deposited PTE table; anon counts 512 pages", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/t");
  const t = m.spawn({ cgroup: cg });
  const buf = t.mmap(4n * M2);
  t.madvise(buf, 4n * M2, MADV_HUGEPAGE);
  t.write(buf + M2 + 12345n, new Uint8Array([42]));
  assert.equal(t.mm!.pmds.size, 1);
  assert.equal(t.mm!.ptes.size, 0);
  assert.equal(t.mm!.anon_rss, 512);
  assert.deepEqual(t.read(buf + M2 + 12345n, 1), new Uint8Array([42]));
  assert.match(cg.read("memory.stat"), /^anon 2097152\n/);
  assert.equal(
    t.mm!.pgtables.map((l) => l.size).join(),
    "1,1,1",
    "PUD, PMD and the deposited table",
  );
  // A read first maps the zero page there, and a later write gets a small page.
  t.read(buf + 2n * M2, 1);
  t.write(buf + 2n * M2, new Uint8Array([1]));
  assert.equal(t.mm!.pmds.size, 1);
  assert.equal(t.mm!.ptes.size, 1);
  t.munmap(buf, 4n * M2);
  assert.equal(cg.read("memory.current"), "0\n");
});

Deno.test("THP: the enabled setting, and the fallbacks to small pages", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/t");
  const t = m.spawn({ cgroup: cg });
  const buf = t.mmap(8n * M2);
  t.write(buf, new Uint8Array([1]));
  assert.equal(t.mm!.pmds.size, 0, "madvise mode: a VMA without MADV_HUGEPAGE gets small pages");
  m.transparent_hugepage = "always";
  t.write(buf + M2, new Uint8Array([1]));
  assert.equal(t.mm!.pmds.size, 1, "always mode: huge pages without asking");
  t.madvise(buf, 8n * M2, MADV_NOHUGEPAGE);
  t.write(buf + 2n * M2, new Uint8Array([1]));
  assert.equal(t.mm!.pmds.size, 1, "MADV_NOHUGEPAGE opts out");
  // A cgroup whose limit cannot take 2 MiB: the charge fails and the fault falls back.
  m.transparent_hugepage = "madvise";
  cg.write("memory.max", `${Number(cg.read("memory.current")) + (1 << 20)}`);
  t.madvise(buf, 8n * M2, MADV_HUGEPAGE);
  t.write(buf + 3n * M2, new Uint8Array([1]));
  assert.equal(t.mm!.pmds.size, 1);
  assert.equal(t.mm!.anon_rss, 512 + 2 + 1);
  // An injected failure of the huge allocation falls back too.
  cg.write("memory.max", "max");
  t.task.fail_nth = 1;
  t.write(buf + 4n * M2, new Uint8Array([1]));
  assert.equal(t.task.fail_nth, 0);
  assert.equal(t.task.injectedFault, "fail_page_alloc");
  assert.equal(t.mm!.pmds.size, 1);
});

Deno.test("gup: a PMD-mapped folio is pinned in one step, as PFNs, and unpinned a folio at a time", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/t");
  const t = m.spawn({ cgroup: cg });
  const buf = t.mmap(2n * M2);
  t.madvise(buf, 2n * M2, MADV_HUGEPAGE);
  const pages = new Float64Array(1024);
  const n = t.task.syscall(() =>
    pin_user_pages_fast(buf + 3n * P, 1000, FOLL_WRITE | FOLL_LONGTERM, pages)
  );
  assert.equal(n, 1000);
  assert.equal(t.mm!.pmds.size, 2, "faulted in as huge pages");
  const [f0, f1] = [...t.mm!.pmds.values()];
  assert.equal(f0._pincount, 509);
  assert.equal(f1._pincount, 491);
  assert.equal(pages[0], f0.pfn + 3);
  assert.equal(pages[508], f0.pfn + 511);
  assert.equal(pages[509], f1.pfn);
  // munmap of part of a huge page splits it; the pinned folio stays allocated and charged.
  t.munmap(buf, P * 8n);
  assert.equal(t.mm!.pmds.size, 1);
  assert.equal(t.mm!.ptes.size, 504);
  t.kill();
  assert.equal(cg.read("memory.current"), `${4 << 20}\n`, "both folios stay charged while pinned");
  m.kernel(() => {
    unpin_user_page_range_dirty_lock(pages[0], 509, true);
    unpin_user_pages(pages.subarray(509), 491);
  });
  assert.equal(cg.read("memory.current"), "0\n");
  assert.equal(m.pgdat.pages.size, 0);
});

Deno.test("gup: unpinning more than was pinned is a bug", () => {
  const m = new Machine();
  const t = m.spawn();
  const buf = t.mmap(P);
  const pages: number[] = [];
  const n = t.task.syscall(() => pin_user_pages_fast(buf, 1, FOLL_WRITE, pages));
  assert.ok(!IS_ERR(n));
  m.kernel(() => unpin_user_pages(pages, 1));
  assert.throws(() => m.kernel(() => unpin_user_pages(pages, 1)));
});
