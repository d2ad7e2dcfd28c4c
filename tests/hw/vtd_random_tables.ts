/**
 * Random VT-d tables for the walker property tests (fast path ≡ general walker, generic walker ≡
 * VT-d walker): second stage, first stage or nested, with random stage options, mappings of every
 * size, random bit flips and (optionally) garbage entries, and the requests to make of them. The
 * same seed builds the same tables. Not a test file itself.
 */
import {
  PhysMem,
  VtdFirstStage,
  vtdMapFirstStage,
  vtdMapSecondStage,
  VtdSecondStage,
  VtdTableArena,
} from "../../lib/internal.ts";
import { rng } from "../rng.ts";

export type Kind = "ss" | "fs" | "nested";
export const RAM = 2 ** 36;
const TABLES = 0x1000_0000;
const GUEST_TABLES = 0x2000_0000;
const NESTED_OFFSET = 0x4000_0000;
export const PAGE = 4096;
const SIZES = [PAGE, 2 ** 21, 2 ** 30];

export interface Setup {
  ss: VtdSecondStage | null;
  fs: VtdFirstStage | null;
  iovas: number[];
  /** [first, end) of every table region, for flips and the final comparison. */
  regions: [number, number][];
}

/**
 * Builds the same random tables in `mem` for the same seed; `garbage` also writes whole random
 * entries and clears one now and then.
 */
export function build(mem: PhysMem, kind: Kind, seed: number, garbage = false): Setup {
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
  if (garbage) {
    // whole random entries (random flags, addresses in and beyond RAM, reserved bits)
    for (let i = rand(4); i > 0; i--) {
      const at = pick(entries);
      const hi = rand(4) === 0 ? rand(2 ** 31) * 2 + rand(2) : rand(64);
      mem.write64Parts(at, (rand(2 ** 20) * PAGE + rand(PAGE)) >>> 0, hi >>> 0);
    }
    // a cleared entry now and then (non-present below a present one)
    if (entries.length && rand(3) === 0) mem.write64(pick(entries), 0n);
  }
  for (const m of maps) iovas.push(m.iova + rand(m.size / PAGE) * PAGE + rand(PAGE));
  // beyond the second stage's width, non-canonical for a first stage
  iovas.push(rand(2) * 2 ** 47 + rand(2 ** 20) * PAGE, 2 ** 48 + rand(PAGE));
  return { ss, fs, iovas, regions };
}
