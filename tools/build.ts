/**
 * `deno task build`: write the site to `_site/`. Set `SPEC_EDIT_URL` (e.g.
 * `https://github.com/org/repo/blob/main/`) to point "edit" links at a repository instead of the
 * site's own source pages.
 *
 * @module
 */
import { formatProblem } from "./literate/spec.ts";
import { buildSite } from "./site/build.ts";

const result = await buildSite({ root: Deno.cwd(), editUrl: Deno.env.get("SPEC_EDIT_URL") });
if (result.problems.length > 0) {
  for (const p of result.problems) console.error(formatProblem(p));
  console.error(`build: ${result.problems.length} problems; nothing written`);
  Deno.exit(1);
}
console.log(`build: ${result.pages.length} files in _site/ (${result.ms.toFixed(0)} ms)`);
