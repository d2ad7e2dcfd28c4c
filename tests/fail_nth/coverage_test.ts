/**
 * fail-nth everywhere, with a coverage report (issue 11, item 3).
 *
 * Each scenario — a VMM-like session in QEMU's order on dmar0, every example, every conformance
 * test (tests/conformance, but the fail-nth ones, which arm fail-nth themselves) — is run once
 * traced (tracer.ts) to list its injection points and charges, then swept both ways: the Nth
 * fault-injection point fails, and memory.max is hit at the Nth charge. After every swept run:
 *
 * - nothing crashed: the run ended normally, or with an ErrnoError (the typed API's failure), or
 *   with an AssertionError (the scenario's own expectation of success);
 * - once every task the run spawned is killed, nothing it was charged stays: every cgroup's
 *   memory.current and sec_pagetables and every user's locked_vm are back to zero (the exit check,
 *   assertReleasedOnExit() of tests/conformance/fixture.ts, which every conformance test also ends
 *   with).
 *
 * It prints, per scenario, the injection points and sites covered, and at the end the allocation
 * sites (fault-injection points and memory.max charges) that any scenario reached but no sweep
 * injected. CI sweeps every point of the session, and the first point of each distinct site of the
 * examples and of the conformance tests with at most FAIL_NTH_CI_POINTS (130) points and charges
 * (a larger one's counting run stops there; it must end with the exit check itself, as it runs in
 * its own file); FAIL_NTH_ALL=1 sweeps every point of every scenario (slow); FAIL_NTH_REPORT=1
 * prints each line.
 */
import assert from "node:assert/strict";
import { AssertionError } from "node:assert";
import {
  ErrnoError,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  iommu_hwpt_vtd_s1,
  iommu_hwpt_vtd_s1_invalidate,
  IOMMU_VTD_INV_FLAGS_LEAF,
  Machine,
  type Process,
} from "../../lib/internal.ts";
import { assertReleasedOnExit } from "../conformance/fixture.ts";
import { type Mode, type Trace, traced, tracedAsync, unswept } from "./tracer.ts";

const MiB = 1n << 20n;
const VERBOSE = Deno.env.get("FAIL_NTH_REPORT") !== undefined;

/** QEMU's order of iommufd calls for a VFIO device in a guest with a vIOMMU (hw/vfio/iommufd.c). */
function vmmSession(): void {
  // Setup, not swept: the machine, the VMM, its guest RAM faulted in, the device.
  const { m, vmm, ram, dev } = unswept(() => {
    const m = new Machine({ memory: 1 << 30 });
    m.addIommu({ kind: "vtd" });
    const cg = m.cgroups.create("/vm1");
    const vmm = m.spawn({ cgroup: cg, comm: "qemu", rlimitMemlock: 1n << 30n });
    const ram = vmm.mmap(4n * MiB);
    vmm.write(ram, new Uint8Array(Number(4n * MiB)).fill(1));
    return { m, vmm, ram, dev: m.addDevice({ iommu: "dmar0" }) };
  });
  void m;
  const fd = vmm.openIommufd();
  // bind, IOAS, GET_HW_INFO
  const devId = fd.bind(dev);
  const ioas = fd.ioasAlloc();
  fd.getHwInfo(devId, 64);
  // HWPT_ALLOC (a dirty-tracking nest parent if the unit can, else a plain one), attach
  let parent: number;
  try {
    parent = fd.hwptAlloc({
      dev_id: devId,
      pt_id: ioas,
      flags: IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
    });
  } catch (e) {
    if (!(e instanceof ErrnoError) || e.errno === 12) throw e;
    parent = fd.hwptAlloc({ dev_id: devId, pt_id: ioas, flags: IOMMU_HWPT_ALLOC_NEST_PARENT });
  }
  fd.attach(devId, parent);
  // maps: guest RAM at GPA 0, in two pieces, then an unmap and a remap
  fd.ioasMap({ ioas_id: ioas, user_va: ram, length: 2n * MiB, iova: 0n });
  fd.ioasMap({ ioas_id: ioas, user_va: ram + 2n * MiB, length: 2n * MiB, iova: 2n * MiB });
  fd.ioasUnmap(ioas, 2n * MiB, 2n * MiB);
  fd.ioasMap({ ioas_id: ioas, user_va: ram + 2n * MiB, length: 2n * MiB, iova: 2n * MiB });
  // dirty tracking, where the parent has it
  try {
    fd.setDirtyTracking(parent, true);
    fd.hwptGetDirtyBitmap({ hwpt_id: parent, iova: 0n, length: 4n * MiB, page_size: 4096n });
    fd.setDirtyTracking(parent, false);
  } catch (e) {
    if (!(e instanceof ErrnoError) || e.errno === 12) throw e;
  }
  // nesting: the guest's first stage at GPA 0x1000, a nested HWPT, attach, invalidate
  const nested = fd.hwptAlloc({
    dev_id: devId,
    pt_id: parent,
    data_type: IOMMU_HWPT_DATA_VTD_S1,
    data: iommu_hwpt_vtd_s1.encode({
      flags: 0n,
      pgtbl_addr: 0x1000n,
      addr_width: 48,
      __reserved: 0,
    }),
  });
  fd.attach(devId, nested);
  fd.hwptInvalidate(nested, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, [
    iommu_hwpt_vtd_s1_invalidate.encode({
      addr: 0n,
      npages: 1n,
      flags: IOMMU_VTD_INV_FLAGS_LEAF,
      __reserved: 0,
    }),
  ]);
  // teardown: back to the parent, destroy the nested HWPT, detach, unbind, close
  fd.attach(devId, parent);
  fd.destroy(nested);
  fd.detach(devId);
  fd.destroy(parent);
  fd.ioasUnmap(ioas, 0n, 4n * MiB);
  fd.destroy(ioas);
  fd.unbind(devId);
  fd.close();
}

/**
 * The points of a sweep: all of them (FAIL_NTH_ALL=1, and the VMM session), or the first
 * occurrence of each distinct site (every site a scenario reaches is injected at least once).
 */
function choose(sites: string[], all: boolean): number[] {
  if (all) return sites.map((_, i) => i + 1);
  const seen = new Set<string>();
  const out: number[] = [];
  sites.forEach((s, i) => {
    if (!seen.has(s)) {
      seen.add(s);
      out.push(i + 1);
    }
  });
  return out;
}
const ALL = Deno.env.get("FAIL_NTH_ALL") !== undefined;

interface Scenario {
  name: string;
  run: () => void | Promise<void>;
  /** The test's source (conformance tests), which must end with the exit check if not swept. */
  source?: string;
  stride: number;
  /**
   * The scenario itself holds kernel objects no file owns (an in-kernel access made with
   * iommufd_access_create(), as a driver would): if it stops half-way, they stay, as they would
   * in the kernel. Only "no crash" is checked on its injected runs.
   */
  ownsKernelObjects?: boolean;
}

/** A crash is anything but a clean failure. */
function assertNoCrash(where: string, error: unknown): void {
  if (error === null || error instanceof ErrnoError || error instanceof AssertionError) return;
  // A user page fault whose allocation failed: the kernel retries it (the OOM path); the model
  // stops with this message instead. Not a failure of the code under test.
  if (error instanceof Error && /VM_FAULT_OOM; the kernel would retry/.test(error.message)) return;
  // memory.max hit: the OOM killer may pick a task of the scenario; that is the kernel's answer.
  if (error instanceof Error && /was killed by the OOM killer/.test(error.message)) return;
  const e = error as Error;
  assert.fail(`${where}: crashed: ${e?.constructor?.name}: ${e?.message}\n${e?.stack}`);
}

/** Kill every task of the run; then nothing charged to them stays (on each machine they ran on). */
function assertReleased(where: string, tasks: Process[]): void {
  for (const m of new Set(tasks.map((t) => t.task.machine))) assertReleasedOnExit(m, where);
}

/** The mode that injects at the Nth point or charge of a counting run's trace. */
function mode(kind: "fail-nth" | "memory-max", n: number, counted: Trace): Mode {
  return kind === "fail-nth" ? { kind, n } : { kind, n, at: counted.chargeReads[n - 1] };
}

/** Run a scenario synchronously under the tracer (a scenario must not await). */
function runTraced(sc: Scenario, m: Mode): { trace: Trace; error: unknown } {
  const r = traced(m, () => {
    const p = sc.run();
    if (p instanceof Promise) throw new Error(`${sc.name}: asynchronous scenario`);
  });
  return r;
}

interface Coverage {
  reached: Set<string>;
  charged: Set<string>;
  injected: Set<string>;
}
const coverage: Coverage = { reached: new Set(), charged: new Set(), injected: new Set() };

/** Sweep one scenario both ways (after its counting run, if made already); returns its report line. */
function sweep(sc: Scenario, counted?: { trace: Trace; error: unknown }): string {
  const clean = counted ?? runTraced(sc, { kind: "count" });
  assertNoCrash(`${sc.name} (clean)`, clean.error);
  assert.equal(clean.error, null, `${sc.name} fails without injection: ${clean.error}`);
  assertReleased(`${sc.name} (clean)`, clean.trace.tasks);
  const points = clean.trace.points.length, charges = clean.trace.charges.length;
  clean.trace.points.forEach((s) => coverage.reached.add(s));
  clean.trace.charges.forEach((s) => coverage.charged.add(s));
  const sites = new Set<string>();
  let failed = 0;
  const ways = [
    ["fail-nth", clean.trace.points],
    ["memory-max", clean.trace.charges],
  ] as const;
  let runs = 0;
  for (const [kind, sitesOf] of ways) {
    const total = sitesOf.length;
    for (const n of choose(sitesOf, ALL || sc.stride === 1)) {
      runs++;
      const where = `${sc.name}: ${kind} ${n}/${total}`;
      const { trace, error } = runTraced(sc, mode(kind, n, clean.trace));
      assertNoCrash(where, error);
      assert.ok(trace.injected, `${where}: nothing injected`);
      sites.add(trace.injected);
      coverage.injected.add(trace.injected);
      if (error) failed++;
      if (sc.ownsKernelObjects) trace.tasks.forEach((t) => t.kill());
      else assertReleased(where, trace.tasks);
    }
  }
  return `${sc.name}: ${points} injection points, ${charges} charges, ${runs} runs, ` +
    `${sites.size} sites injected, ${failed} runs failed cleanly`;
}

Deno.test("fail-nth coverage: a VMM session in QEMU's order on dmar0, both ways", () => {
  const line = sweep({ name: "vmm session", run: vmmSession, stride: 1 });
  console.log(line);
  const points = Number(line.match(/: (\d+) injection points/)![1]);
  assert.ok(points > 40, line);
});

Deno.test("fail-nth coverage: every example, both ways", async () => {
  const root = new URL("../../examples/", import.meta.url);
  const names: string[] = [];
  for await (const e of Deno.readDir(root)) if (e.name.endsWith(".ts")) names.push(e.name);
  names.sort();
  assert.ok(names.length >= 5);
  // Examples are top-level module code: each run loads a fresh instance (a new query string).
  const log = console.log;
  let seq = 0;
  for (const name of names) {
    const url = new URL(name, root);
    const load = (m: Mode) => tracedAsync(m, () => import(`${url.href}?run=${seq++}`));
    console.log = () => {};
    let line: string;
    try {
      line = await sweepAsync(`examples/${name}`, load);
    } finally {
      console.log = log;
    }
    console.log(line);
  }
});

async function sweepAsync(
  name: string,
  load: (m: Mode) => Promise<{ trace: Trace; error: unknown }>,
): Promise<string> {
  const clean = await load({ kind: "count" });
  assert.equal(clean.error, null, `${name} fails without injection: ${clean.error}`);
  assertReleased(`${name} (clean)`, clean.trace.tasks);
  const points = clean.trace.points.length, charges = clean.trace.charges.length;
  clean.trace.points.forEach((s) => coverage.reached.add(s));
  clean.trace.charges.forEach((s) => coverage.charged.add(s));
  const sites = new Set<string>();
  let failed = 0;
  let runs = 0;
  const ways = [
    ["fail-nth", clean.trace.points],
    ["memory-max", clean.trace.charges],
  ] as const;
  for (const [kind, sitesOf] of ways) {
    const total = sitesOf.length;
    for (const n of choose(sitesOf, ALL)) {
      runs++;
      const where = `${name}: ${kind} ${n}/${total}`;
      const { trace, error } = await load(mode(kind, n, clean.trace));
      assertNoCrash(where, error);
      assert.ok(trace.injected, `${where}: nothing injected`);
      sites.add(trace.injected);
      coverage.injected.add(trace.injected);
      if (error) failed++;
      assertReleased(where, trace.tasks);
    }
  }
  return `${name}: ${points} injection points, ${charges} charges, ${runs} runs, ` +
    `${sites.size} sites injected, ${failed} runs failed cleanly`;
}

/** The conformance tests, collected by registering them with a stand-in Deno.test. */
async function conformanceScenarios(): Promise<Scenario[]> {
  const dir = new URL("../conformance/", import.meta.url);
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name.endsWith("_test.ts") && !e.name.includes("fail_nth")) files.push(e.name);
  }
  files.sort();
  const out: Scenario[] = [];
  const real = Deno.test;
  // deno-lint-ignore no-explicit-any
  (Deno as any).test = (a: any, b?: any) => {
    const name = typeof a === "string" ? a : a.name;
    const fn = typeof a === "string" ? b : a.fn;
    if (typeof a === "object" && a.ignore) return;
    // Synchronous bodies only (the tracer cannot follow an await), without a test context.
    if (fn.constructor.name === "AsyncFunction" || fn.length > 0) return;
    // A test that is itself a fail-nth sweep arms fail_nth on its own.
    if (/sweepFailNth\(/.test(fn.toString()) || /fail_nth/.test(name)) return;
    const source = fn.toString();
    out.push({
      name: `${name}`,
      run: fn,
      source,
      stride: 0,
      ownsKernelObjects: /iommufd_access_create\(/.test(source),
    });
  };
  try {
    for (const f of files) await import(`${new URL(f, dir).href}?collect`);
  } finally {
    // deno-lint-ignore no-explicit-any
    (Deno as any).test = real;
  }
  return out;
}

const conformance = await conformanceScenarios();

/** Scenarios above this many points (and charges) are swept only with FAIL_NTH_ALL=1. */
const CI_POINTS = Number(Deno.env.get("FAIL_NTH_CI_POINTS") ?? 130);

Deno.test(`fail-nth coverage: every conformance scenario, both ways`, () => {
  assert.ok(conformance.length > 50, `${conformance.length} scenarios`);
  let swept = 0;
  const skipped: string[] = [];
  for (const sc of conformance) {
    // Past the limit, the count stops the run (CountLimit), which is left there: the test itself
    // ends with the same exit check (assertReleasedOnExit, tests/conformance/fixture.ts) every
    // run here makes. Within it, this is the counting run the sweep starts from.
    const upTo = ALL || VERBOSE ? undefined : CI_POINTS;
    const counted = runTraced(sc, { kind: "count", upTo });
    const size = counted.trace.points.length + counted.trace.charges.length;
    if (!ALL && size > CI_POINTS) {
      assert.match(
        sc.source ?? "",
        /assertReleasedOnExit\(/,
        `${sc.name}: no exit check of its own`,
      );
      skipped.push(`${sc.name} (${size})`);
      continue;
    }
    assertNoCrash(sc.name, counted.error);
    assertReleased(sc.name, counted.trace.tasks);
    const line = sweep(sc, counted);
    swept++;
    if (VERBOSE) console.log(line);
  }
  console.log(
    `${swept} conformance scenarios swept; ${skipped.length} larger than ${CI_POINTS} points ` +
      `left to FAIL_NTH_ALL=1${VERBOSE ? `: ${skipped.join(", ")}` : ""}`,
  );
  assert.ok(swept >= 30, `only ${swept} swept`);
});

Deno.test("fail-nth coverage: every allocation site reached was injected", () => {
  const missed = [...new Set([...coverage.reached, ...coverage.charged])]
    .filter((s) => !coverage.injected.has(s)).sort();
  console.log(
    `${coverage.reached.size} fault-injection sites and ${coverage.charged.size} charge sites ` +
      `reached; ${coverage.injected.size} injected; not injected: ${missed.length}`,
  );
  for (const s of missed) console.log(`  not injected: ${s}`);
  assert.deepEqual(missed, [], "every reached site was injected at least once");
});
