/**
 * The page-walk explorer's format registry, its types: a **family** of page-table formats (VT-d,
 * RISC-V, …) offers its worked cases and walks one — edited or not — with the model, answering with
 * the reads in order and the result. The explorer (walk.ts) knows nothing of any format; the
 * families are listed in walk_formats.ts, one entry each.
 *
 * @module
 */

/** One entry a walk read. */
export interface WalkRead {
  /** The stage's short name: "SS", "FS", "S", "VS", "G", … */
  stage: string;
  /** A read of the inner stage of a two-dimensional walk (VT-d's SS, RISC-V's G stage). */
  inner: boolean;
  /** The level as the architecture numbers it. */
  level: number;
  pa: bigint;
  value: bigint;
  /** The entry in words. */
  decoded: string;
}

/** A two-dimensional walk's grid: its stages and their levels, top first. */
export interface WalkGrid {
  outer: string;
  inner: string;
  outerLevels: number[];
  innerLevels: number[];
  /** What the last row translates ("final GPA"). */
  finalRow: string;
}

/** A walk, run. */
export interface WalkRun {
  ok: boolean;
  /** The result line (HTML): the translation, or the fault with its check linked. */
  resultHtml: string;
  reads: WalkRead[];
  /** Present for a two-dimensional walk. */
  grid?: WalkGrid;
}

/** A case of a family: a table image and one request; the editable parts are spelled out. */
export interface WalkCase {
  id: string;
  title: string;
  iova: bigint;
  /** An index into the family's `accesses`. */
  access: number;
  /** The family's option value (VT-d: the second stage's mode), when the case has one. */
  option?: string;
  /** 64-bit entries: [physical address, value]. */
  entries: [bigint, bigint][];
}

/** A family of formats the explorer offers. */
export interface WalkFamily {
  /** The value of the format selector. */
  id: string;
  label: string;
  /** The requests one can make, by name. */
  accesses: readonly string[];
  /** An option of the walk besides the request, with its values (VT-d: the second stage's mode). */
  option?: { label: string; values: readonly string[] };
  /** The cases, in the chapter's order. */
  cases(): readonly WalkCase[];
  /** Walks `edited`, a case of this family (same id) with its editable parts changed. */
  run(edited: WalkCase): WalkRun;
}

/** Lower-case hex with 0x. */
export const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/** HTML-escaped text. */
export const esc = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
