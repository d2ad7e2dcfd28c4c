/**
 * The page-walk explorer's VT-d scenarios: the worked vectors of spec/17-vtd-page-walk.md#vtd-vectors
 * (V1–V9, F1–F6 with F5b, N1), as the model keeps them (`vtdWorkedWalks()`, also the source of the
 * exported vector file), and {@link setupScenario}, which makes the model's objects from one. The
 * explorer and the browser tests share this module; the tests of the vectors themselves are
 * tests/hw/vtd_walk_test.ts and tests/tools/vtd_vectors_test.ts.
 *
 * @module
 */
import {
  PhysMem,
  VtdFirstStage,
  VtdSecondStage,
  type VtdWorkedWalk,
  vtdWorkedWalks,
} from "../../lib/internal.ts";

/** Which walk a scenario makes. */
export type WalkKind = VtdWorkedWalk["kind"];

/** A scenario: a page-table setup and one request. */
export type WalkScenario = VtdWorkedWalk;

/** Every scenario, in the chapter's order. */
export const WALK_SCENARIOS: readonly WalkScenario[] = vtdWorkedWalks();

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
