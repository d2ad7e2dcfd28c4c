/**
 * Ports of the cases of tools/testing/selftests/cgroup/test_memcontrol.c and test_kmem.c (v6.12)
 * that apply to the model, named after the kernel tests. The kernel tests allocate anonymous
 * memory in child processes (cg_run); here tasks write to mmap()ed memory. Sizes are scaled down
 * by 1000 where that keeps the test fast; the relations the kernel test checks are unchanged.
 *
 * Not ported: test_memcg_subtree_control (one controller, always on), test_memcg_min/low and
 * test_memcg_reclaim (nothing reclaimable), test_memcg_swap_max_peak (no swap), test_memcg_sock
 * (no sockets), test_kmem_basic (needs reclaimable dentries), test_kmem_proc_kpagecgroup,
 * test_kmem_kernel_stacks and test_percpu_basic (no kernel stacks or per-CPU memory in the model).
 */
import assert from "node:assert/strict";
import {
  GFP_KERNEL_ACCOUNT,
  kfree,
  kmalloc,
  Machine,
  type mem_cgroup,
  OOM_SCORE_ADJ_MIN,
  PAGE_SIZE,
  type Process,
} from "../../lib/internal.ts";

const KB = 1024;
const key = (cg: mem_cgroup, file: string, k: string) =>
  Number(new RegExp(`^${k} (\\d+)$`, "m").exec(cg.read(file))![1]);

/** alloc_anon(): a task mmap()s and touches `size` bytes; false if it died trying. */
function alloc_anon(t: Process, size: number): boolean {
  try {
    t.write(t.mmap(BigInt(size)), new Uint8Array(size).fill(1));
    return true;
  } catch {
    return false;
  }
}

/** cg_run(): a fresh task in `cg` runs `fn`; returns whether it exited normally. */
function cg_run(m: Machine, cg: mem_cgroup, fn: (t: Process) => boolean): boolean {
  const t = m.spawn({ cgroup: cg });
  const ok = fn(t) && !t.task.exit_state;
  if (!t.task.exit_state) t.kill();
  return ok;
}

Deno.test("test_memcg_current_peak", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/memcg_test");
  assert.equal(cg.read("memory.current"), "0\n");
  assert.equal(cg.read("memory.peak"), "0\n");
  const t = m.spawn({ cgroup: cg });
  assert.ok(alloc_anon(t, 200 * KB));
  const current = Number(cg.read("memory.current"));
  assert.ok(current >= 200 * KB && key(cg, "memory.stat", "anon") >= 200 * KB);
  t.kill();
  assert.equal(cg.read("memory.current"), "0\n");
  assert.equal(Number(cg.read("memory.peak")), current, "peak remembers");
});

Deno.test("test_memcg_high", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/memcg_test");
  cg.write("memory.high", `${30 * KB * 4}`);
  assert.ok(cg_run(m, cg, (t) => alloc_anon(t, 31 * KB * 4)), "high never fails an allocation");
  assert.ok(key(cg, "memory.events", "high") > 0);
});

Deno.test("test_memcg_high_sync", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/memcg_test");
  cg.write("memory.high", `${30 * PAGE_SIZE}`);
  cg.write("memory.max", `${140 * PAGE_SIZE}`);
  const t = m.spawn({ cgroup: cg });
  // one kernel entry charging far beyond high (the kernel test mlock()s 200M at once)
  const objs = t.task.syscall(() => {
    const got = Array.from({ length: 120 }, () => kmalloc(4096, GFP_KERNEL_ACCOUNT)!);
    assert.ok(key(cg, "memory.events", "high") > 0, "paid synchronously, inside the kernel");
    return got;
  });
  assert.equal(key(cg, "memory.events", "max"), 0, "max untouched");
  t.task.syscall(() => objs.forEach(kfree));
});

Deno.test("test_memcg_max", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/memcg_test");
  cg.write("memory.max", `${30 * KB * 4}`);
  assert.equal(cg.read("memory.max"), `${30 * KB * 4}\n`);
  assert.ok(!cg_run(m, cg, (t) => alloc_anon(t, 100 * KB * 4)), "the task is OOM-killed");
  const current = Number(cg.read("memory.current"));
  assert.ok(current <= 30 * KB * 4);
  assert.ok(key(cg, "memory.events", "max") > 0);
});

Deno.test("test_memcg_oom_events", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/memcg_test");
  cg.write("memory.max", `${30 * KB * 4}`);
  assert.ok(!cg_run(m, cg, (t) => alloc_anon(t, 100 * KB * 4)));
  assert.equal(cg.read("cgroup.procs"), "");
  assert.equal(key(cg, "memory.events", "oom"), 1);
  assert.equal(key(cg, "memory.events", "oom_kill"), 1);
});

for (const localevents of [false, true]) {
  Deno.test(`test_memcg_oom_group_leaf_events${localevents ? " (memory_localevents)" : ""}`, () => {
    const m = new Machine({ memory_localevents: localevents });
    const parent = m.cgroups.create("/memcg_test_0");
    const child = m.cgroups.create("/memcg_test_0/memcg_test_1");
    child.write("memory.max", `${50 * KB * 4}`);
    child.write("memory.oom.group", "1");
    const p = m.spawn({ cgroup: parent });
    assert.ok(alloc_anon(p, 60 * KB * 4));
    const c1 = m.spawn({ cgroup: child });
    const c2 = m.spawn({ cgroup: child });
    assert.ok(alloc_anon(c1, KB * 4) && alloc_anon(c2, KB * 4));
    assert.ok(!cg_run(m, child, (t) => alloc_anon(t, 100 * KB * 4)));
    assert.equal(child.read("cgroup.procs"), "", "every task of the group was killed");
    assert.ok(!p.task.exit_state);
    assert.ok(key(child, "memory.events", "oom_kill") > 0);
    const parentKills = key(parent, "memory.events", "oom_kill");
    if (localevents) assert.equal(parentKills, 0);
    else assert.ok(parentKills > 0);
  });
}

Deno.test("test_memcg_oom_group_parent_events", () => {
  const m = new Machine();
  const parent = m.cgroups.create("/memcg_test_0");
  const child = m.cgroups.create("/memcg_test_0/memcg_test_1");
  parent.write("memory.max", `${80 * KB * 4}`);
  parent.write("memory.oom.group", "1");
  const p = m.spawn({ cgroup: parent });
  assert.ok(alloc_anon(p, 60 * KB * 4));
  assert.ok(alloc_anon(m.spawn({ cgroup: child }), KB * 4));
  assert.ok(alloc_anon(m.spawn({ cgroup: child }), KB * 4));
  assert.ok(!cg_run(m, child, (t) => alloc_anon(t, 100 * KB * 4)));
  assert.equal(child.read("cgroup.procs"), "");
  assert.equal(parent.read("cgroup.procs"), "");
});

Deno.test("test_memcg_oom_group_score_events", () => {
  const m = new Machine();
  const cg = m.cgroups.create("/memcg_test_0");
  cg.write("memory.max", `${50 * KB * 4}`);
  cg.write("memory.oom.group", "1");
  const safe = m.spawn({ cgroup: cg, oomScoreAdj: OOM_SCORE_ADJ_MIN });
  assert.ok(alloc_anon(safe, KB * 4));
  assert.ok(alloc_anon(m.spawn({ cgroup: cg }), KB * 4));
  assert.ok(!cg_run(m, cg, (t) => alloc_anon(t, 100 * KB * 4)));
  assert.equal(key(cg, "memory.events", "oom_kill"), 3, "the victim counts twice");
  assert.ok(!safe.task.exit_state);
  safe.kill();
});

Deno.test("test_kmem_memcg_deletion", () => {
  const m = new Machine();
  const parent = m.cgroups.create("/kmem_memcg_deletion_test");
  const held: ReturnType<typeof kmalloc>[] = [];
  for (let i = 0; i < 100; i++) {
    const child = m.cgroups.create(`/kmem_memcg_deletion_test/child_${i}`);
    const t = m.spawn({ cgroup: child });
    alloc_anon(t, 2 * PAGE_SIZE);
    t.task.syscall(() =>
      held.push(kmalloc(700, GFP_KERNEL_ACCOUNT), kmalloc(96, GFP_KERNEL_ACCOUNT))
    );
    t.kill();
    m.cgroups.remove(`/kmem_memcg_deletion_test/child_${i}`);
  }
  const current = Number(parent.read("memory.current"));
  const sum = ["anon", "kernel"].reduce((s, k) => s + key(parent, "memory.stat", k), 0);
  assert.ok(current > 0);
  assert.equal(current, sum, "exact in the model (the kernel allows 64 pages per CPU)");
  m.kernel(() => held.forEach(kfree));
  assert.equal(parent.read("memory.current"), "0\n");
});

Deno.test("test_kmem_dead_cgroups", () => {
  const m = new Machine();
  const parent = m.cgroups.create("/kmem_dead_cgroups_test");
  const held: ReturnType<typeof kmalloc>[] = [];
  for (let i = 0; i < 30; i++) {
    const child = m.cgroups.create(`/kmem_dead_cgroups_test/child_${i}`);
    const t = m.spawn({ cgroup: child });
    t.task.syscall(() => held.push(kmalloc(4000, GFP_KERNEL_ACCOUNT)));
    t.kill();
    m.cgroups.remove(`/kmem_dead_cgroups_test/child_${i}`);
  }
  assert.equal(key(parent, "cgroup.stat", "nr_dying_descendants"), 0, "kmem pins no cgroup");
  assert.ok(Number(parent.read("memory.current")) > 0, "the charges live on in the parent");
  m.kernel(() => held.forEach(kfree));
});
