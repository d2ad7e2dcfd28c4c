/**
 * The page-walk explorer's scenarios: the worked vectors of spec/17-vtd-page-walk.md#vtd-vectors
 * (V1–V9, F1–F6 with F5b, N1) as data — the entries to write, the stages, the request — and
 * {@link setupScenario}, which makes the model's objects from them. The explorer and the browser
 * tests share this module; the tests of the vectors themselves are tests/hw/vtd_walk_test.ts.
 *
 * @module
 */
import {
  PhysMem,
  VtdFirstStage,
  type VtdFirstStageOptions,
  VtdSecondStage,
  type VtdSecondStageOptions,
} from "../../lib/internal.ts";

/** Which walk a scenario makes. */
export type WalkKind = "ss" | "fs" | "nested";

/** A scenario: a page-table setup and one request. */
export interface WalkScenario {
  id: string;
  /** What the chapter's table says. */
  title: string;
  kind: WalkKind;
  ss?: VtdSecondStageOptions;
  fs?: VtdFirstStageOptions;
  iova: bigint;
  write: boolean;
  supervisor: boolean;
  /** 64-bit entries to write: [physical address, value]. */
  entries: [number, bigint][];
}

const IOVA_A = 0x0000_55f3_5df2_3456n;
const V_TABLES: [number, bigint][] = [
  [0x100558, 0x101003n],
  [0x101e68, 0x102003n],
  [0x102778, 0x103003n],
];
const F_TABLES: [number, bigint][] = [
  [0x200558, 0x201027n],
  [0x201e68, 0x202027n],
  [0x202778, 0x203027n],
];

/** `base` with the entries of `changes` replaced or added. */
function edit(base: [number, bigint][], ...changes: [number, bigint][]): [number, bigint][] {
  const m = new Map(base);
  for (const [pa, v] of changes) m.set(pa, v);
  return [...m];
}

function v(
  id: string,
  title: string,
  entries: [number, bigint][],
  more: Partial<WalkScenario> = {},
) {
  return {
    id,
    title,
    kind: "ss",
    ss: { root: 0x100000 },
    iova: IOVA_A,
    write: false,
    supervisor: false,
    entries: edit(V_TABLES, ...entries),
    ...more,
  } as WalkScenario;
}

function f(
  id: string,
  title: string,
  entries: [number, bigint][],
  more: Partial<WalkScenario> = {},
) {
  return {
    id,
    title,
    kind: "fs",
    fs: { root: 0x200000 },
    iova: IOVA_A,
    write: false,
    supervisor: false,
    entries: edit(F_TABLES, ...entries),
    ...more,
  } as WalkScenario;
}

/** N1's tables: SS maps GPA pages 1–5 to HPA 0x8000_1000…; the FS root is GPA 0x1000. */
function n1Entries(): [number, bigint][] {
  const out: [number, bigint][] = [[0x100000, 0x101003n], [0x101000, 0x102003n], [
    0x102000,
    0x103003n,
  ]];
  for (let p = 1; p <= 5; p++) out.push([0x103000 + 8 * p, BigInt(0x8000_0000 + p * 0x1000) | 3n]);
  out.push([0x8000_1008, 0x2027n], [0x8000_2010, 0x3027n], [0x8000_3018, 0x4027n]);
  out.push([0x8000_4020, 0x5067n]);
  return out;
}

/** Every scenario, in the chapter's order. */
export const WALK_SCENARIOS: readonly WalkScenario[] = [
  v("V1", "V1: 4-level second-stage read", [[0x103918, 0x12_3456_7003n]]),
  v("V2", "V2: write to a read-only leaf", [[0x103918, 0x12_3456_7001n]], { write: true }),
  v("V3", "V3: 2 MiB leaf", [[0x102778, 0x4000_0083n]]),
  v("V4", "V4: 1 GiB leaf", [[0x101e68, 0x80_0000_0083n]]),
  v("V5", "V5: PS in a PML4E", [[0x100558, 0x10_1083n], [0x103918, 0x12_3456_7003n]]),
  v("V6", "V6: 2 MiB leaf with bit 12", [[0x102778, 0x4000_1083n]]),
  v("V7", "V7: a zero level-2 entry", [[0x102778, 0n]]),
  v("V8", "V8: AW=1, IOVA beyond 39 bits", [], {
    ss: { root: 0x100000, aw: 1 },
    iova: 0x80_0000_0000n,
  }),
  {
    id: "V9",
    title: "V9: AW=1, three levels",
    kind: "ss",
    ss: { root: 0x100000, aw: 1 },
    iova: 0x12_3456_789an,
    write: false,
    supervisor: false,
    entries: [[0x100240, 0x101003n], [0x101d10, 0x102003n], [0x102b38, 0xab_cdef_0003n]],
  },
  f("F1", "F1: 4-level first-stage read", [[0x203918, 0x12_3456_7067n]]),
  f("F2", "F2: a non-canonical IOVA", [[0x203918, 0x12_3456_7067n]], {
    iova: 0x8000_0000_0000n,
  }),
  f("F3", "F3: U/S=0 in the PML4E, user read", [[0x200558, 0x20_1023n], [
    0x203918,
    0x12_3456_7067n,
  ]]),
  f("F4", "F4: P=0 in the leaf", [[0x203918, 0x12_3456_7066n]]),
  f("F5", "F5: 2 MiB leaf with bit 13", [[0x202778, 0x4000_20e7n]]),
  f("F5b", "F5b: 2 MiB leaf with PAT", [[0x202778, 0x4000_10e7n]]),
  f("F6", "F6: write to an R/W=0 leaf", [[0x203918, 0x12_3456_7065n]], { write: true }),
  {
    id: "N1",
    title: "N1: nested, 4-level first stage over a 4-level second stage",
    kind: "nested",
    ss: { root: 0x100000, mode: "scalable" },
    fs: { root: 0x1000 },
    iova: 0x80_8060_4567n,
    write: false,
    supervisor: false,
    entries: n1Entries(),
  },
];

/** The model's objects for a scenario: RAM holding its entries and its stage(s). */
export function setupScenario<M extends PhysMem>(
  s: WalkScenario,
  makeMem: (size: number) => M = (size) => new PhysMem(size) as M,
): { mem: M; ss: VtdSecondStage | null; fs: VtdFirstStage | null } {
  const mem = makeMem(2 ** 40);
  for (const [pa, value] of s.entries) mem.write64(pa, value);
  return {
    mem,
    ss: s.ss ? new VtdSecondStage(s.ss) : null,
    fs: s.fs ? new VtdFirstStage(s.fs) : null,
  };
}
