/**
 * Fixtures of the ported kernel selftests (tools/testing/selftests/iommu/iommufd.c, v6.12) and the
 * teardown check every one of them ends with: close the iommufd, and every memory-cgroup counter,
 * IOMMU page count, locked-memory counter and IOMMU group is back where it started; then the exit
 * check: once every task is killed, nothing stays charged.
 */
import assert from "node:assert/strict";
import {
  CAP_SYS_RESOURCE,
  type device,
  ErrnoError,
  type IommufdFd,
  Machine,
  type mem_cgroup,
  type Process,
} from "../../lib/internal.ts";

/** Everything that must return to its starting value once the iommufd is closed. */
export function snapshot(m: Machine, cg: mem_cgroup, vmm: Process) {
  const stat = Object.fromEntries(
    cg.read("memory.stat").trim().split("\n").map((l) => l.split(" ")).map((
      [k, v],
    ) => [k, Number(v)]),
  );
  return {
    "memory.current": Number(cg.read("memory.current")),
    kernel: stat.kernel,
    slab_unreclaimable: stat.slab_unreclaimable,
    slab_reclaimable: stat.slab_reclaimable,
    sec_pagetables: stat.sec_pagetables,
    nr_iommu_pages: m.pgdat.vm_stat.NR_IOMMU_PAGES,
    "user->locked_vm": vmm.task.cred.user.locked_vm,
    "mm->locked_vm": vmm.mm!.locked_vm,
    "mm->pinned_vm": vmm.mm!.pinned_vm,
    // Devices whose group is still claimed, or not back on its default domain.
    groups_not_released: m.devices.filter((d) => {
      const g = d.iommu_group!;
      return g.owner !== null || g.owner_cnt !== 0 || g.domain !== g.default_domain;
    }).map((d) => d.name),
  };
}

/** A machine, a VMM in a cgroup of its own, and its iommufd handle. */
export interface IommufdFixture {
  m: Machine;
  cg: mem_cgroup;
  vmm: Process;
  fd: IommufdFd;
  before: ReturnType<typeof snapshot>;
}

/** The selftest's FIXTURE_SETUP(iommufd): open /dev/iommu (as root, like the selftest). */
export function setupIommufd(): IommufdFixture {
  const m = new Machine();
  const cg = m.cgroups.create("/vmm");
  const vmm = m.spawn({ cgroup: cg, capabilities: [CAP_SYS_RESOURCE], comm: "selftest" });
  const before = snapshot(m, cg, vmm);
  return { m, cg, vmm, fd: vmm.openIommufd(), before };
}

/** The selftest's teardown_iommufd(): close, then everything is back to its starting value. */
export function teardown(f: IommufdFixture): void {
  f.fd.close();
  assert.deepEqual(
    snapshot(f.m, f.cg, f.vmm),
    f.before,
    "state after close differs from before open",
  );
}

/**
 * The exit check: every user task of `m` is killed (kill -9, as the run's end), and then nothing
 * charged to any task is left: every cgroup's memory.current and sec_pagetables, and every user's
 * locked_vm, are back to zero. Every conformance test ends with it: the fail-nth coverage test
 * (tests/fail_nth/coverage_test.ts) makes the same check after its runs of the tests it sweeps, and
 * leaves it to the tests themselves for those too large to sweep in CI.
 */
export function assertReleasedOnExit(m: Machine, where = "after exit"): void {
  for (const t of [...m.tasks]) if (t !== m.kthreadd) t.kill();
  const cgroups = [...m.cgroups.root.children];
  for (const cg of cgroups) {
    cgroups.push(...cg.children);
    assert.equal(cg.read("memory.current"), "0\n", `${where}: ${cg.path} memory.current`);
    assert.match(cg.read("memory.stat"), /^sec_pagetables 0$/m, `${where}: sec_pagetables`);
  }
  for (const u of m.users.values()) {
    assert.equal(u.locked_vm, 0, `${where}: locked_vm of uid ${u.uid}`);
  }
}

/** A mock device the selftest would create with IOMMU_TEST_OP_MOCK_DOMAIN[_FLAGS]. */
export function mockDevice(f: IommufdFixture, flags = 0): device {
  return f.m.addDevice({ iommu: "mock0", flags });
}

/** EXPECT_ERRNO(errno, call): the call throws an ErrnoError with that errno (and returns it). */
export function expectErrno(errno: number, call: () => unknown): ErrnoError {
  try {
    call();
  } catch (e) {
    if (!(e instanceof ErrnoError)) throw e;
    assert.equal(e.errno, errno, `expected errno ${errno}, got ${e.name}: ${e.message}`);
    return e;
  }
  assert.fail(`expected errno ${errno}, but the call succeeded`);
}

/** A Deno test that sets up, runs `body` and always checks teardown. */
export function testF(name: string, body: (f: IommufdFixture) => void): void {
  Deno.test(name, () => {
    const f = setupIommufd();
    body(f);
    teardown(f);
    assertReleasedOnExit(f.m);
  });
}

/** What a fail-nth sweep saw: how many injection points, where, and how many were absorbed. */
export interface SweepResult {
  points: number;
  /** Injection points by fault site (failslab, fail_page_alloc, fail_iommufd). */
  sites: Map<string, number>;
  /** Injections the operation survived (a caller that settles for less memory). */
  absorbed: number;
}

/**
 * iommufd_fail_nth.c's loop: run `run` once cleanly, then once per injection point with fail-nth
 * armed at that point (n = 1, 2, …) on a fresh fixture, until a run passes the last point. Every
 * failed run must surface as an ErrnoError whose errno `allowed` accepts, must not look like a
 * memory.max hit, and must pass `teardown` (the no-leak check) — as must every run.
 */
export function sweepFailNth<F extends IommufdFixture>(
  { setup, run, teardown, allowed, limit }: {
    setup: () => F;
    run: (f: F) => void;
    teardown: (f: F) => void;
    allowed: (e: ErrnoError) => boolean;
    limit: number;
  },
): SweepResult {
  const clean = setup();
  run(clean);
  teardown(clean);
  const result: SweepResult = { points: 0, sites: new Map(), absorbed: 0 };
  for (let n = 1; n < limit; n++) {
    const f = setup();
    f.vmm.task.fail_nth = n;
    let error: unknown = null;
    try {
      run(f);
    } catch (e) {
      error = e;
    }
    const injected = f.vmm.task.fail_nth === 0;
    f.vmm.task.fail_nth = 0;
    if (!injected) {
      assert.equal(error, null, "the run past the last injection point succeeds");
      teardown(f);
      result.points = n - 1;
      return result;
    }
    if (error === null) result.absorbed++;
    else {
      assert.ok(
        error instanceof ErrnoError,
        `injection ${n} (${f.vmm.task.injectedFault}): ${error}`,
      );
      assert.ok(allowed(error), `injection ${n} (${f.vmm.task.injectedFault}): ${error.message}`);
    }
    assert.match(f.cg.read("memory.events"), /\nmax 0\n/, "an injected failure is not a limit hit");
    const site = f.vmm.task.injectedFault!;
    result.sites.set(site, (result.sites.get(site) ?? 0) + 1);
    teardown(f);
  }
  assert.fail(`more than ${limit} injection points`);
}
