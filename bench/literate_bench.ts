/**
 * Scale of the literate toolchain on a synthetic spec the size this project is designed for:
 * 20 chapters, each with 40 fragments of 40 lines (32,000 lines of model code, 20 files).
 * Run: `deno bench --allow-all bench/literate_bench.ts`.
 */
import { parseSpec } from "../tools/literate/spec.ts";
import { tangle } from "../tools/literate/tangle.ts";
import { bench } from "./cases.ts";

function syntheticSpec() {
  const files = [];
  for (let c = 0; c < 20; c++) {
    const parts = [`# Chapter ${c}`, "", `\`\`\`ts {#ch${c}-file file=lib/ch${c}.ts}`];
    for (let f = 0; f < 40; f++) parts.push(`<<ch${c}-frag${f}>>`, "");
    parts.push("```", "");
    for (let f = 0; f < 40; f++) {
      parts.push(`Prose about fragment ${f}, with \`code\` and a [link](#ch${c}-frag${f}).`, "");
      parts.push(`\`\`\`ts {#ch${c}-frag${f}}`, `export function f${f}(x: number): number {`);
      for (let l = 0; l < 38; l++) parts.push(`  x = x * ${l} + ${f}; // line ${l}`);
      parts.push("  return x;", "}", "```", "");
    }
    files.push({
      path: `spec/${String(c).padStart(2, "0")}-chapter-${c}.md`,
      text: parts.join("\n"),
    });
  }
  return files;
}

const files = syntheticSpec();
const spec = parseSpec(files);

bench(
  "literate_parse_20_chapters_ms",
  "parse 20 chapters (32k lines of model code)",
  "literate",
  () => {
    parseSpec(files);
  },
);

bench("literate_tangle_20_chapters_ms", "tangle 20 chapters (already parsed)", "literate", () => {
  const t = tangle(spec);
  if (t.problems.length) throw new Error(t.problems[0].message);
});
