/**
 * Issue 12: VT-d as a format of the generic walker (spec/17-vtd-page-walk.md#vtd-generic). Over
 * random tables — second stage alone, first stage alone and nested, random stage options (both check
 * orders, SSADE, snoop control, large-page support, 5-level), random bit flips, whole garbage
 * entries, cleared entries and requests — the generic walker on VT-d's formats
 * (vtdGenericWalkSs/Fs/Nested) and VT-d's own walker (vtdWalkSecondStage/fs/nested, the general path: a
 * trace is on) give the same address, page size, permissions, level, fault reason, check, stage,
 * GPA, entries read in order with their levels, and leave the same memory behind (A/D writes).
 * Seeded fast-check: the same cases on every run.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  PhysMem,
  VtdFirstStage,
  vtdGenericWalkFs,
  vtdGenericWalkNested,
  vtdGenericWalkSs,
  vtdMapFirstStage,
  vtdMapSecondStage,
  VtdSecondStage,
  VtdTableArena,
  VtdWalk,
  vtdWalkFirstStage,
  vtdWalkNested,
  vtdWalkSecondStage,
} from "../../lib/internal.ts";

/** xorshift32 over a seed; rand(n) is in [0, n). */
function rng(seed: number): (n: number) => number {
  let x = (seed >>> 0) || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

type Kind = "ss" | "fs" | "nested";
const RAM = 2 ** 36;
const TABLES = 0x1000_0000;
const GUEST_TABLES = 0x2000_0000;
const NESTED_OFFSET = 0x4000_0000;
const PAGE = 4096;
const SIZES = [PAGE, 2 ** 21, 2 ** 30];

interface Setup {
  ss: VtdSecondStage | null;
  fs: VtdFirstStage | null;
  iovas: number[];
  /** [first, end) of every table region, for flips and the final comparison. */
  regions: [number, number][];
}

/** Builds the same random tables in `mem` for the same seed. */
function build(mem: PhysMem, kind: Kind, seed: number): Setup {
  const rand = rng(seed);
  const pick = <T>(xs: T[]) => xs[rand(xs.length)];
  const order = () => pick(["qemu", "spec"] as const);
  const base = rand(2) * 2 ** 39;
  const iovas: number[] = [];
  const maps: { iova: number; size: number; pa: number; write: boolean }[] = [];
  for (let i = 0; i < 24; i++) {
    const s = rand(8) < 5 ? 0 : rand(2) ? 1 : 2;
    const iova = s === 0
      ? base + rand(4) * 2 ** 21 + rand(16) * PAGE
      : s === 1
      ? base + 2 ** 30 + rand(4) * 2 ** 21
      : base + (2 + rand(2)) * 2 ** 30;
    if (maps.some((m) => m.iova === iova)) continue;
    const size = SIZES[s];
    // data at 1–8 GiB; now and then a page in the interrupt range
    const pa = s === 0 && rand(16) === 0
      ? 0xfee0_0000
      : (1 + rand(7)) * 2 ** 30 + (s === 2 ? 0 : rand(64) * size);
    maps.push({ iova, size, pa, write: !!rand(2) });
  }
  const regions: [number, number][] = [];
  let ss: VtdSecondStage | null = null, fs: VtdFirstStage | null = null;
  if (kind === "ss") {
    const arena = new VtdTableArena(TABLES);
    ss = new VtdSecondStage({
      root: arena.alloc(),
      aw: 2 + rand(2),
      mgaw: pick([39, 48, 57]),
      mode: pick(["legacy", "scalable"] as const),
      sllps: rand(4),
      ssade: !!rand(2),
      snoopControl: !!rand(2),
      order: order(),
    });
    for (const m of maps) {
      vtdMapSecondStage(mem, ss, m.iova, m.pa, m.size, { read: true, write: m.write }, arena.alloc);
    }
    regions.push([TABLES, arena.next]);
  } else {
    const first = kind === "fs" ? TABLES : GUEST_TABLES;
    const guest = new VtdTableArena(first);
    const nested = kind === "nested";
    const toHpa = (a: number) => nested ? a + NESTED_OFFSET : a;
    fs = new VtdFirstStage({
      root: guest.alloc(),
      flpm: rand(4) === 0 ? 1 : 0,
      fl1gp: !!rand(4),
      nxe: !!rand(2),
      wpe: !!rand(2),
      order: order(),
    });
    for (const m of maps) {
      vtdMapFirstStage(mem, fs, m.iova, m.pa, m.size, { write: m.write }, guest.alloc, toHpa);
    }
    regions.push([toHpa(first), toHpa(guest.next)]);
    if (nested) {
      const arena = new VtdTableArena(TABLES);
      ss = new VtdSecondStage({
        root: arena.alloc(),
        mode: "scalable",
        mgaw: pick([39, 48]),
        ssade: !!rand(2),
        order: order(),
      });
      // the guest's tables, read-only now and then, and the data pages at 2 MiB
      for (let gpa = first; gpa < guest.next; gpa += PAGE) {
        if (rand(32) === 0) continue;
        const write = rand(8) !== 0;
        vtdMapSecondStage(mem, ss, gpa, toHpa(gpa), PAGE, { read: true, write }, arena.alloc);
      }
      for (const m of maps) {
        const gpa = m.pa - (m.pa % 2 ** 21);
        if (rand(16) === 0 || gpa === GUEST_TABLES) continue;
        try {
          vtdMapSecondStage(
            mem,
            ss,
            gpa,
            toHpa(gpa),
            2 ** 21,
            { read: true, write: true },
            arena.alloc,
          );
        } catch {
          // already mapped by an earlier mapping's 2 MiB
        }
      }
      regions.push([TABLES, arena.next]);
    }
  }
  // random bit flips in random present entries: present, rights, US, A, D, PS, SNP, reserved bits
  const entries: number[] = [];
  for (const [a, b] of regions) {
    for (let at = a; at < b; at += 8) if (mem.read32(at) !== 0) entries.push(at);
  }
  const bits = [0, 1, 2, 5, 6, 7, 8, 9, 11];
  for (let i = rand(6); i > 0; i--) {
    const at = pick(entries);
    if (rand(3) === 0) mem.write32(at + 4, mem.read32(at + 4) ^ (1 << pick([15, 19, 20, 30, 31])));
    else mem.write32(at, mem.read32(at) ^ (1 << pick(bits)));
  }
  // garbage: whole random entries (random flags, addresses in and beyond RAM, reserved bits)
  for (let i = rand(4); i > 0; i--) {
    const at = pick(entries);
    const hi = rand(4) === 0 ? rand(2 ** 31) * 2 + rand(2) : rand(64);
    mem.write64Parts(at, (rand(2 ** 20) * PAGE + rand(PAGE)) >>> 0, hi >>> 0);
  }
  // a cleared entry now and then (non-present below a present one)
  if (entries.length && rand(3) === 0) mem.write64(pick(entries), 0n);
  for (const m of maps) iovas.push(m.iova + rand(m.size / PAGE) * PAGE + rand(PAGE));
  // beyond the second stage's width, non-canonical for a first stage
  iovas.push(rand(2) * 2 ** 47 + rand(2 ** 20) * PAGE, 2 ** 48 + rand(PAGE));
  return { ss, fs, iovas, regions };
}

const fields = (w: VtdWalk) => ({
  fault: w.fault,
  check: w.check,
  stage: w.stage,
  level: w.level,
  pa: w.pa,
  pageSize: w.pageSize,
  read: w.read,
  write: w.write,
  gpa: w.gpa,
  reads: w.reads,
  trace: w.trace,
  levels: w.levels,
});

const seen = { ok: 0, faults: new Set<string>() };

function check(kind: Kind, seed: number): void {
  const a = new PhysMem(RAM), b = new PhysMem(RAM);
  const x = build(a, kind, seed), y = build(b, kind, seed);
  const rand = rng(seed ^ 0x2545_f491);
  for (const iova of x.iovas) {
    for (let k = 0; k < 2; k++) {
      const access = { write: !!rand(2), supervisor: !!rand(2) };
      const own = new VtdWalk({ trace: true }), gen = new VtdWalk({ trace: true });
      if (kind === "ss") {
        vtdWalkSecondStage(a, x.ss!, iova, access, own);
        vtdGenericWalkSs(b, y.ss!, iova, access, gen);
      } else if (kind === "fs") {
        vtdWalkFirstStage(a, x.fs!, iova, access, own);
        vtdGenericWalkFs(b, y.fs!, iova, access, gen);
      } else {
        vtdWalkNested(a, x.fs!, x.ss!, iova, access, own);
        vtdGenericWalkNested(b, y.fs!, y.ss!, iova, access, gen);
      }
      const what = `${kind} seed ${seed} iova 0x${iova.toString(16)} ${JSON.stringify(access)}`;
      assert.deepEqual(fields(gen), fields(own), what);
      if (own.ok) seen.ok++;
      else seen.faults.add(`${own.faultName} ${own.check}`);
    }
  }
  for (const [from, to] of x.regions) {
    assert.deepEqual(b.readBytes(from, to - from), a.readBytes(from, to - from), "A/D writes");
  }
}

Deno.test("vtd generic walker on VT-d formats ≡ vtd_walk_*: SS, FS and nested over random tables (seeded)", () => {
  seen.ok = 0;
  seen.faults.clear();
  fc.assert(
    fc.property(
      fc.constantFrom<Kind>("ss", "fs", "nested"),
      fc.integer({ min: 1, max: 0x7fff_ffff }),
      (kind, seed) => check(kind, seed),
    ),
    { seed: 0x12_f00d, numRuns: 150 },
  );
  // not vacuous: many translations, and faults of many kinds and checks
  assert.ok(seen.ok > 500, `${seen.ok} translations`);
  assert.ok(seen.faults.size >= 15, [...seen.faults].join(", "));
});

Deno.test("vtd generic walker ≡ vtd_walk_*: a root beyond RAM (the top fetch codes) and RAM's last page", () => {
  const names = new Set<string>();
  for (const mode of ["legacy", "scalable"] as const) {
    for (const root of [RAM, RAM - PAGE]) {
      const a = new PhysMem(RAM), b = new PhysMem(RAM);
      const ss = new VtdSecondStage({ root, mode, aw: 2, mgaw: 48 });
      for (const mem of [a, b]) if (root < RAM) mem.write64(root + 8 * 0xab, BigInt(RAM) | 3n);
      const own = vtdWalkSecondStage(a, ss, 0x55f3_5df2_3456, {}, new VtdWalk({ trace: true }));
      const gen = vtdGenericWalkSs(b, ss, 0x55f3_5df2_3456, {}, new VtdWalk({ trace: true }));
      assert.deepEqual(fields(gen), fields(own));
      names.add(own.faultName);
    }
  }
  const fs = new VtdFirstStage({ root: RAM });
  const own = vtdWalkFirstStage(new PhysMem(RAM), fs, 0x1000, {}, new VtdWalk({ trace: true }));
  const gen = vtdGenericWalkFs(new PhysMem(RAM), fs, 0x1000, {}, new VtdWalk({ trace: true }));
  assert.deepEqual(fields(gen), fields(own));
  names.add(own.faultName);
  assert.deepEqual([...names].sort(), [
    "VTD_FR_CONTEXT_ENTRY_INV",
    "VTD_FR_PAGING_ENTRY_INV",
    "VTD_FR_PASID_ENTRY_FSPTPTR_INV",
    "VTD_FR_PASID_ENTRY_SSPTPTR_INV",
    "VTD_FR_SS_PAGING_ENTRY_INV",
  ]);
});
