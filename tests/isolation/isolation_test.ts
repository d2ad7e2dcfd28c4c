/**
 * Isolation and sandbox properties (issue 11, item 1), as named, seeded fast-check properties on
 * mock0 and dmar0. CI runs them at a small size; ISOLATION_SCALE multiplies the runs (e.g.
 * ISOLATION_SCALE=100) and ISOLATION_SEED changes the seed.
 *
 * Each property runs random sequences of iommufd calls (world.ts) and checks after every call:
 * (b) reach — every bound device reaches exactly what its IOAS maps, never a victim's page;
 * (c) limits — memory.current ≤ memory.max, locked_vm ≤ RLIMIT_MEMLOCK;
 * (d) separation — calls on one iommufd never change another's objects or what its devices reach;
 * (e) failure — a failed call leaves only what v6.12 really allows: after a failed IOAS_MAP or
 *     IOAS_COPY on dmar0, second-stage table pages (NR_IOMMU_PAGES, sec_pagetables and their
 *     charge) may stay; nothing else changes; closing returns everything.
 * The nested property (a) is in nested_test.ts.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  apply,
  assertProperty,
  checkClose,
  checkFailure,
  checkLimits,
  checkReach,
  counters,
  type Driver,
  makeWorld,
  objectsOf,
  snippet,
  type WOp,
  wop,
  type World,
} from "./world.ts";
import { faultIn } from "../fault_in.ts";

const SCALE = Number(Deno.env.get("ISOLATION_SCALE") ?? 1);
const SEED = Number(Deno.env.get("ISOLATION_SEED") ?? 20261202);
const DRIVERS: Driver[] = ["mock0", "dmar0"];

const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
const ops = (max: number) => fc.array(wop, { minLength: 1, maxLength: max, size: "max" });

function property(driver: Driver, sequence: WOp[], rlimitPages: number, samples: number[]) {
  const w = makeWorld(driver, rlimitPages);
  sequence.forEach((o, step) => {
    const where = `step ${step} ${JSON.stringify(o)}`;
    const before = counters(w), objects = objectsOf(w);
    const { name, error } = apply(w, o);
    if (error) checkFailure(w, name, before, objects, where);
    checkReach(w, where, samples);
    checkLimits(w, where);
  });
  checkClose(w);
}

for (const driver of DRIVERS) {
  Deno.test(`isolation: a device reaches exactly what its domain maps, never a victim page (${driver}, seed ${SEED})`, () => {
    assertProperty(
      fc.property(
        ops(30),
        fc.constantFrom(1024, 4, 40),
        fc.array(fc.nat(15), { minLength: 2, maxLength: 4 }),
        (seq, lim, samples) => property(driver, seq, lim, samples),
      ),
      { seed: SEED, numRuns: runs(driver === "mock0" ? 40 : 25) },
      ([seq, lim]) => snippet(driver, lim, seq),
    );
  });

  Deno.test(`isolation: memory.current ≤ memory.max and locked_vm ≤ RLIMIT_MEMLOCK under any sequence (${driver}, seed ${SEED})`, () => {
    fc.assert(
      fc.property(ops(40), fc.constantFrom(2, 8, 64), (seq, lim) => {
        const w = makeWorld(driver, lim);
        w.cg.write("memory.max", `${Number(w.cg.read("memory.current")) + 16 * 4096}`);
        seq.forEach((o, step) => {
          apply(w, o);
          checkLimits(w, `step ${step} ${JSON.stringify(o)}`);
        });
        checkClose(w);
      }),
      { seed: SEED + 1, numRuns: runs(30) },
    );
  });

  Deno.test(`isolation: a failed call leaves only what the kernel allows, close returns all (${driver}, seed ${SEED})`, () => {
    let failures = 0;
    fc.assert(
      fc.property(ops(40), fc.constantFrom(4, 16, 1024), (seq, lim) => {
        const w = makeWorld(driver, lim);
        seq.forEach((o, step) => {
          const before = counters(w), objects = objectsOf(w);
          const { name, error } = apply(w, o);
          if (!error) return;
          failures++;
          checkFailure(w, name, before, objects, `step ${step} ${JSON.stringify(o)}`);
          checkReach(w, `step ${step}`, [0, 5]);
        });
        checkClose(w);
      }),
      { seed: SEED + 2, numRuns: runs(30) },
    );
    assert.ok(failures > 50, `only ${failures} failed calls`);
  });

  Deno.test(`isolation: one iommufd cannot name another's objects (${driver}, seed ${SEED})`, () => {
    fc.assert(
      fc.property(ops(20), ops(25), (setupA0, attackB0) => {
        const setupA = setupA0.filter((o) => o.op !== "memoryMax");
        // memory.max is the cgroup's, not an iommufd's: left out here.
        const attackB = attackB0.filter((o) => o.op !== "memoryMax");
        // A and B are two iommufds of the same VMM; B's calls name ids A's objects have.
        const a = makeWorld(driver);
        for (const o of setupA) apply(a, o);
        // Probing B's devices allocates the unit's context tables: not A's to return.
        const nr = a.m.pgdat.vm_stat.NR_IOMMU_PAGES;
        const devices = [a.m.addDevice({ iommu: driver }), a.m.addDevice({ iommu: driver })];
        (a.before.nr_iommu_pages as number) += a.m.pgdat.vm_stat.NR_IOMMU_PAGES - nr;
        const fdB = a.vmm.openIommufd();
        faultIn(a.vmm, fdB.scratch(), 1n << 20n);
        const b: World = {
          ...a,
          fd: fdB,
          devices,
          bound: [0, 0],
          attached: [null, null],
          // B believes A's objects are its own: every id B names is one of A's.
          ioases: [...a.ioases],
          hwpts: a.hwpts.map((h) => ({ ...h })),
          mirror: new Map([...a.mirror].map(([k, v]) => [k, [...v]])),
        };
        const objectsA = objectsOf(a);
        for (const [step, o] of attackB.entries()) {
          apply(b, o);
          const where = `B step ${step} ${JSON.stringify(o)}`;
          assert.deepEqual(objectsOf(a), objectsA, `${where}: changed A's objects`);
          checkReach(a, where, [0, 3, 9]);
        }
        // B's own objects are separate: closing B leaves A as it was.
        b.fd.close();
        assert.deepEqual(objectsOf(a), objectsA);
        checkReach(a, "after B closed", [0, 1, 2, 3]);
        checkClose(a);
      }),
      { seed: SEED + 3, numRuns: runs(20) },
    );
  });
}
