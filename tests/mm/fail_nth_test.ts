/**
 * fail-nth sweeps in the shape of tools/testing/selftests/iommu/iommufd_fail_nth.c: fail every
 * fault-injection point of an operation in turn, tear down, and check that nothing leaked. Then
 * the second dimension the kernel selftest lacks: fail at memory.max instead.
 */
import assert from "node:assert/strict";
import {
  do_update_pinned,
  file,
  FOLL_LONGTERM,
  FOLL_WRITE,
  GFP_KERNEL_ACCOUNT,
  iommu_alloc_page,
  iommu_free_page,
  ioptPagesAccountInit,
  IS_ERR,
  kfree,
  kzalloc,
  Machine,
  type mem_cgroup,
  OOM_SCORE_ADJ_MIN,
  type page,
  PAGE_SIZE,
  pin_user_pages_fast,
  type Process,
  type SlabObject,
  unpin_user_pages,
} from "../../lib/internal.ts";

/**
 * A driver whose ioctl does what an iommufd MAP into a domain does, in miniature: an object, an
 * xarray-sized object, pins with locked_vm accounting, and IOMMU page-table pages. Each step can
 * fail; a failure unwinds in reverse. release() frees everything the file still holds.
 */
function openDriver(task: Process): number {
  interface State {
    objs: SlabObject[];
    tables: page[];
    pins: { pages: number[]; acct: ReturnType<typeof ioptPagesAccountInit> }[];
  }
  const state: State = { objs: [], tables: [], pins: [] };
  const ioctl = (_f: file, _cmd: number, arg: bigint) => {
    const obj = kzalloc(200, GFP_KERNEL_ACCOUNT);
    if (!obj) return -12;
    const node = kzalloc(576, GFP_KERNEL_ACCOUNT);
    if (!node) {
      kfree(obj);
      return -12;
    }
    const pages: number[] = [];
    const n = pin_user_pages_fast(arg, 4, FOLL_WRITE | FOLL_LONGTERM, pages);
    if (IS_ERR(n) || n < 4) {
      if (!IS_ERR(n)) unpin_user_pages(pages, n);
      kfree(node);
      kfree(obj);
      return -12;
    }
    const acct = ioptPagesAccountInit();
    if (do_update_pinned(acct, 4, true)) {
      unpin_user_pages(pages, 4);
      kfree(node);
      kfree(obj);
      return -12;
    }
    const tables: page[] = [];
    for (let i = 0; i < 3; i++) {
      const t = iommu_alloc_page(GFP_KERNEL_ACCOUNT);
      if (!t) {
        tables.forEach(iommu_free_page);
        do_update_pinned(acct, 4, false);
        unpin_user_pages(pages, 4);
        kfree(node);
        kfree(obj);
        return -12;
      }
      tables.push(t);
    }
    state.objs.push(obj, node);
    state.tables.push(...tables);
    state.pins.push({ pages, acct });
    return 0;
  };
  const release = () => {
    state.tables.forEach(iommu_free_page);
    for (const { pages, acct } of state.pins) {
      do_update_pinned(acct, pages.length, false);
      unpin_user_pages(pages, pages.length);
    }
    state.objs.forEach(kfree);
  };
  return task.task.syscall(() =>
    task.task.files!.fd_install(new file({ release, unlocked_ioctl: ioctl }))
  );
}

function snapshot(m: Machine, cg: mem_cgroup, t: Process) {
  return {
    current: cg.read("memory.current"),
    stat: cg.read("memory.stat"),
    vm_stat: { ...m.pgdat.vm_stat },
    pages: m.pgdat.pages.size,
    locked_vm: t.task.cred.user.locked_vm,
    pinned_vm: t.mm!.pinned_vm,
  };
}

/** A fresh machine with a VMM whose buffer is already faulted in (setup is not swept). */
function fixture(max = "max") {
  const m = new Machine();
  const cg = m.cgroups.create("/vmm");
  cg.write("memory.max", max);
  const vmm = m.spawn({ cgroup: cg, rlimitMemlock: 1n << 20n });
  const buf = vmm.mmap(16n * BigInt(PAGE_SIZE));
  vmm.write(buf, new Uint8Array(16 * PAGE_SIZE).fill(1));
  const fd = openDriver(vmm);
  return { m, cg, vmm, buf, fd };
}

Deno.test("fail-nth: every injection point of a multi-allocation ioctl fails cleanly", () => {
  const clean = fixture();
  const before = snapshot(clean.m, clean.cg, clean.vmm);
  assert.equal(clean.vmm.ioctl(clean.fd, 1, clean.buf), 0);
  clean.vmm.close(clean.fd);
  assert.deepEqual(snapshot(clean.m, clean.cg, clean.vmm), before, "no leak without injection");

  const sites: string[] = [];
  for (let n = 1; n < 100; n++) {
    const { m, cg, vmm, buf, fd } = fixture();
    const base = snapshot(m, cg, vmm);
    vmm.task.fail_nth = n;
    const rc = vmm.ioctl(fd, 1, buf);
    const injected = vmm.task.fail_nth === 0;
    vmm.task.fail_nth = 0;
    if (!injected) {
      assert.equal(rc, 0, "the run without injection succeeds");
      assert.ok(n > 1);
      break;
    }
    sites.push(vmm.task.injectedFault!);
    assert.equal(rc, -12, `injection ${n} (${vmm.task.injectedFault}) fails the ioctl`);
    assert.deepEqual(snapshot(m, cg, vmm), base, `nothing charged after failure ${n}`);
    assert.match(cg.read("memory.events"), /\nmax 0\n/, "an injected failure is not a limit hit");
    vmm.close(fd);
    assert.deepEqual(snapshot(m, cg, vmm), base, `nothing leaked after failure ${n} and close`);
  }
  assert.deepEqual(sites, [
    "failslab",
    "failslab",
    "fail_page_alloc",
    "fail_page_alloc",
    "fail_page_alloc",
  ]);
});

Deno.test("fail-nth: the same ioctl at every memory.max that makes it fail", () => {
  const probe = fixture();
  const base = Number(probe.cg.read("memory.current"));
  assert.equal(probe.vmm.ioctl(probe.fd, 1, probe.buf), 0);
  const need = Number(probe.cg.read("memory.current")) - base;
  for (let max = base; max < base + need; max += PAGE_SIZE) {
    const { m, cg, vmm, buf, fd } = fixture(`${max}`);
    vmm.task.signal.oom_score_adj = OOM_SCORE_ADJ_MIN; // nobody to kill: the charge fails
    const before = snapshot(m, cg, vmm);
    assert.equal(vmm.ioctl(fd, 1, buf), -12, `memory.max ${max} is too small`);
    assert.deepEqual(snapshot(m, cg, vmm), before, `the failure at ${max} left no charge`);
    vmm.close(fd);
    assert.deepEqual(snapshot(m, cg, vmm), before);
  }
});

Deno.test("fail-nth: a killed task's files are released and its memory uncharged", () => {
  const { m, cg, vmm, buf, fd } = fixture();
  assert.equal(vmm.ioctl(fd, 1, buf), 0);
  assert.ok(Number(cg.read("memory.current")) > 0);
  const user = vmm.task.cred.user;
  vmm.kill();
  assert.equal(cg.read("memory.current"), "0\n");
  assert.equal(user.locked_vm, 0);
  assert.equal(m.pgdat.pages.size, 0);
  assert.equal(m.pgdat.vm_stat.NR_IOMMU_PAGES, 0);
});
