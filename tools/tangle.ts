/**
 * `deno task tangle [--check | --prune]`: write `lib/` from `spec/*.md`.
 *
 * - no flag: write changed files; fail on any problem without writing anything.
 * - `--check`: write nothing; fail, naming the files, when `lib/` differs from a fresh tangle.
 * - `--prune`: like the default, and delete generated files that no chapter produces any more.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tangleLib } from "./literate/lib_dir.ts";
import { formatProblem } from "./literate/spec.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { check: { type: "boolean" }, prune: { type: "boolean" } },
});
const mode = values.check ? "check" : values.prune ? "prune" : "write";
const started = performance.now();
const result = await tangleLib(Deno.cwd(), mode);
const ms = (performance.now() - started).toFixed(0);
if (result.problems.length > 0) {
  for (const p of result.problems) console.error(formatProblem(p));
  console.error(
    mode === "check"
      ? `tangle --check: lib/ is not a fresh tangle of spec/ (${result.problems.length} problems)`
      : `tangle: ${result.problems.length} problems; nothing written`,
  );
  Deno.exit(1);
}
const files = result.tangle.files.length;
const chapters = new Set(result.tangle.files.flatMap((f) => f.chapters)).size;
const what = mode === "check"
  ? "lib/ is up to date"
  : `${result.changed.length} written${
    result.removed.length ? `, ${result.removed.length} pruned` : ""
  }`;
console.log(`tangle: ${files} files from ${chapters} chapters; ${what} (${ms} ms)`);
