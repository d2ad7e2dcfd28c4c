/**
 * `deno task check` / `deno task lint`: tangle, then run `deno check` (or `deno lint`) over the
 * whole project and report every location inside generated code at its Markdown line.
 *
 * Illustrative code blocks (no attributes) are type-checked too. `deno check --doc-only` can check
 * Markdown directly, but it rewrites each block's imports onto single lines, which shifts the
 * line numbers it reports. So each illustration is written, unchanged, to a module of its own in
 * `.doc-check/` — one directory below the root like `spec/`, so it imports the model with the
 * same relative paths — and its diagnostics map back exactly.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tangleLib } from "./literate/lib_dir.ts";
import { DOC_CHECK_DIR, illustrationPath, remapper } from "./literate/remap.ts";
import { type CodeBlock, formatProblem } from "./literate/spec.ts";

const CHECKED = ["mod.ts", "lib", "tests", "examples", "tools", "site", "bench"];
const ILLUSTRATION_LANGS = new Set(["ts", "tsx", "typescript", "js", "javascript"]);

/** The illustrations of the spec: TypeScript or JavaScript blocks without attributes. */
export function illustrations(blocks: CodeBlock[]): CodeBlock[] {
  return blocks.filter((b) => !b.attrs && ILLUSTRATION_LANGS.has(b.lang));
}

async function writeIllustrations(root: string, blocks: CodeBlock[]): Promise<string[]> {
  await Deno.remove(`${root}/${DOC_CHECK_DIR}`, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${root}/${DOC_CHECK_DIR}`, { recursive: true });
  for (const block of blocks) {
    await Deno.writeTextFile(`${root}/${illustrationPath(block)}`, block.lines.join("\n") + "\n");
  }
  return blocks.map(illustrationPath);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { lint: { type: "boolean" } } });
  const root = Deno.cwd();
  const result = await tangleLib(root, "write");
  if (result.problems.length > 0) {
    for (const p of result.problems) console.error(formatProblem(p));
    Deno.exit(1);
  }
  const targets = [];
  for (const t of CHECKED) if (await exists(`${root}/${t}`)) targets.push(t);
  const examples = illustrations(result.tangle.chapters.flatMap((c) => c.blocks));
  const args = values.lint
    ? ["lint", ...targets]
    : ["check", ...targets, ...await writeIllustrations(root, examples)];
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const remap = remapper(root, result.tangle.files, examples);
  const decode = (b: Uint8Array) => remap(new TextDecoder().decode(b));
  await Deno.stdout.write(new TextEncoder().encode(decode(out.stdout)));
  await Deno.stderr.write(new TextEncoder().encode(decode(out.stderr)));
  Deno.exit(out.code);
}
