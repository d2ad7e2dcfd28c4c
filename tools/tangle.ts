/**
 * `deno task tangle [--check | --prune]`: write `lib/` from `spec/*.md`.
 *
 * - no flag: write changed files; fail on any problem without writing anything.
 * - `--check`: write nothing; fail, naming the files, when `lib/` differs from a fresh tangle.
 * - `--prune`: like the default, and delete generated files that no chapter produces any more.
 *
 * When the chapters, the tangler and `lib/` all hash as the last successful tangle left them
 * (`literate/manifest.ts`), there is nothing to do and nothing more is loaded: the tangler itself
 * (the Markdown parser, TypeScript, the source-map child) is imported only when needed.
 *
 * @module
 */
import { upToDate } from "./literate/manifest.ts";

// Parsed by hand: node:util's parseArgs alone costs a sixth of a run with nothing to do.
const values = { check: false, prune: false };
for (const arg of Deno.args) {
  if (arg === "--check" || arg === "--prune") values[arg === "--check" ? "check" : "prune"] = true;
  else {
    console.error(`tangle: unknown argument ${arg} (expected --check or --prune)`);
    Deno.exit(2);
  }
}
const mode = values.check ? "check" : values.prune ? "prune" : "write";
const started = performance.now();
const elapsed = () => (performance.now() - started).toFixed(0);
const unchanged = await upToDate(Deno.cwd(), mode);
if (unchanged) {
  const what = mode === "check" ? "lib/ is up to date" : "0 written";
  console.log(
    `tangle: ${unchanged.files} files from ${unchanged.chapters} chapters; ${what}, ` +
      `unchanged since the last tangle (${elapsed()} ms)`,
  );
  Deno.exit(0);
}
const { tangleLib } = await import("./literate/lib_dir.ts");
const { formatProblem } = await import("./literate/spec.ts");
const result = await tangleLib(Deno.cwd(), mode);
const ms = elapsed();
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
