/**
 * Random VT-d tables for the walker property tests (fast path ≡ general walker, generic walker ≡
 * VT-d walker), from the same generator as the seeded random vectors (`vtdRandomTable`,
 * spec/17-vtd-page-walk.md#vtd-vectors-random): second stage, first stage or nested, random stage
 * options, mappings of every size, bit flips, garbage and cleared entries, and the requests to make
 * of them. The same seed builds the same tables. Not a test file itself.
 */
import {
  PhysMem,
  VtdFirstStage,
  vtdPrng,
  vtdRandomTable,
  VtdSecondStage,
} from "../../lib/internal.ts";

export type Kind = "ss" | "fs" | "nested";
export const RAM = 2 ** 36;
export const PAGE = 4096;

export interface Setup {
  ss: VtdSecondStage | null;
  fs: VtdFirstStage | null;
  iovas: number[];
  /** [first, end) of every table entry written, for the final comparison. */
  regions: [number, number][];
}

/** Builds the same random tables in `mem` for the same seed. */
export function build(mem: PhysMem, kind: Kind, seed: number): Setup {
  const t = vtdRandomTable(vtdPrng(seed), kind, RAM);
  for (const [at, word] of t.words) mem.write64(at, word);
  return {
    ss: t.ss ? new VtdSecondStage(t.ss) : null,
    fs: t.fs ? new VtdFirstStage(t.fs) : null,
    iovas: t.iovas,
    regions: t.words.map(([at]) => [at, at + 8]),
  };
}
