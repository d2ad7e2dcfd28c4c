// Issue 14 L: memory-cgroup charging as Linux v6.12 does it.
import assert from "node:assert/strict";
import {
  alloc_pages,
  calculate_high_delay,
  EINVAL,
  ENODEV,
  ERANGE,
  ErrnoError,
  ESRCH,
  file,
  GFP_KERNEL_ACCOUNT,
  HZ,
  kmalloc,
  Machine,
  type mem_cgroup,
  OOM_SCORE_ADJ_MIN,
  PAGE_SIZE,
  PF_NO_SETAFFINITY,
  type SlabObject,
  XA_FLAGS_ACCOUNT,
  xa_store,
  xarray,
} from "../../lib/internal.ts";

const keyed = (text: string): Record<string, number> =>
  Object.fromEntries(text.trim().split("\n").map((l) => l.split(" ")).map(([k, v]) => [k, +v]));
const events = (cg: mem_cgroup) => keyed(cg.read("memory.events"));
const errno = (fn: () => void, e: number, check?: string) =>
  assert.throws(
    fn,
    (x) => x instanceof ErrnoError && x.errno === e && (!check || x.check === check),
  );

Deno.test("mm/memcontrol.c current_obj_cgroup(): the objcg cached in current->objcg charges a file release at exit, after exit_mm() (v6.12 mem_cgroup_exit() runs after exit_files())", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/vm");
  const t = m.spawn({ cgroup: cg });
  t.task.syscall(() => assert.ok(kmalloc(64, GFP_KERNEL_ACCOUNT))); // computes and caches the objcg
  let released: SlabObject | null = null;
  let mmAtRelease: unknown = "unset";
  const f = new file({
    release: () => {
      mmAtRelease = t.mm;
      released = kmalloc(256, GFP_KERNEL_ACCOUNT);
    },
  });
  t.task.files!.fd_install(f);
  t.kill();
  assert.equal(mmAtRelease, null, "the release ran after exit_mm()");
  assert.ok(released);
  assert.equal((released as SlabObject).objcg, cg.objcg, "charged to the task's cgroup");
});

Deno.test("mm/memcontrol.c current_objcg_update(): a task that never charged computes no objcg once its mm is gone; a moved task recomputes", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/vm");
  const t = m.spawn({ cgroup: cg });
  let released: SlabObject | null = null;
  t.task.files!.fd_install(
    new file({ release: () => (released = kmalloc(256, GFP_KERNEL_ACCOUNT)) }),
  );
  t.kill();
  assert.ok(released);
  assert.equal((released as SlabObject).objcg, null, "no mm at the first charge: nobody");
  // Migration sets the update flag: the next charge goes to the new cgroup.
  const u = m.spawn({ cgroup: cg });
  u.task.syscall(() => kmalloc(64, GFP_KERNEL_ACCOUNT));
  const other = m.cgroups.create("/other");
  other.write("cgroup.procs", `${u.pid}`);
  const obj = u.task.syscall(() => kmalloc(64, GFP_KERNEL_ACCOUNT))!;
  assert.equal(obj.objcg, other.objcg);
});

Deno.test("mm/memcontrol.c: an exiting task's release can hit memory.max through the cached objcg", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/vm");
  const t = m.spawn({ cgroup: cg });
  t.task.signal.oom_score_adj = OOM_SCORE_ADJ_MIN;
  t.task.syscall(() => kmalloc(64, GFP_KERNEL_ACCOUNT));
  cg.write("memory.max", cg.read("memory.current"));
  let released: SlabObject | null | "unset" = "unset";
  t.task.files!.fd_install(
    new file({ release: () => (released = kmalloc(8192, GFP_KERNEL_ACCOUNT)) }),
  );
  const maxBefore = events(cg).max;
  t.kill();
  assert.equal(released, null, "the charge failed: ENOMEM to the release function");
  assert.ok(events(cg).max > maxBefore, "memory.max was hit");
});

Deno.test("lib/xarray.c xas_alloc(): GFP_NOWAIT first; __GFP_ACCOUNT only for XA_FLAGS_ACCOUNT, whatever the caller's gfp", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/vm");
  const t = m.spawn({ cgroup: cg });
  const plain = new xarray<number>();
  const accounted = new xarray<number>(XA_FLAGS_ACCOUNT);
  const slab = () => keyed(cg.read("memory.stat")).slab_reclaimable;
  t.task.syscall(() => xa_store(plain, 100000, 1, GFP_KERNEL_ACCOUNT));
  assert.ok(plain.nodes.size > 0);
  assert.equal(slab(), 0, "a plain xarray's nodes are not charged under GFP_KERNEL_ACCOUNT");
  t.task.syscall(() => xa_store(accounted, 100000, 1, GFP_KERNEL_ACCOUNT));
  assert.ok(slab() > 0, "XA_FLAGS_ACCOUNT nodes are");
});

Deno.test("mm/memcontrol.c mem_cgroup_handle_over_high(): reclaim_high() repeats up to MAX_RECLAIM_RETRIES times, then the task sleeps a delay quadratic in the overage", () => {
  // calculate_high_delay(): overage (usage - high) / high in 2^-20 units, squared.
  const one = 1n << 20n; // 100% over
  assert.equal(calculate_high_delay(64, one), HZ * 64, "100% over, 64 pages: 64 s before clamping");
  assert.equal(
    calculate_high_delay(64, one / 2n),
    HZ * 16,
    "half the overage: a quarter the delay",
  );
  assert.equal(calculate_high_delay(32, one / 2n), HZ * 8, "linear in the pages charged");
  const m = new Machine();
  const cg = m.cgroups.create("/vm");
  cg.write("memory.high", `${100 * PAGE_SIZE}`);
  const t = m.spawn({ cgroup: cg });
  // 101 pages over a high of 100: 1% over; delay (0.01)^2 * HZ * 2^6 * n / 64 — too small to sleep.
  const buf = t.mmap(BigInt(200 * PAGE_SIZE));
  t.write(buf, new Uint8Array(101 * PAGE_SIZE));
  assert.equal(events(cg).high, 1, "one pass: the penalty is forgiven (≤ HZ/100)");
  assert.equal(cg.highDelayJiffies, 0);
  // Far over: 17 passes, then a clamped 2 s sleep.
  // One charge of 128 pages (usage 229, 129% over): paid at once inside the kernel.
  t.task.syscall(() => assert.ok(alloc_pages(GFP_KERNEL_ACCOUNT, 7)));
  assert.equal(events(cg).high, 1 + 17);
  assert.equal(cg.highDelayJiffies, 2 * HZ);
});

Deno.test("mm/page_counter.c page_counter_memparse(): an empty write sets the limit to 0", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/vm");
  cg.write("memory.max", "");
  assert.equal(cg.read("memory.max"), "0\n");
  cg.write("memory.high", "\n");
  assert.equal(cg.read("memory.high"), "0\n");
  cg.write("memory.max", "k");
  assert.equal(cg.read("memory.max"), "0\n", "a bare suffix is 0 too");
  errno(() => cg.write("memory.max", "+1"), EINVAL, "memparse-parse");
});

Deno.test("mm/memcontrol.c memory_oom_group_write(): kstrtoint(buf, 0)", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/vm");
  for (const v of ["0x1", "+1", "01", "1\n"]) {
    cg.write("memory.oom.group", "0");
    cg.write("memory.oom.group", v);
    assert.equal(cg.read("memory.oom.group"), "1\n", v);
  }
  cg.write("memory.oom.group", "-0");
  assert.equal(cg.read("memory.oom.group"), "0\n");
  errno(() => cg.write("memory.oom.group", "2"), EINVAL, "oom-group-value");
  errno(() => cg.write("memory.oom.group", "0x"), EINVAL, "kstrtoint-parse");
  errno(() => cg.write("memory.oom.group", "4294967297"), ERANGE, "kstrtoint-range");
});

Deno.test("kernel/cgroup/cgroup.c __cgroup_procs_write(): ENODEV first; pid 0 is the writer; only PF_NO_SETAFFINITY kthreads (and kthreadd) stay put", () => {
  const m = new Machine();
  const a = m.cgroups.create("/a");
  const gone = m.cgroups.create("/gone");
  m.cgroups.remove("/gone");
  errno(() => gone.write("cgroup.procs", "not a pid"), ENODEV, "procs-removed");
  errno(() => a.write("cgroup.procs", "abc"), EINVAL, "procs-parse");
  errno(() => a.write("cgroup.procs", "4294967297"), EINVAL, "procs-parse");
  errno(() => a.write("cgroup.procs", "-1"), EINVAL, "procs-parse");
  errno(() => a.write("cgroup.procs", "999999"), ESRCH, "procs-no-task");
  const t = m.spawn();
  a.write("cgroup.procs", "0", t.task);
  assert.equal(t.cgroup, a, "pid 0: the writer moved itself");
  a.write("cgroup.procs", `0x${t.pid.toString(16)}`);
  assert.equal(t.cgroup, a);
  errno(() => a.write("cgroup.procs", `${m.kthreadd.pid}`), EINVAL, "procs-no-migrate");
  const kt = m.spawn();
  kt.task.flags |= PF_NO_SETAFFINITY;
  errno(() => a.write("cgroup.procs", `${kt.pid}`), EINVAL, "procs-no-migrate");
});
