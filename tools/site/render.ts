/**
 * Renders one chapter's mdast (the tangler's parse) to HTML with unified: remark-rehype turns it
 * into hast, a handler of our own turns code blocks into labelled, highlighted, cross-linked
 * figures, and rehype-stringify prints it.
 *
 * Rendering is two passes over the spec: {@link prepareChapter} assigns every anchor (headings,
 * `{#id}` list items, model blocks) so that {@link renderChapter} can resolve and check links
 * across pages.
 *
 * @module
 */
import GithubSlugger from "github-slugger";
import type { Element, ElementContent, Properties, Root as HastRoot } from "hast";
import type { Code, Heading, Link, ListItem, Root, RootContent, Text } from "mdast";
import rehypeStringify from "rehype-stringify";
import remarkRehype from "remark-rehype";
import { unified } from "unified";
import type { Chapter, CodeBlock, Problem } from "../literate/spec.ts";
import { textOf } from "../literate/spec.ts";
import type { CodeHighlighter } from "./highlight.ts";
import { figureId, type FigureSet } from "./figures.ts";
import { panelFigures } from "./panels.ts";
import { sectionNumber, sectionNumbering } from "./sections.ts";
import {
  type BlockLink,
  type BlockXref,
  type Definition,
  EXPORT,
  pageOf,
  type XrefIndex,
} from "./xref.ts";

/** An entry of a chapter's table of contents. */
export interface TocEntry {
  depth: number;
  id: string;
  text: string;
  /** The section number, e.g. `17.3.1`. */
  number: string;
}

/** A chapter after the first pass: its own copy of the tree with ids assigned. */
export interface PreparedChapter {
  chapter: Chapter;
  tree: Root;
  toc: TocEntry[];
  anchors: Set<string>;
  /** The first paragraph's text, for the index page. */
  summary: string;
  /** The ids of the level-2 headings marked `{#id .page}`: the chapter's later pages start there. */
  pageStarts: string[];
  problems: Problem[];
}

/** What rendering needs from the rest of the build. */
export interface RenderContext {
  xref: XrefIndex;
  highlighter: CodeHighlighter;
  /** Prepared chapters by file name (e.g. `01-domain-alloc-user`). */
  chapters: Map<string, PreparedChapter>;
  /** The "edit" link of a block at `path:line`. */
  editHref: (path: string, line: number) => string;
  /** Exported names defined exactly once, for linking uses in code to their definitions. */
  definitions: Map<string, Definition>;
  /** Filled while rendering: for each linked name, the blocks that use it (page#anchor → chapter). */
  uses: Map<string, Map<string, string>>;
  /** The figures drawn by the model (tools/site/figures.ts); without it a figure block is shown as text. */
  figures?: FigureSet;
}

/**
 * The exported names worth linking: defined once (an ambiguous name links nowhere), and not a plain
 * lowercase word — `page` or `current` would light up every comment — so a name needs an
 * underscore, a capital or a digit: `iopt_map_pages`, `IOMMU_HWPT_ALLOC`, `PhysMem`.
 */
export function linkableDefinitions(definitions: Definition[]): Map<string, Definition> {
  const seen = new Map<string, Definition | null>();
  for (const d of definitions) seen.set(d.name, seen.has(d.name) ? null : d);
  const out = new Map<string, Definition>();
  for (const [name, d] of seen) if (d && /[_A-Z0-9]/.test(name)) out.set(name, d);
  return out;
}

/** `{#id}` ending a heading; `{#id .page}` also starts a page there (tools/site/pages.ts). */
const EXPLICIT_ID = /\s*\{#([A-Za-z][\w-]*)(\s+\.page)?\}\s*$/;
const LEADING_ID = /^\{#([A-Za-z][\w-]*)\}\s*/;
const INLINE_ID = /\{#([A-Za-z][\w-]*)\}/g;

function problemAt(chapter: Chapter, node: { position?: Code["position"] }, message: string) {
  const start = node.position?.start ?? { line: 1, column: 1 };
  return { path: chapter.path, line: start.line, column: start.column, message };
}

function walk(node: Root | RootContent, visit: (n: RootContent) => void): void {
  if ("children" in node) {
    for (const child of node.children as RootContent[]) {
      visit(child);
      walk(child, visit);
    }
  }
}

/**
 * First pass: copies the tree, gives headings and `{#id}` list items their ids, and adds the
 * anchors of the chapter's model blocks. An id used twice on a page is a problem.
 */
export function prepareChapter(chapter: Chapter, xref: XrefIndex): PreparedChapter {
  const tree = structuredClone(chapter.tree);
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  const toc: TocEntry[] = [];
  const problems: Problem[] = [];
  let summary = "";
  const pageStarts: string[] = [];
  const numbers = sectionNumbering(Number(chapter.name.slice(0, 2)));
  const claim = (id: string, node: RootContent) => {
    if (anchors.has(id)) problems.push(problemAt(chapter, node, `anchor #${id} is used twice`));
    anchors.add(id);
  };
  walk(tree, (node) => {
    if (node.type === "heading") {
      const { id, page } = headingId(node as Heading, slugger);
      if (page && node.depth === 2) pageStarts.push(id);
      else if (page) {
        problems.push(problemAt(chapter, node, `only a level-2 heading starts a page`));
      }
      (node.data ??= {}).hProperties = { id };
      claim(id, node);
      const number = numbers(node.depth);
      if (node.depth === 2 || node.depth === 3) {
        toc.push({ depth: node.depth, id, text: textOf(node).trim(), number });
      }
      if (number) {
        const label = sectionNumber(number, node.depth === 1 ? undefined : id);
        node.children.unshift(label as Heading["children"][number], { type: "text", value: " " });
      }
    } else if (node.type === "listItem") {
      const id = takeLeadingId(node);
      if (id) {
        (node.data ??= {}).hProperties = { id };
        claim(id, node);
      }
    } else if (node.type === "paragraph" && summary === "") {
      summary = textOf(node).replace(/\s+/g, " ").trim();
    }
  });
  // Anchors written inline, `… EINVAL ({#some-check}).`, become empty spans with that id.
  walk(tree, (node) => {
    if (!("children" in node)) return;
    const parent = node as { children: RootContent[] };
    parent.children = parent.children.flatMap((child) => {
      if (child.type !== "text" || !child.value.includes("{#")) return [child];
      const parts: RootContent[] = [];
      let last = 0;
      for (const m of child.value.matchAll(INLINE_ID)) {
        parts.push({ type: "text", value: child.value.slice(last, m.index) });
        parts.push(inlineAnchor(m[1]));
        claim(m[1], child);
        last = m.index! + m[0].length;
      }
      parts.push({ type: "text", value: child.value.slice(last) });
      return parts;
    });
  });
  for (const block of chapter.blocks) {
    const x = xref.blocks.get(block);
    if (x) claim(x.anchor, block.node);
    const figure = figureId(block);
    if (figure) claim(figure, block.node);
  }
  return { chapter, tree, toc, anchors, summary, pageStarts, problems };
}

/** An mdast node that remark-rehype turns into `<span id="…"></span>`. */
function inlineAnchor(id: string): RootContent {
  return {
    type: "emphasis",
    children: [],
    data: { hName: "span", hProperties: { id, className: ["anchor"] } },
  };
}

function headingId(node: Heading, slugger: GithubSlugger): { id: string; page: boolean } {
  const last = node.children.at(-1);
  if (last?.type === "text") {
    const m = EXPLICIT_ID.exec(last.value);
    if (m) {
      last.value = last.value.slice(0, m.index);
      return { id: m[1], page: m[2] !== undefined };
    }
  }
  return { id: slugger.slug(textOf(node).trim()), page: false };
}

function takeLeadingId(item: ListItem): string | undefined {
  const first = item.children[0];
  if (first?.type !== "paragraph") return undefined;
  const text = first.children[0] as Text | undefined;
  if (text?.type !== "text") return undefined;
  const m = LEADING_ID.exec(text.value);
  if (!m) return undefined;
  text.value = text.value.slice(m[0].length);
  return m[1];
}

function h(tag: string, properties: Properties, children: (ElementContent | string)[]): Element {
  return {
    type: "element",
    tagName: tag,
    properties,
    children: children.map((c) => typeof c === "string" ? { type: "text", value: c } : c),
  };
}

function linkList(label: string, links: BlockLink[]): ElementContent[] {
  if (links.length === 0) return [];
  const items: (ElementContent | string)[] = [`${label} `];
  links.forEach((l, k) => {
    if (k > 0) items.push(", ");
    items.push(h("a", { href: l.href, title: l.chapter }, [l.text]));
  });
  return [h("span", { className: ["xref-item"] }, items)];
}

/** Second pass: rewrites links, renders the chapter's body HTML. */
export async function renderChapter(
  prepared: PreparedChapter,
  ctx: RenderContext,
): Promise<{ html: string; problems: Problem[] }> {
  const { chapter, tree } = prepared;
  const problems: Problem[] = [];
  for (const block of chapter.blocks) {
    if (block.lines.every((l) => l.trim() === "")) {
      problems.push(problemAt(chapter, block.node, "empty code block (a stray fence?)"));
    }
  }
  walk(tree, (node) => {
    if (node.type === "link") {
      // A link without text to a figure reads "Figure 17.2".
      const label = (node as Link).children.length === 0 &&
        ctx.figures?.label((node as Link).url.split("#", 2)[1] ?? "");
      if (label) (node as Link).children = [{ type: "text", value: label }];
      const resolved = resolveLink(node as Link, prepared, ctx);
      if (typeof resolved === "string") (node as Link).url = resolved;
      else problems.push(problemAt(chapter, node, resolved.error));
    }
  });
  linkInlineCode(tree, ctx.definitions, pageOf(chapter));
  const byPosition = new Map(
    chapter.blocks.map((b) => [`${b.fenceLine}:${b.fenceColumn}`, b] as const),
  );
  // The model's panels (tools/site/panels.ts): figures made before the synchronous handlers run.
  const panels = await panelFigures(chapter.blocks);
  for (const [b, error] of panels.errors) problems.push(problemAt(chapter, b.node, error));
  const processor = unified()
    .use(remarkRehype, {
      handlers: {
        code: (_state: unknown, node: Code) => {
          const p = node.position!.start;
          const key = `${p.line}:${p.column}` as const;
          const block = byPosition.get(key)!;
          const figure = block && ctx.figures?.of(block);
          if (figure) return ctx.figures!.element(figure);
          return panels.figures.get(key) ?? codeFigure(block, ctx);
        },
      },
    })
    // Raw nodes come only from figures' SVG and panels' static figures (remark-rehype drops the
    // spec's own HTML).
    .use(rehypeStringify, { allowDangerousHtml: true });
  const hast = await processor.run(tree) as HastRoot;
  return { html: processor.stringify(hast), problems };
}

/**
 * Prose names the model's functions and constants in inline code — `iopt_map_pages()`,
 * `IOMMU_HWPT_ALLOC_NEST_PARENT` — and each such name becomes a link to its definition, unless it
 * is already inside a link.
 */
function linkInlineCode(root: Root, definitions: Map<string, Definition>, page: string): void {
  const visit = (node: Root | RootContent) => {
    if (!("children" in node) || node.type === "link") return;
    node.children = (node.children as RootContent[]).map((child) => {
      if (child.type !== "inlineCode") {
        visit(child);
        return child;
      }
      const d = definitions.get(child.value.replace(/\(\)$/, ""));
      if (!d) return child;
      // On its own page a definition is just `#anchor` (printed pages show only other pages).
      const url = d.href.startsWith(`${page}#`) ? d.href.slice(page.length) : d.href;
      return { type: "link", url, title: `${d.kind} in “${d.chapter}”`, children: [child] };
    }) as typeof node.children;
  };
  visit(root);
}

function resolveLink(
  link: Link,
  prepared: PreparedChapter,
  ctx: RenderContext,
): string | { error: string } {
  const url = link.url;
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return url;
  const [target, anchor] = url.split("#", 2) as [string, string | undefined];
  if (target === "") {
    if (prepared.anchors.has(anchor!)) return url;
    const elsewhere = ctx.xref.anchors.get(anchor!);
    if (elsewhere) return `${pageOf(elsewhere)}#${anchor}`;
    return { error: `broken link: no anchor #${anchor} in this chapter or among fragments` };
  }
  const m = /^(?:\.\/)?(\d\d-[a-z0-9-]+)\.md$/.exec(target);
  const other = m && ctx.chapters.get(m[1]);
  if (!other) {
    return { error: `broken link: ${url} is not a chapter (links go to NN-topic.md[#id] or #id)` };
  }
  if (anchor === undefined) return pageOf(other.chapter);
  if (!other.anchors.has(anchor) && ctx.xref.anchors.get(anchor) !== other.chapter) {
    return { error: `broken link: ${other.chapter.path} has no anchor #${anchor}` };
  }
  return `${pageOf(other.chapter)}#${anchor}`;
}

/** Blocks longer than this many lines may break across printed pages. */
const LONG_BLOCK = 40;

function codeFigure(block: CodeBlock, ctx: RenderContext): Element {
  const pre = ctx.highlighter.highlight(block.lines.join("\n"), block.lang);
  const x = ctx.xref.blocks.get(block);
  const edit = h("a", {
    className: ["edit"],
    href: ctx.editHref(block.chapter.path, block.fenceLine),
  }, [`edit: ${block.chapter.path}:${block.fenceLine}`]);
  if (!x) {
    const long = block.lines.length > LONG_BLOCK ? ["long"] : [];
    unwrapLines(pre);
    return h("figure", { className: ["block", "illustration", ...long] }, [
      h("figcaption", {}, [h("span", { className: ["label"] }, ["illustration"])]),
      pre,
      h("footer", { className: ["xref"] }, [edit]),
    ]);
  }
  linkReferences(pre, block, ctx);
  linkCheckIds(pre, block, ctx);
  linkIdentifiers(pre, block, x, ctx);
  unwrapLines(pre);
  const caption: (ElementContent | string)[] = [
    h("a", { className: ["label"], href: `#${x.anchor}` }, [
      `${x.label} ${x.continuation ? "+≡" : "≡"}`,
    ]),
  ];
  if (x.title) caption.push(" ", h("span", { className: ["title"] }, [x.title]));
  if (x.file && x.label !== x.file) {
    caption.push(" ", h("span", { className: ["file"] }, [x.file]));
  }
  // Long blocks may break across printed pages; short ones stay whole.
  const classes = ["block", "model", ...(block.lines.length > LONG_BLOCK ? ["long"] : [])];
  return h("figure", { className: classes, id: x.anchor }, [
    h("figcaption", {}, caption),
    pre,
    h("footer", { className: ["xref"] }, [
      ...linkList("defined in", x.definedIn ? [x.definedIn] : []),
      ...linkList("used in", x.usedIn),
      ...linkList("continued in", x.continuedIn ? [x.continuedIn] : []),
      edit,
    ]),
  ]);
}

/**
 * Drops the `span.line` around each line once the links are in (the newlines between them stay):
 * a tenth of a chapter's bytes, and nothing styles them.
 */
function unwrapLines(pre: Element): void {
  const code = pre.children.find((c): c is Element => c.type === "element" && c.tagName === "code");
  if (!code) return;
  code.children = code.children.flatMap((c) =>
    c.type === "element" && c.tagName === "span" &&
      String(c.properties.class ?? c.properties.className) === "line"
      ? c.children
      : [c]
  );
}

/** Replaces each `<<name>>` line of a highlighted block with a link to the fragment. */
function linkReferences(pre: Element, block: CodeBlock, ctx: RenderContext): void {
  const code = pre.children.find((c): c is Element => c.type === "element" && c.tagName === "code");
  if (!code) return;
  const lines = code.children.filter((c): c is Element => c.type === "element");
  lines.forEach((line, k) => {
    const target = ctx.xref.refs.get(`${block.index}:${k}`);
    if (!target) return;
    const indent = /^\s*/.exec(block.lines[k])![0];
    line.children = [
      { type: "text", value: indent },
      h("a", { className: ["frag-ref"], href: target.href, title: target.chapter }, [target.text]),
    ];
  });
}

/**
 * Links the check ids in model code — the `"hwpt-alloc-pt"` of a `fail()` and the `// hwpt-alloc-pt`
 * comment above the check — to the numbered step of the chapter that explains them.
 */
function linkCheckIds(pre: Element, block: CodeBlock, ctx: RenderContext): void {
  const here = ctx.chapters.get(block.chapter.name)!;
  const hrefOf = (id: string): string | null => {
    if (here.anchors.has(id)) return `#${id}`;
    for (const p of ctx.chapters.values()) {
      if (p.anchors.has(id)) return `${pageOf(p.chapter)}#${id}`;
    }
    return null;
  };
  const visit = (node: Element) => {
    node.children = node.children.map((child) => {
      if (child.type === "element") {
        visit(child);
        return child;
      }
      if (child.type !== "text") return child;
      const m = /^(\/\/ |")([a-z][a-z0-9]*(?:-[a-z0-9]+)+)("?)$/.exec(child.value);
      const href = m && hrefOf(m[2]);
      if (!m || !href) return child;
      return h("a", { className: ["check-id"], href, title: "the step this check implements" }, [
        child.value,
      ]);
    });
  };
  visit(pre);
}

const IDENTIFIER = /[A-Za-z_$][\w$]*/g;

/**
 * Links each use of an exported name in model code to the block that defines it, as engine262's
 * spec links every abstract operation; names defined in this very block are left alone.
 */
function linkIdentifiers(pre: Element, block: CodeBlock, x: BlockXref, ctx: RenderContext): void {
  const href = `${pageOf(block.chapter)}#${x.anchor}`;
  const imports = importLines(block.lines);
  // Line index → the exported name that line declares.
  const declared = new Map<number, string>();
  block.lines.forEach((l, k) => {
    const m = EXPORT.exec(l);
    if (m) declared.set(k, m[2]);
  });
  const visit = (node: Element, line: number) => {
    if (node.tagName === "a") return;
    node.children = node.children.flatMap((child): ElementContent[] => {
      if (child.type === "element") {
        visit(child, line);
        return [child];
      }
      if (child.type !== "text") return [child];
      const out: ElementContent[] = [];
      let at = 0;
      for (const m of child.value.matchAll(IDENTIFIER)) {
        const d = ctx.definitions.get(m[0]);
        if (!d) continue;
        if (d.anchor === x.anchor) {
          // The declaration itself: a link to the name's row of the identifier index, which the
          // page's script turns into a pop-up of the blocks that use it.
          if (declared.get(line) !== d.name) continue;
          declared.delete(line);
          if (m.index > at) out.push({ type: "text", value: child.value.slice(at, m.index) });
          out.push(h("a", {
            className: ["def"],
            href: `identifiers.html#id-${d.name}`,
            dataDef: d.name,
            title: "references",
          }, [m[0]]));
          at = m.index + m[0].length;
          continue;
        }
        // An import names a dependency; the index lists the blocks that use the name.
        if (!imports.has(line)) {
          if (!ctx.uses.has(d.name)) ctx.uses.set(d.name, new Map());
          ctx.uses.get(d.name)!.set(href, block.chapter.title);
        }
        if (m.index > at) out.push({ type: "text", value: child.value.slice(at, m.index) });
        out.push(h("a", { className: ["ident"], href: d.href }, [m[0]]));
        at = m.index + m[0].length;
      }
      if (at === 0) return [child];
      if (at < child.value.length) out.push({ type: "text", value: child.value.slice(at) });
      return out;
    });
  };
  // The highlighted code holds one span.line per source line.
  const code = pre.children.find((c): c is Element => c.type === "element" && c.tagName === "code");
  code?.children.filter((c): c is Element => c.type === "element").forEach((l, k) => visit(l, k));
}

/** The indexes of the lines that belong to `import … from` statements. */
function importLines(lines: string[]): Set<number> {
  const out = new Set<number>();
  let open = false;
  lines.forEach((line, k) => {
    if (/^\s*import\b/.test(line)) open = true;
    if (open) out.add(k);
    if (open && /\bfrom\s+["'][^"']+["'];?\s*$|^\s*import\s+["']/.test(line)) open = false;
  });
  return out;
}
