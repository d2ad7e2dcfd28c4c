/**
 * Moves locations in Deno's diagnostics from generated files back to the Markdown they came from:
 * `file:///…/lib/x.ts:12:7` becomes `spec/NN-topic.md:140:7`, and an illustration extracted to
 * `.doc-check/NN-topic.L30.ts:2:5` becomes `spec/NN-topic.md:32:5`.
 *
 * @module
 */
import type { CodeBlock } from "./spec.ts";
import { mapBack, type TangledFile } from "./tangle.ts";

/** The directory where illustrations are written, one module each, to be type-checked. */
export const DOC_CHECK_DIR = ".doc-check";

/** The path an illustration is type-checked at. */
export function illustrationPath(block: CodeBlock): string {
  const ext = block.lang === "tsx" ? "tsx" : block.lang.startsWith("j") ? "js" : "ts";
  return `${DOC_CHECK_DIR}/${block.chapter.name}.L${block.fenceLine}.${ext}`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Returns a function that rewrites every location under `root` in a diagnostic text: generated
 * files through their line maps, extracted illustrations by their fence position, anything else
 * to a path relative to `root`.
 */
export function remapper(
  root: string,
  files: TangledFile[],
  illustrations: CodeBlock[],
): (text: string) => string {
  const generated = new Map(files.map((f) => [f.path, f]));
  const extracted = new Map(illustrations.map((b) => [illustrationPath(b), b]));
  const location = new RegExp(`(?:file://)?${escapeRegExp(root)}/([^\\s:#]+):(\\d+):(\\d+)`, "g");
  return (text) =>
    text.replace(location, (_, path: string, l: string, c: string) => {
      const line = Number(l);
      const column = Number(c);
      const block = extracted.get(path);
      if (block) {
        return `${block.chapter.path}:${block.fenceLine + line}:${column + block.fenceColumn - 1}`;
      }
      const file = generated.get(path);
      const origin = file && mapBack(file, line, column);
      return origin
        ? `${origin.path}:${origin.line}:${origin.column}`
        : `${path}:${line}:${column}`;
    });
}
