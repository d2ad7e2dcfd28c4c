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
 * When nothing changed since the last run (the tangle manifest, `literate/manifest.ts`, and a
 * record of `.doc-check/`), the spec is not tangled again unless a diagnostic needs mapping back.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { treeHash, upToDate } from "./literate/manifest.ts";
import { DOC_CHECK_DIR, illustrationPath } from "./literate/remap.ts";
import type { CodeBlock } from "./literate/spec.ts";

const CHECKED = ["mod.ts", "lib", "tests", "examples", "tools", "site", "bench"];
const ILLUSTRATION_LANGS = new Set(["ts", "tsx", "typescript", "js", "javascript"]);
/** What `.doc-check/` held after the last run that wrote it, and for which tangle inputs. */
const DOC_CHECK_RECORD = ".cache/doc-check.json";

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

/**
 * The illustration files of `.doc-check/` when they are the ones the last run wrote for the
 * spec as it is now (the tangle manifest's inputs), else null.
 */
async function freshIllustrations(root: string, inputs: string): Promise<string[] | null> {
  const record = await Deno.readTextFile(`${root}/${DOC_CHECK_RECORD}`).then(
    JSON.parse,
    () => null,
  );
  if (record?.inputs !== inputs || record.tree !== await treeHash(root, DOC_CHECK_DIR)) return null;
  const files: string[] = [];
  for await (const e of Deno.readDir(`${root}/${DOC_CHECK_DIR}`)) {
    files.push(`${DOC_CHECK_DIR}/${e.name}`);
  }
  return files.sort();
}

/** The whole tangle (writing lib/ if stale), or an exit naming its problems. */
async function tangled(root: string) {
  const { tangleLib } = await import("./literate/lib_dir.ts");
  const { formatProblem } = await import("./literate/spec.ts");
  const result = await tangleLib(root, "write");
  if (result.problems.length > 0) {
    for (const p of result.problems) console.error(formatProblem(p));
    Deno.exit(1);
  }
  return result;
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { lint: { type: "boolean" } } });
  const root = Deno.cwd();
  const targets = [];
  for (const t of CHECKED) if (await exists(`${root}/${t}`)) targets.push(t);
  // When lib/ is a fresh tangle by the manifest (and, to type-check, `.doc-check/` holds this
  // spec's illustrations), the tangle is only needed to map diagnostics back, so only then is it
  // made. Otherwise it comes first, as it writes lib/.
  const fresh = await upToDate(root, "write");
  let tangle = null;
  let extracted = values.lint ? [] : fresh && await freshIllustrations(root, fresh.inputs);
  if (!fresh || !extracted) {
    tangle = await tangled(root);
    extracted = values.lint ? [] : await writeIllustrations(
      root,
      illustrations(tangle.tangle.chapters.flatMap((c) => c.blocks)),
    );
    const now = await upToDate(root, "write");
    if (!values.lint && now) {
      const record = { inputs: now.inputs, tree: await treeHash(root, DOC_CHECK_DIR) };
      await Deno.writeTextFile(`${root}/${DOC_CHECK_RECORD}`, JSON.stringify(record) + "\n");
    }
  }
  const args = values.lint ? ["lint", ...targets] : ["check", ...targets, ...extracted];
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const [stdout, stderr] = [out.stdout, out.stderr].map((b) => new TextDecoder().decode(b));
  let remap = (text: string) => text;
  if ((stdout + stderr).includes(root)) {
    const { remapper } = await import("./literate/remap.ts");
    tangle ??= await tangled(root);
    const examples = illustrations(tangle.tangle.chapters.flatMap((c) => c.blocks));
    remap = remapper(root, tangle.tangle.files, examples);
  }
  await Deno.stdout.write(new TextEncoder().encode(remap(stdout)));
  await Deno.stderr.write(new TextEncoder().encode(remap(stderr)));
  Deno.exit(out.code);
}
