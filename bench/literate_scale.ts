/**
 * Scale of parse + tangle on one big chapter: the real chapters, joined and repeated (names
 * renamed per copy) until the chapter has the given size. Prints time and peak RSS per stage.
 * Run: `deno run --allow-all bench/literate_scale.ts [MB=10]`.
 */
import { parseMarkdown, parseSpec } from "../tools/literate/spec.ts";
import { tangle } from "../tools/literate/tangle.ts";

const root = new URL("../", import.meta.url).pathname;
const target = Number(Deno.args[0] ?? 10) * 1e6;
const names = [...Deno.readDirSync(`${root}spec`)].map((e) => e.name).sort();
const unit = names
  .map((n) => Deno.readTextFileSync(`${root}spec/${n}`).replace(/^# (.*)$/m, "## $1"))
  .join("\n\n");
const parts = ["# Big", ""];
for (let k = 0, size = 0; size < target; k++) {
  const copy = unit
    .replace(/\{#([a-z0-9-]+)/g, `{#$1-k${k}`)
    .replace(/<<([a-z0-9-]+)>>/g, `<<$1-k${k}>>`)
    .replace(/file=lib\//g, `file=lib/k${k}/`);
  parts.push(copy);
  size += copy.length;
}
const text = parts.join("\n\n");

/** Peak resident set size so far (Linux), in MB. */
function peak(): string {
  const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return m ? `${(Number(m[1]) / 1024).toFixed(0)} MB peak` : "";
}

console.log(`chapter: ${(text.length / 1e6).toFixed(1)} M chars, ${text.split("\n").length} lines`);
let t = performance.now();
const tree = parseMarkdown(text);
console.log(`parse: ${(performance.now() - t).toFixed(0)} ms; ${peak()}`);
t = performance.now();
const spec = parseSpec([{ path: "spec/01-big.md", text, tree }]);
const tangled = tangle(spec);
if (tangled.problems.length) throw new Error(tangled.problems[0].message);
console.log(
  `tangle: ${(performance.now() - t).toFixed(0)} ms; ${spec.blocks.length} blocks, ` +
    `${tangled.files.length} files; ${peak()}`,
);
