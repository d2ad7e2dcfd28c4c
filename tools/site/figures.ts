/**
 * Figures drawn by the model. A chapter places one with a fenced block
 *
 * ````md
 * ```figure {#fig-nested-walk fn=nestedWalkFigure}
 * The caption.
 * ```
 * ````
 *
 * and refers to it with a link without text, `[](#fig-nested-walk)`, which reads "Figure 17.2".
 * Phases: {@link collectFigures} numbers the blocks and checks their attributes and that the prose
 * refers to each; {@link drawFigures} runs the named functions of `lib/` (in a process of their
 * own, cached by the hash of `lib/` and the names) and reports an unknown or failing function at
 * its block. The renderer then asks {@link FigureSet.element} for each block's `<figure>`.
 *
 * The figures come from the `lib/` on disk: `serve` re-tangles it before each build, and CI's
 * `tangle --check` fails when it is stale.
 *
 * @module
 */
import type { Element, ElementContent } from "hast";
import type { Link, Root, RootContent } from "mdast";
import type { CodeBlock, Problem, Spec } from "../literate/spec.ts";
import { HashStore, sha256 } from "../literate/hash_store.ts";

/** What a figure function returns (lib/figures/svg.ts `Figure`). */
export interface DrawnFigure {
  width: number;
  height: number;
  body: string;
  title: string;
  desc: string;
}

/** A `figure` block of a chapter. */
export interface FigureBlock {
  id: string;
  fn: string;
  /** Column of `fn=` on the fence line, for problems. */
  fnColumn: number;
  caption: string;
  /** "17.2" */
  number: string;
  block: CodeBlock;
  drawn?: DrawnFigure;
}

/** The figures of the whole spec, by anchor. */
export class FigureSet {
  constructor(readonly byId: Map<string, FigureBlock>) {}

  /** The figure a block places, if it is a figure block. */
  of(block: CodeBlock): FigureBlock | undefined {
    if (block.lang !== "figure") return undefined;
    for (const f of this.byId.values()) if (f.block === block) return f;
    return undefined;
  }

  /** The text of a link to `#id` that has none: "Figure 17.2". */
  label(id: string): string | undefined {
    const f = this.byId.get(id);
    return f && `Figure ${f.number}`;
  }

  /**
   * The `<figure>` of a block: a place for the SVG, then the caption. The SVG goes in with
   * {@link FigureSet.fill} once drawn, so drawing runs while the chapters render.
   */
  element(f: FigureBlock): Element {
    return {
      type: "element",
      tagName: "figure",
      properties: { className: ["diagram"], id: f.id },
      children: [
        { type: "raw", value: placeholder(f.id) } as unknown as Element,
        {
          type: "element",
          tagName: "figcaption",
          properties: {},
          children: [
            {
              type: "element",
              tagName: "a",
              properties: { className: ["label"], href: `#${f.id}` },
              children: [{ type: "text", value: `Figure ${f.number}` }],
            },
            { type: "text", value: " " },
            // The caption is text; `name` in it becomes code.
            ...f.caption.split("`").map((part, k): ElementContent =>
              k % 2 === 0 ? { type: "text", value: part } : {
                type: "element",
                tagName: "code",
                properties: {},
                children: [{ type: "text", value: part }],
              }
            ),
          ],
        },
      ],
    };
  }

  /** Puts each drawn figure's SVG, with its title and text alternative, into rendered HTML. */
  fill(html: string): string {
    return html.replace(/<!--figure:([a-z][a-z0-9-]*)-->/g, (whole, id: string) => {
      const f = this.byId.get(id);
      const d = f?.drawn;
      if (!f || !d) return whole;
      return `<svg xmlns="http://www.w3.org/2000/svg" class="fig" viewBox="0 0 ${d.width} ${d.height}" ` +
        `width="${d.width}" height="${d.height}" role="img" data-pagefind-ignore ` +
        `aria-labelledby="${f.id}-title ${f.id}-desc">` +
        `<title id="${f.id}-title">${escapeXml(`Figure ${f.number}: ${d.title}`)}</title>` +
        `<desc id="${f.id}-desc">${escapeXml(d.desc)}</desc>${d.body}</svg>`;
    });
  }
}

function placeholder(id: string): string {
  return `<!--figure:${id}-->`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const FIGURE_ATTRS = /^\{#([a-z][a-z0-9-]*)\s+fn=([A-Za-z_$][\w$]*)\s*\}$/;

/** The anchor a figure block declares (for the renderer's anchor pass), if its attributes parse. */
export function figureId(block: CodeBlock): string | undefined {
  if (block.lang !== "figure") return undefined;
  return FIGURE_ATTRS.exec(block.node.meta?.trim() ?? "")?.[1];
}

function at(block: CodeBlock, column: number, message: string): Problem {
  return { path: block.chapter.path, line: block.fenceLine, column, message };
}

function links(node: Root | RootContent, out: Link[]): Link[] {
  if (node.type === "link") out.push(node);
  if ("children" in node) { for (const c of node.children as RootContent[]) links(c, out); }
  return out;
}

/** The anchors a chapter's links name, kept per parse tree (nothing changes a chapter's tree). */
const anchorsOfTree = new WeakMap<Root, string[]>();
function linkAnchors(tree: Root): string[] {
  let anchors = anchorsOfTree.get(tree);
  if (!anchors) {
    anchors = links(tree, []).flatMap((l) => {
      const anchor = l.url.split("#", 2)[1];
      return anchor ? [anchor] : [];
    });
    anchorsOfTree.set(tree, anchors);
  }
  return anchors;
}

/** The line of `text` that holds character `offset`. */
function lineAt(text: string, offset: number): string {
  const start = text.lastIndexOf("\n", offset - 1) + 1;
  const end = text.indexOf("\n", offset);
  return text.slice(start, end < 0 ? text.length : end);
}

/**
 * Finds and numbers the figure blocks; a block without `{#id fn=name}`, an id used twice, or a
 * figure no link of the spec refers to is a problem at the block.
 */
export function collectFigures(spec: Spec): { figures: FigureSet; problems: Problem[] } {
  const byId = new Map<string, FigureBlock>();
  const problems: Problem[] = [];
  for (const chapter of spec.chapters) {
    let k = 0;
    for (const block of chapter.blocks) {
      if (block.lang !== "figure") continue;
      const meta = block.node.meta?.trim() ?? "";
      const m = FIGURE_ATTRS.exec(meta);
      if (!m) {
        problems.push(
          at(block, block.fenceColumn, "a figure block needs {#fig-id fn=functionName}"),
        );
        continue;
      }
      if (byId.has(m[1])) {
        problems.push(at(block, block.fenceColumn, `figure #${m[1]} is placed twice`));
        continue;
      }
      const offset = block.node.position?.start.offset;
      const fence = offset === undefined
        ? chapter.text.split("\n")[block.fenceLine - 1] ?? ""
        : lineAt(chapter.text, offset);
      byId.set(m[1], {
        id: m[1],
        fn: m[2],
        fnColumn: fence.indexOf(`fn=${m[2]}`) + 1,
        caption: block.lines.join(" ").replace(/\s+/g, " ").trim(),
        number: `${Number(chapter.name.slice(0, 2))}.${++k}`,
        block,
      });
    }
  }
  const referred = new Set<string>();
  for (const chapter of spec.chapters) {
    for (const anchor of linkAnchors(chapter.tree)) if (byId.has(anchor)) referred.add(anchor);
  }
  for (const f of byId.values()) {
    if (!referred.has(f.id)) {
      problems.push(
        at(
          f.block,
          f.block.fenceColumn,
          `figure #${f.id} is never referred to: write [](#${f.id})`,
        ),
      );
    }
  }
  return { figures: new FigureSet(byId), problems };
}

/**
 * A generated file without the spec line numbers of its fragment comments
 * (`// ⟨name⟩ spec/17-x.md:120`): a prose edit moves them, and the model stays the same.
 */
export function withoutSpecLines(text: string): string {
  return text.replace(/(spec\/[\w.-]+\.md):\d+/g, "$1");
}

/** `lib/`'s generated files without their spec line numbers, in one text. */
export async function libText(root: string): Promise<string> {
  const parts: string[] = [];
  const visit = async (dir: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(`${root}/${dir}`)) entries.push(e);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await visit(path);
      else if (e.name.endsWith(".ts")) {
        parts.push(path, withoutSpecLines(await Deno.readTextFile(`${root}/${path}`)));
      }
    }
  };
  await visit("lib").catch(() => {});
  return parts.join("\0");
}

type WorkerAnswer = Record<string, { figure: DrawnFigure } | { error: string }>;

/**
 * Draws every figure by running its function. The answers are cached under `.cache/figures/` by
 * the hash of `lib/`, the worker and the names, so a build that changed only prose spawns nothing.
 */
export async function drawFigures(
  root: string,
  figures: FigureSet,
  lib: () => Promise<string> = () => libText(root),
): Promise<Problem[]> {
  if (figures.byId.size === 0) return [];
  const names = [...new Set([...figures.byId.values()].map((f) => f.fn))].sort();
  const worker = new URL("./figures_worker.ts", import.meta.url);
  const inputs = [root, await lib(), await Deno.readTextFile(worker), ...names];
  // The last answer, while the inputs are the same texts (a prose edit: the same lib/ text).
  const same = lastDrawn && lastDrawn.inputs.length === inputs.length &&
    lastDrawn.inputs.every((t, k) => t === inputs[k]);
  let answer: WorkerAnswer;
  if (same) answer = lastDrawn!.answer;
  else {
    const drawn = await drawAll(root, worker, names, inputs.slice(1), figures);
    if ("problem" in drawn) return [drawn.problem];
    answer = drawn.answer;
  }
  const problems: Problem[] = [];
  for (const f of figures.byId.values()) {
    const a = answer[f.fn];
    if (a && "figure" in a) f.drawn = a.figure;
    else problems.push(at(f.block, f.fnColumn, `figure #${f.id}: ${a?.error ?? "not drawn"}`));
  }
  if (!same) lastDrawn = { inputs, answer };
  return problems;
}

/** The answer of the last drawing, and the texts it was drawn from. */
let lastDrawn: { inputs: string[]; answer: WorkerAnswer } | null = null;

/** The worker's answer for `names`, from `.cache/figures/` or a run of the worker. */
async function drawAll(
  root: string,
  worker: URL,
  names: string[],
  texts: string[],
  figures: FigureSet,
): Promise<{ answer: WorkerAnswer } | { problem: Problem }> {
  const key = await sha256(texts.join("\0"));
  const store = new HashStore(`${root}/.cache/figures`);
  let answer: WorkerAnswer;
  const cached = await store.get(key);
  if (cached) answer = JSON.parse(cached);
  else {
    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--no-check",
        `--allow-read=${root}`,
        worker.pathname,
        root,
        ...names,
      ],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(run.stdout);
    if (!run.success) {
      const err = new TextDecoder().decode(run.stderr).trim().split("\n").slice(0, 3).join(" ");
      const first = [...figures.byId.values()][0];
      return { problem: at(first.block, first.fnColumn, `figures could not be drawn: ${err}`) };
    }
    answer = JSON.parse(text);
    await store.put(key, text);
    await store.prune();
  }
  return { answer };
}
