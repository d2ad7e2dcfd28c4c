/**
 * Every page-table format family the walk explorer offers, in the order of its format selector. A
 * new architecture adds one entry: a {@link WalkFamily} (its cases, requests and a `run` that walks
 * a case with the model), in a file of its own beside this one.
 *
 * @module
 */
import type { WalkFamily } from "./walk_types.ts";
import { vtdWalkFamily } from "./walk_vtd.ts";
import { riscvWalkFamily } from "./walk_riscv.ts";
import { armWalkFamily } from "./walk_arm.ts";
import { amdWalkFamily } from "./walk_amd.ts";

/** The registry. */
export const WALK_FAMILIES: readonly WalkFamily[] = [
  vtdWalkFamily,
  riscvWalkFamily,
  armWalkFamily,
  amdWalkFamily,
];
