/**
 * The model's panels in the pages. A chapter places one with a fenced block whose info string is
 * `panel <name>` (`walk`: the page-walk explorer; `console`: the uAPI console) and whose text is the
 * caption. The page gets a figure holding the caption, an empty area the panel fills when it comes
 * near the screen, and a static rendering made now by the same code (shown until then, and always
 * without JavaScript), and a module script that loads the panel lazily — so only pages with a panel
 * load the model, and never before their text.
 *
 * @module
 */
import type { Element, ElementContent } from "hast";
import type { CodeBlock } from "../literate/spec.ts";
import type { PreparedChapter } from "./render.ts";
import { bundlePanels, type PanelBundles } from "./bundle.ts";

/** The panels there are, with the module that renders their static figure. */
const PANELS: Record<string, () => Promise<{ staticHtml(): string }>> = {
  walk: () => import("../../site/panels/walk.ts"),
  console: () => import("../../site/panels/console_static.ts"),
};

/** True for a block that places a panel. */
export function isPanelBlock(lang: string | null | undefined): boolean {
  return lang === "panel";
}

/** The figure of a `panel <name>` block; `null` and a message when the name is unknown. */
export async function panelFigure(
  meta: string,
  caption: string,
): Promise<Element | { error: string }> {
  const name = meta.trim();
  const load = PANELS[name];
  if (!load) return { error: `unknown panel "${name}" (known: ${Object.keys(PANELS).join(", ")})` };
  const { staticHtml } = await load();
  const children: ElementContent[] = [
    {
      type: "element",
      tagName: "figcaption",
      properties: {},
      children: [{ type: "text", value: caption.trim() }],
    },
    {
      type: "element",
      tagName: "div",
      properties: { className: ["panel-live-area"] },
      children: [],
    },
    {
      type: "element",
      tagName: "div",
      properties: { className: ["panel-static"] },
      children: [{ type: "raw", value: staticHtml() } as unknown as ElementContent],
    },
    {
      type: "element",
      tagName: "link",
      properties: { rel: ["stylesheet"], href: "panel.css" },
      children: [],
    },
    {
      type: "element",
      tagName: "script",
      properties: { type: "module", src: "panel-loader.js" },
      children: [],
    },
  ];
  return {
    type: "element",
    tagName: "figure",
    properties: {
      className: ["panel", `panel-${name}`],
      dataPanel: name,
      id: `panel-${name}`,
      // Generated transcripts and tables, not prose: kept out of the search index.
      dataPagefindIgnore: "all",
    },
    children,
  };
}

/** The figures of a chapter's panel blocks, by `line:column` of their fence, and any errors. */
export async function panelFigures(
  blocks: CodeBlock[],
): Promise<{ figures: Map<string, Element>; errors: [CodeBlock, string][] }> {
  const figures = new Map<string, Element>();
  const errors: [CodeBlock, string][] = [];
  for (const b of blocks) {
    if (!isPanelBlock(b.lang)) continue;
    const fig = await panelFigure(b.node.meta ?? "", b.lines.join("\n"));
    if ("error" in fig) errors.push([b, fig.error]);
    else figures.set(`${b.fenceLine}:${b.fenceColumn}`, fig);
  }
  return { figures, errors };
}

/**
 * The files the panels need, when some chapter has one: the bundles, and `panel-checks.json`
 * (each check id — a list item's `{#id}` — to its page, for the console's errno links).
 */
export async function panelFiles(
  chapters: Iterable<PreparedChapter>,
  root: string,
  pageOf: (c: PreparedChapter) => string,
  bundles: () => Promise<PanelBundles> = () => bundlePanels(root),
): Promise<Map<string, string>> {
  const all = [...chapters];
  const files = new Map<string, string>();
  if (!all.some((p) => p.chapter.blocks.some((b) => isPanelBlock(b.lang)))) return files;
  for (const [path, text] of (await bundles()).files) files.set(path, text);
  const checks: Record<string, string> = {};
  for (const p of all) {
    const headings = new Set(p.toc.map((t) => t.id));
    for (const id of p.anchors) if (!headings.has(id)) checks[id] ??= `${pageOf(p)}#${id}`;
  }
  files.set("panel-checks.json", JSON.stringify(checks));
  files.set("panel.css", await Deno.readTextFile(`${root}/site/panels/panels.css`));
  return files;
}
