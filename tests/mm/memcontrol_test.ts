import assert from "node:assert/strict";
import {
  __GFP_NORETRY,
  __GFP_RETRY_MAYFAIL,
  alloc_pages,
  EBUSY,
  EINVAL,
  ENOENT,
  ENOMEM,
  ErrnoError,
  GFP_ATOMIC,
  GFP_KERNEL,
  GFP_KERNEL_ACCOUNT,
  GFP_NOWAIT,
  IS_ERR,
  kfree,
  kmalloc,
  Machine,
  type mem_cgroup,
  OOM_SCORE_ADJ_MIN,
  page_counter_try_charge,
  PAGE_SIZE,
  type SlabObject,
  try_charge_memcg,
} from "../../lib/internal.ts";

/** `key value` lines of memory.events / memory.stat as numbers. */
function keyed(text: string): Record<string, number> {
  return Object.fromEntries(
    text.trim().split("\n").map((l) => l.split(" ")).map(([k, v]) => [k, +v]),
  );
}
const events = (cg: mem_cgroup) => keyed(cg.read("memory.events"));
const stat = (cg: mem_cgroup) => keyed(cg.read("memory.stat"));
const current = (cg: mem_cgroup) => Number(cg.read("memory.current"));

Deno.test("memcg: the file formats", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/vm1");
  assert.equal(cg.read("memory.max"), "max\n");
  cg.write("memory.max", "64M");
  assert.equal(cg.read("memory.max"), "67108864\n");
  cg.write("memory.high", "1000"); // rounded down to pages
  assert.equal(cg.read("memory.high"), "0\n");
  cg.write("memory.high", "0x2000");
  assert.equal(cg.read("memory.high"), "8192\n");
  cg.write("memory.max", "max");
  assert.equal(cg.read("memory.max"), "max\n");
  assert.equal(
    cg.read("memory.events"),
    "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
  );
  assert.equal(
    cg.read("memory.stat"),
    "anon 0\nkernel 0\npagetables 0\nsec_pagetables 0\npercpu 0\nslab_reclaimable 0\n" +
      "slab_unreclaimable 0\nslab 0\n",
  );
  assert.equal(cg.read("cgroup.stat"), "nr_descendants 0\nnr_dying_descendants 0\n");
  const bad = (f: string, v: string, errno: number) =>
    assert.throws(() => cg.write(f, v), (e) => e instanceof ErrnoError && e.errno === errno);
  bad("memory.max", "-1", EINVAL);
  bad("memory.max", "12Q", EINVAL);
  bad("memory.oom.group", "2", EINVAL);
  bad("memory.current", "0", 13);
  assert.throws(
    () => m.cgroups.root.read("memory.current"),
    (e) => (e as ErrnoError).errno === ENOENT,
  );
  assert.throws(() => m.cgroups.create("/vm1"), /exists/);
  assert.throws(() => m.cgroups.create("/nope/x"), (e) => (e as ErrnoError).errno === ENOENT);
  assert.equal(m.cgroups.get("/vm1"), cg);
});

Deno.test("memcg: charges are hierarchical and all-or-nothing", () => {
  const m = new Machine();
  const parent = m.cgroups.create("/p");
  const a = m.cgroups.create("/p/a");
  const b = m.cgroups.create("/p/b");
  parent.write("memory.max", `${10 * PAGE_SIZE}`);
  a.write("memory.max", `${8 * PAGE_SIZE}`);
  assert.equal(page_counter_try_charge(a.memory, 6), null);
  assert.equal(page_counter_try_charge(b.memory, 5), parent.memory, "the parent's limit refuses");
  assert.deepEqual([a.memory.usage, b.memory.usage, parent.memory.usage], [6, 0, 6]);
  assert.equal(page_counter_try_charge(a.memory, 3), a.memory, "the lowest limit in the way");
  assert.equal(page_counter_try_charge(b.memory, 4), null, "equality is allowed");
  assert.equal(parent.memory.usage, 10);
  assert.equal(m.cgroups.root.memory.usage, 10, "the root counts everything below it");
});

Deno.test("memcg: max is raised on the limiting ancestor and its ancestors, not below", () => {
  const m = new Machine();
  const top = m.cgroups.create("/top");
  const mid = m.cgroups.create("/top/mid");
  const leaf = m.cgroups.create("/top/mid/leaf");
  mid.write("memory.max", `${4 * PAGE_SIZE}`);
  const t = m.spawn({ cgroup: leaf, oomScoreAdj: OOM_SCORE_ADJ_MIN });
  const rc = t.task.syscall(() => try_charge_memcg(leaf, GFP_KERNEL, 5));
  assert.ok(IS_ERR(rc) && rc.errno === ENOMEM && rc.check === "charge-oom");
  assert.match(rc.reason, /memory.max of \/top\/mid reached/);
  assert.equal(events(leaf).max, 0, "the charged cgroup is below the limit");
  assert.equal(events(mid).max, 18, "2 passes + 16 retries, nothing to reclaim");
  assert.equal(events(mid).oom, 1);
  assert.equal(events(top).max, 18, "hierarchical");
  assert.equal(keyed(top.read("memory.events.local")).max, 0);
  assert.equal(keyed(mid.read("memory.events.local")).max, 18);
  assert.equal(current(leaf), 0, "nothing stays charged");
});

Deno.test("memcg: the gfp flags decide the failure path", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/g");
  cg.write("memory.max", `${PAGE_SIZE}`);
  const t = m.spawn({ cgroup: cg, oomScoreAdj: OOM_SCORE_ADJ_MIN });
  const at = (gfp: number, nr = 2) => {
    const before = events(cg);
    const rc = t.task.syscall(() => try_charge_memcg(cg, gfp, nr));
    const after = events(cg);
    return { rc, max: after.max - before.max, oom: after.oom - before.oom };
  };
  let r = at(GFP_NOWAIT);
  assert.ok(IS_ERR(r.rc) && r.rc.check === "charge-nowait");
  assert.deepEqual([r.max, r.oom], [0, 0], "no sleep, no reclaim, no event");
  r = at(GFP_KERNEL | __GFP_NORETRY);
  assert.ok(IS_ERR(r.rc) && r.rc.check === "charge-noretry");
  assert.deepEqual([r.max, r.oom], [2, 0]);
  r = at(GFP_KERNEL | __GFP_RETRY_MAYFAIL);
  assert.ok(IS_ERR(r.rc) && r.rc.check === "charge-retry-mayfail");
  assert.deepEqual([r.max, r.oom], [18, 0]);
  r = at(GFP_KERNEL, 16); // order 4 > PAGE_ALLOC_COSTLY_ORDER
  assert.ok(IS_ERR(r.rc) && r.rc.check === "charge-oom");
  assert.deepEqual([r.max, r.oom], [18, 0], "costly: no OOM, no oom event");
  r = at(GFP_ATOMIC);
  assert.equal(r.rc, 0, "__GFP_HIGH forces the charge");
  assert.deepEqual([r.max, r.oom], [1, 0]);
  assert.equal(current(cg), 2 * PAGE_SIZE, "over the limit");
});

Deno.test("memcg: OOM picks the biggest task in the limited subtree, never -1000", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/vm");
  const outside = m.spawn();
  const big = m.spawn({ cgroup: cg, comm: "big" });
  const small = m.spawn({ cgroup: cg, comm: "small" });
  const huge = m.spawn({ cgroup: cg, comm: "protected", oomScoreAdj: OOM_SCORE_ADJ_MIN });
  const fill = (t: ReturnType<Machine["spawn"]>, pages: number) =>
    t.write(t.mmap(BigInt(pages * PAGE_SIZE)), new Uint8Array(pages * PAGE_SIZE).fill(1));
  fill(outside, 50);
  fill(big, 30);
  fill(small, 10);
  fill(huge, 40);
  cg.write("memory.max", `${current(cg) + 2 * PAGE_SIZE}`);
  const held: SlabObject[] = [];
  const rc = small.task.syscall(() => {
    for (;;) {
      const o = kmalloc(4096, GFP_KERNEL_ACCOUNT);
      if (!o) return -1;
      held.push(o);
      if (held.length === 10) return 0;
    }
  });
  assert.equal(rc, 0, "the kill made room");
  assert.ok(
    big.task.exit_state && !small.task.exit_state && !huge.task.exit_state &&
      !outside.task.exit_state,
  );
  assert.deepEqual([events(cg).oom, events(cg).oom_kill], [1, 1]);
  small.task.syscall(() => held.forEach(kfree));
});

Deno.test("memcg: the allocating task can be the victim; its syscall fails with ENOMEM", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/vm");
  cg.write("memory.max", `${16 * PAGE_SIZE}`);
  const vmm = m.spawn({ cgroup: cg });
  let failed: ErrnoError | null = null;
  vmm.task.syscall(() => {
    for (;;) {
      const p = alloc_pages(GFP_KERNEL_ACCOUNT, 0);
      if (!p) {
        failed = new ErrnoError(ENOMEM, "test", "alloc");
        break;
      }
    }
  });
  assert.ok(failed);
  assert.ok(vmm.task.exit_state, "killed on its way back to user mode");
  const e = events(cg);
  assert.deepEqual([e.max, e.oom, e.oom_kill], [18 + 17, 1, 1]);
});

Deno.test("memcg: nobody to kill — ENOMEM with an oom event and no kill", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/vm");
  cg.write("memory.max", `${4 * PAGE_SIZE}`);
  const vmm = m.spawn({ cgroup: cg, oomScoreAdj: OOM_SCORE_ADJ_MIN });
  const rc = vmm.task.syscall(() => try_charge_memcg(cg, GFP_KERNEL, 5));
  assert.ok(IS_ERR(rc) && rc.check === "charge-oom");
  assert.ok(!vmm.task.exit_state);
  assert.deepEqual([events(cg).oom, events(cg).oom_kill], [1, 0]);
});

Deno.test("memcg: memory.high never fails a charge; high is raised on return to user mode", () => {
  const m = new Machine();
  const parent = m.cgroups.create("/p");
  const cg = m.cgroups.create("/p/c");
  parent.write("memory.high", `${4 * PAGE_SIZE}`);
  const t = m.spawn({ cgroup: cg });
  t.task.syscall(() => {
    for (let i = 0; i < 8; i++) assert.ok(alloc_pages(GFP_KERNEL_ACCOUNT, 0));
    assert.equal(events(parent).high, 0, "not yet: the debt is paid on the way out");
  });
  // Twice its high: a penalty worth sleeping for, so 1 + MAX_RECLAIM_RETRIES reclaim passes.
  assert.equal(events(parent).high, 17);
  assert.equal(events(cg).high, 0, "the child is not above its own high");
  assert.equal(current(cg), 8 * PAGE_SIZE);
});

Deno.test("memcg: tasks in the root and kernel threads charge nothing", () => {
  const m = new Machine();
  const rootTask = m.spawn();
  rootTask.task.syscall(() => assert.ok(kmalloc(100, GFP_KERNEL_ACCOUNT)));
  m.kernel(() => assert.ok(alloc_pages(GFP_KERNEL_ACCOUNT, 0)));
  assert.equal(m.cgroups.root.memory.usage, 0);
  assert.equal(stat(m.cgroups.root).kernel, 0);
});

Deno.test("memcg: ownership is fixed at allocation; moving a task moves no charge", () => {
  const m = new Machine();
  const a = m.cgroups.create("/a");
  const b = m.cgroups.create("/b");
  const t = m.spawn({ cgroup: a });
  const buf = t.mmap(1n << 20n);
  t.write(buf, new Uint8Array([1]));
  const obj = t.task.syscall(() => kmalloc(64, GFP_KERNEL_ACCOUNT))!;
  const aBefore = current(a);
  b.write("cgroup.procs", `${t.pid}`);
  assert.equal(a.read("cgroup.procs"), "");
  assert.equal(b.read("cgroup.procs"), `${t.pid}\n`);
  assert.equal(current(a), aBefore, "nothing moved");
  assert.equal(current(b), 0);
  t.write(buf + 8192n, new Uint8Array([1]));
  assert.equal(current(b), PAGE_SIZE, "new pages charge the new cgroup");
  assert.equal(stat(b).anon, PAGE_SIZE);
  const other = m.spawn({ cgroup: b });
  other.task.syscall(() => kfree(obj)); // freed by a task elsewhere: uncharges the owner
  assert.equal(stat(a).slab_unreclaimable, 0);
  assert.throws(() => b.write("cgroup.procs", "999999"), /no task/);
  assert.throws(() => b.write("cgroup.procs", "2"), (e) => (e as ErrnoError).errno === EINVAL);
});

Deno.test("memcg: removing a cgroup reparents its kernel charges", () => {
  const m = new Machine();
  const parent = m.cgroups.create("/p");
  const child = m.cgroups.create("/p/c");
  const t = m.spawn({ cgroup: child });
  const objs = t.task.syscall(() =>
    Array.from({ length: 10 }, () => kmalloc(1000, GFP_KERNEL_ACCOUNT)!)
  );
  const pcur = current(parent);
  assert.equal(pcur, current(child));
  assert.throws(() => m.cgroups.remove("/p/c"), (e) => (e as ErrnoError).errno === EBUSY);
  assert.throws(() => m.cgroups.remove("/p"), (e) => (e as ErrnoError).errno === EBUSY);
  m.cgroups.create("/q").write("cgroup.procs", `${t.pid}`);
  m.cgroups.remove("/p/c");
  assert.equal(current(parent), pcur, "the parent already held the charges");
  assert.equal(parent.read("cgroup.stat"), "nr_descendants 0\nnr_dying_descendants 0\n");
  assert.equal(stat(parent).slab_unreclaimable, 10 * 1032);
  m.kernel(() => objs.forEach(kfree));
  assert.equal(current(parent), 0, "later frees uncharge the parent");
  assert.equal(stat(parent).slab_unreclaimable, 0);
  assert.equal(stat(parent).kernel, 0);
});

Deno.test("memcg: a removed cgroup with pinned user pages is dying until they go", async (t) => {
  const { FOLL_LONGTERM, FOLL_WRITE, pin_user_pages_fast, unpin_user_pages } = await import(
    "../../lib/internal.ts"
  );
  const m = new Machine();
  const parent = m.cgroups.create("/p");
  const child = m.cgroups.create("/p/c");
  const vmm = m.spawn({ cgroup: child });
  const buf = vmm.mmap(BigInt(PAGE_SIZE));
  const pages: number[] = [];
  vmm.task.syscall(() => pin_user_pages_fast(buf, 1, FOLL_WRITE | FOLL_LONGTERM, pages));
  vmm.kill();
  m.cgroups.remove("/p/c");
  assert.equal(parent.read("cgroup.stat"), "nr_descendants 0\nnr_dying_descendants 1\n");
  assert.equal(current(parent), PAGE_SIZE);
  m.kernel(() => unpin_user_pages(pages, 1));
  assert.equal(parent.read("cgroup.stat"), "nr_descendants 0\nnr_dying_descendants 0\n");
  assert.equal(current(parent), 0);
  await t.step("the name is free again", () => assert.ok(m.cgroups.create("/p/c")));
});

Deno.test("memcg: slab objects cost their class + 8 bytes, paid in whole pages", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/s");
  const t = m.spawn({ cgroup: cg });
  const objs: SlabObject[] = [];
  t.task.syscall(() => {
    objs.push(kmalloc(50, GFP_KERNEL_ACCOUNT)!);
    assert.equal(stat(cg).slab_unreclaimable, 72);
    assert.equal(current(cg), PAGE_SIZE, "one page charged, the rest is stock");
    for (let i = 1; i < 56; i++) objs.push(kmalloc(50, GFP_KERNEL_ACCOUNT)!);
    assert.equal(stat(cg).slab_unreclaimable, 56 * 72);
    assert.equal(current(cg), PAGE_SIZE, "56 × 72 = 4032 bytes fit in one page");
    objs.push(kmalloc(50, GFP_KERNEL_ACCOUNT)!);
    assert.equal(current(cg), 2 * PAGE_SIZE);
    assert.equal(stat(cg).kernel, 2 * PAGE_SIZE);
    objs.forEach(kfree);
  });
  assert.equal(current(cg), 0, "a full teardown returns to the start");
  assert.equal(stat(cg).slab, 0);
});

Deno.test("memcg: memory.max below usage OOM-kills until it fits", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/w");
  const a = m.spawn({ cgroup: cg });
  const b = m.spawn({ cgroup: cg });
  a.write(a.mmap(1n << 20n), new Uint8Array(1 << 20).fill(1));
  b.write(b.mmap(1n << 20n), new Uint8Array(1 << 19).fill(1));
  cg.write("memory.max", `${1 << 20}`);
  assert.ok(a.task.exit_state && !b.task.exit_state);
  assert.deepEqual([events(cg).oom, events(cg).oom_kill], [1, 1]);
  assert.ok(current(cg) <= 1 << 20);
});
