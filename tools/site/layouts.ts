/**
 * The page layouts (`site/layout.tsx`), loaded at run time so that `deno task serve` can load a
 * fresh copy after the file is saved: a dynamic import under a new query string is a new module.
 *
 * @module
 */
import type * as Layout from "../../site/layout.tsx";

/** The layout module's exports. */
export type Layouts = typeof Layout;

const TOOLS_LAYOUT = new URL("../../site/layout.tsx", import.meta.url);

/**
 * Imports `<root>/site/layout.tsx`, or this repository's when `root` has none (test fixtures);
 * `version` (e.g. the file's modification time) makes a new copy when it changes.
 */
export async function loadLayouts(root: string, version?: string | number): Promise<Layouts> {
  const own = new URL(`file://${root}/site/layout.tsx`);
  const exists = await Deno.stat(own).then(() => true, () => false);
  const url = exists ? own : new URL(TOOLS_LAYOUT);
  if (version !== undefined) url.searchParams.set("v", String(version));
  return await import(url.href) as Layouts;
}
