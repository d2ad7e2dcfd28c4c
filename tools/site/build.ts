/**
 * The site build, in named phases: parse → tangle (for the fragment index) → cross-references →
 * prepare (anchors) → render (HTML, links checked) → lay out pages → write `_site/`.
 * Nothing is written when any phase reports a problem.
 *
 * @module
 */
import { renderToString } from "preact-render-to-string";
import type { ChapterLink, IdentifierEntry, SiteInfo } from "../../site/layout.tsx";
import { loadSpec, type Problem } from "../literate/spec.ts";
import { type Tangle, tangle } from "../literate/tangle.ts";
import { CodeHighlighter } from "./highlight.ts";
import { RenderCache, type RenderedChapter } from "./render_cache.ts";
import { type Layouts, loadLayouts } from "./layouts.ts";
import { referencesOf } from "./references.ts";
import type { ModelMemo } from "./model_memo.ts";
import { bundleInputHash, bundlePanels } from "./bundle.ts";
import { siteAssets } from "./assets.ts";
import { panelFiles } from "./panels.ts";
import { brief } from "./summary.ts";
import {
  chapterLedger,
  collectLedger,
  LEDGER_PAGE,
  ledgerAnchors,
  ledgerBody,
  type LedgerEntry,
} from "./ledger.ts";
import { searchIndex } from "./search.ts";
import { collectFigures, drawFigures, libText } from "./figures.ts";
import { IDENTIFIER_RANGES, identifierPage, identifierPages } from "./identifiers.ts";
import { type ChapterPart, linkAcrossParts, Relocations, splitBody } from "./pages.ts";
import { linkableDefinitions, type PreparedChapter, renderChapter } from "./render.ts";
import { buildXref, type Definition, pageOf } from "./xref.ts";

/** Options of {@link buildSite}. */
export interface BuildOptions {
  /** Repository root (holds `spec/` and `site/`). */
  root: string;
  /** Output directory; default `<root>/_site`. */
  outDir?: string;
  /**
   * Index the pages for search (pagefind); default true. `"background"`: return once the pages
   * are written, with a function that writes the index ({@link BuildResult.search}).
   */
  search?: boolean | "background";
  /**
   * What an earlier build into `outDir` wrote (path → text), kept by the caller: the build then
   * writes only the files that changed and removes the ones no longer made, instead of emptying
   * `outDir`, and updates the map.
   */
  written?: Map<string, string>;
  /** Reuse a highlighter (and its cache) across builds, as `deno task serve` does. */
  highlighter?: CodeHighlighter;
  /**
   * Prefix of "edit" links, e.g. `https://github.com/org/repo/blob/main/`; the link is
   * `<prefix><spec path>#L<line>`. Default: the site's own numbered source pages.
   */
  editUrl?: string;
  /** The page layouts; default: `site/layout.tsx` loaded once. */
  layouts?: Layouts;
  /** Rendered chapters to reuse, as `deno task serve` keeps them; default: `.cache/site/`. */
  renderCache?: RenderCache;
  /** The spec, parsed and tangled already (`deno task serve` tangles `lib/` first). */
  tangled?: Tangle;
  /**
   * What the build derived from `lib/` and `site/panels/` before, kept by a caller that knows when
   * they change (`deno task serve`).
   */
  modelMemo?: ModelMemo;
  /**
   * Leave the work no page waits for — the render cache's and the highlighter's files on disk,
   * forgetting unused entries — to {@link BuildResult.finish}, for the caller to run after it has
   * told open pages (`deno task serve`); default: done before the build returns.
   */
  defer?: boolean;
}

/** The outcome of a build. */
export interface BuildResult {
  problems: Problem[];
  /** Chapters rendered afresh (the others came from the render cache). */
  rendered?: number;
  /** With `search: "background"`: writes the search index (calls after a newer build's skip). */
  search?: () => Promise<void>;
  /** Paths written, relative to the output directory. */
  pages: string[];
  /** With `written`: what changed since the build it describes ({@link Changes}). */
  changes?: Changes;
  /** With `defer`: the rest of the build's work (call it before the next build). */
  finish?: () => Promise<void>;
  ms: number;
}

/** The site's name. */
export const SITE_TITLE = "IOMMU user domains: an executable specification";

/** What the front page says before the chapter list. */
const SITE_LEDE =
  "How Linux lets userspace — iommufd, on behalf of a VMM — own IOMMU page tables, " +
  "as of Linux v6.12: prose and a model that runs. Every code block with a name is part of the " +
  "model; the tests check it against the kernel's own selftests, check order and errnos.";

const DOCTYPE = "<!doctype html>\n";

/** The identifier index: each linked name, where it is defined, and the blocks that use it. */
const collator = new Intl.Collator("en", { sensitivity: "base" });

function identifierEntries(
  definitions: Map<string, Definition>,
  uses: Map<string, Map<string, string>>,
): IdentifierEntry[] {
  return [...definitions.values()]
    .sort((a, b) => collator.compare(a.name, b.name))
    .map((d) => ({
      name: d.name,
      kind: d.kind,
      href: d.href,
      chapter: d.chapter,
      details: identifierPage(d.name),
      usedIn: [...(uses.get(d.name) ?? new Map()).entries()].map(([href, chapter]) => ({
        href,
        text: href.slice(href.indexOf("#") + 1),
        chapter: chapter,
      })),
    }));
}

/** A rendered chapter's uses of names as text (kept per entry: entries are not changed). */
const usesTexts = new WeakMap<RenderedChapter["uses"], string>();
function usesJson(uses: RenderedChapter["uses"]): string {
  let text = usesTexts.get(uses);
  if (text === undefined) usesTexts.set(uses, text = JSON.stringify(uses));
  return text;
}

/** What a build wrote, compared with what the caller's `written` held before. */
export interface Changes {
  /** Paths written or removed (relative to the output directory). */
  changed: string[];
  /** Of those, the pages whose text differs only inside their `<main>` element. */
  mainOnly: string[];
}

/** Where a page's `<main>` element's content starts and ends, or null. */
function mainSpan(html: string): [number, number] | null {
  const open = html.indexOf("<main");
  const start = open < 0 ? -1 : html.indexOf(">", open) + 1;
  const end = html.lastIndexOf("</main>");
  return start > 0 && end >= start ? [start, end] : null;
}

/** Whether two texts of a page differ only inside `<main>` (outside it they are the same). */
export function differsOnlyInMain(before: string, after: string): boolean {
  const a = mainSpan(before), b = mainSpan(after);
  return a !== null && b !== null && before.slice(0, a[0]) === after.slice(0, b[0]) &&
    before.slice(a[1]) === after.slice(b[1]);
}

/**
 * Writes the site's files. Without `written`, `outDir` is emptied first; with it, only changed
 * files are written and files of the earlier build that are no longer made are removed (the search
 * index stays until a new one replaces it).
 */
async function writeSite(
  outDir: string,
  files: Map<string, string>,
  written?: Map<string, string>,
): Promise<Changes> {
  const changes: Changes = { changed: [], mainOnly: [] };
  if (!written || written.size === 0) {
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
  }
  const dirs = new Set([...files.keys()].map((p) => `${outDir}/${p}`.replace(/\/[^/]*$/, "")));
  for (const d of dirs) await Deno.mkdir(d, { recursive: true });
  for (const [path, text] of files) {
    const before = written?.get(path);
    if (before === text) continue;
    await Deno.writeTextFile(`${outDir}/${path}`, text);
    written?.set(path, text);
    changes.changed.push(path);
    if (before !== undefined && path.endsWith(".html") && differsOnlyInMain(before, text)) {
      changes.mainOnly.push(path);
    }
  }
  for (const path of [...written?.keys() ?? []]) {
    if (files.has(path)) continue;
    await Deno.remove(`${outDir}/${path}`).catch(() => {});
    written!.delete(path);
    changes.changed.push(path);
  }
  return changes;
}

/** Builds the whole site. */
export async function buildSite(options: BuildOptions): Promise<BuildResult> {
  const started = performance.now();
  const { root } = options;
  const outDir = options.outDir ?? `${root}/_site`;
  let rendered = 0;
  let changes: Changes | undefined;
  let finish: (() => Promise<void>) | undefined;
  const done = async (
    problems: Problem[],
    pages: string[] = [],
    search?: () => Promise<void>,
  ): Promise<BuildResult> => {
    if (finish && !options.defer) {
      await finish();
      finish = undefined;
    }
    return { problems, pages, rendered, search, changes, finish, ms: performance.now() - started };
  };

  // Parse and tangle: the site shows exactly the fragments the tangler resolved.
  // (`deno task serve` has just tangled, and hands its tangle over.)
  const tangled = options.tangled ?? tangle(await loadSpec(root));
  if (tangled.problems.length > 0) return done(tangled.problems);
  const spec = { chapters: tangled.chapters, blocks: tangled.chapters.flatMap((c) => c.blocks) };

  // Cross-references and anchors (a chapter's, from the render cache when its text is the same).
  const cache = options.renderCache ?? new RenderCache(`${root}/.cache/site`);
  const memo = options.modelMemo;
  cache.begin(memo && (() => memo.get("bundle-hash", () => bundleInputHash(root))));
  const xref = buildXref(tangled);
  const prepared = new Map<string, PreparedChapter>();
  for (const chapter of spec.chapters) {
    prepared.set(chapter.name, await cache.prepare(chapter, xref, root));
  }
  const problems = [...prepared.values()].flatMap((p) => p.problems);

  // Figures: numbered and referred to; the model draws them (in a process of its own) while the
  // chapters render, and the SVG goes into the bodies after.
  const { figures, problems: figureProblems } = collectFigures({ ...spec, problems: [] });
  problems.push(...figureProblems);
  const lib = memo ? () => memo.get("lib", () => libText(root)) : undefined;
  const drawing = figureProblems.length === 0
    ? drawFigures(root, figures, lib)
    : Promise.resolve([]);

  // Render bodies.
  const highlighter = options.highlighter ?? await CodeHighlighter.create(root);
  const editHref = options.editUrl
    ? (path: string, line: number) => `${options.editUrl}${path}#L${line}`
    : (path: string, line: number) => `source/${path.replace(/^spec\//, "")}.html#L${line}`;
  const definitions = linkableDefinitions(xref.definitions);
  const uses = new Map<string, Map<string, string>>();
  const ctx = { xref, highlighter, chapters: prepared, editHref, definitions, uses, figures };
  // Only chapters whose inputs changed are rendered (tools/site/render_cache.ts).
  const used = new Set<string>();
  /** Each chapter's uses of names, in reading order. */
  const renderedUses: RenderedChapter["uses"][] = [];
  const bodies = new Map<string, string>();
  for (const p of prepared.values()) {
    const key = await cache.key(p, ctx, root);
    used.add(key);
    let entry = await cache.get(key);
    if (entry) highlighter.addClasses(entry.classes);
    else {
      await highlighter.ready();
      const own = new Map<string, Map<string, string>>();
      // Rendering rewrites the tree: it gets a fresh one.
      const fresh = cache.forRendering(p, xref);
      const { html, problems: found } = await renderChapter(fresh, { ...ctx, uses: own });
      problems.push(...found);
      entry = {
        html,
        uses: [...own].map(([name, blocks]) => [name, [...blocks]]),
        classes: highlighter.classesIn(html),
      };
      if (found.length === 0) cache.put(key, entry);
      rendered++;
    }
    bodies.set(p.chapter.name, entry.html);
    renderedUses.push(entry.uses);
    for (const [name, blocks] of entry.uses) {
      if (!uses.has(name)) uses.set(name, new Map());
      for (const [href, title] of blocks) uses.get(name)!.set(href, title);
    }
  }
  problems.push(...await drawing);
  if (problems.length > 0) return done(problems);
  for (const [name, html] of bodies) bodies.set(name, figures.fill(html));
  // The render cache's files, and the highlight cache's (which forgets unused blocks only when
  // every chapter was highlighted), once the pages are written (with `defer`: once shown).
  const everyChapter = rendered === prepared.size;
  finish = async () => {
    await cache.flush();
    await highlighter.save(everyChapter);
    await cache.prune(used);
  };

  // Long chapters on several pages (tools/site/pages.ts).
  const relocations = new Relocations();
  const partsOf = new Map<string, ChapterPart[]>();
  /** Each page's body: its part of the chapter, links to the chapter's other parts made so. */
  const bodyOf = new Map<ChapterPart, string>();
  for (const p of prepared.values()) {
    const page = pageOf(p.chapter);
    const body = bodies.get(p.chapter.name)!;
    const { parts, error, texts } = cache.memo(
      `split ${p.chapter.name}`,
      [page, body, p.pageStarts.join(" ")],
      () => {
        const split = splitBody(page, body, p.pageStarts);
        const { parts } = split;
        const texts = parts.map((part) =>
          parts.length > 1 ? linkAcrossParts(part, parts) : part.html
        );
        return { ...split, texts };
      },
    );
    if (error) problems.push({ path: p.chapter.path, line: 1, column: 1, message: error });
    partsOf.set(p.chapter.name, parts);
    parts.forEach((part, k) => bodyOf.set(part, texts[k]));
    relocations.add(parts);
  }
  if (problems.length > 0) return done(problems);

  // Lay out pages.
  const layouts = options.layouts ?? await loadLayouts(root);
  const { ChapterPage, IdentifierIndexPage, IdentifiersPage, IndexPage, SourcePage } = layouts;
  const links: ChapterLink[] = spec.chapters.map((c) => ({
    number: String(Number(c.name.slice(0, 2))),
    title: c.title,
    href: pageOf(c),
    summary: brief(prepared.get(c.name)!.summary),
  }));
  const site: SiteInfo = { title: SITE_TITLE, chapters: links };
  // In the pages' keys, the site (every chapter's title and summary) and the relocations (every
  // anchor of a split chapter's later pages) are numbers: the same while their texts are.
  const siteId = cache.id(JSON.stringify(site));
  const files = new Map<string, string>();
  files.set(
    "index.html",
    cache.page(
      layouts,
      ["layout", "index.html", siteId],
      () => DOCTYPE + renderToString(IndexPage({ site, intro: SITE_LEDE })),
    ),
  );
  // The identifier index follows from the definitions and the uses (each chapter's, as text).
  const definitionsText = JSON.stringify(
    [...definitions.values()].map((d) => [d.name, d.kind, d.href, d.chapter]),
  );
  const usesText = renderedUses.map(usesJson).join("\n");
  const { entries, entriesJson, byRange } = cache.memo(
    "identifiers",
    [usesText, definitionsText],
    () => {
      const entries = identifierEntries(definitions, uses);
      // The entries (about a megabyte as JSON) are the pages' large input: compared as text, not
      // copied into the keys (tools/site/render_cache.ts `page`).
      const byRange = identifierPages(entries).map((p) => ({
        ...p,
        json: JSON.stringify(p.entries),
      }));
      return { entries, entriesJson: JSON.stringify(entries), byRange };
    },
  );
  const ranges = IDENTIFIER_RANGES;
  /** Pages whose links to moved anchors are rewritten already. */
  const rewritten = new Set<string>(["identifiers.html", ...ranges.map((r) => r.href)]);
  const signature = cache.id(relocations.signature);
  files.set(
    "identifiers.html",
    cache.page(
      layouts,
      ["identifiers.html", siteId, signature],
      () =>
        relocations.rewrite(
          DOCTYPE + renderToString(IdentifierIndexPage({ site, entries, ranges })),
        ),
      entriesJson,
    ),
  );
  for (const { range, entries: some, json } of byRange) {
    files.set(
      range.href,
      cache.page(
        layouts,
        [range.href, siteId, signature],
        () =>
          relocations.rewrite(
            DOCTYPE + renderToString(IdentifiersPage({ site, entries: some, ranges, range })),
          ),
        json,
      ),
    );
  }
  // Reading order over every page: a split chapter's pages follow each other.
  const sequence = spec.chapters.flatMap((c, k) =>
    partsOf.get(c.name)!.map((part, n) => ({ chapter: c, link: links[k], part, n }))
  );
  sequence.forEach(({ chapter: c, link, part, n }, k) => {
    const parts = partsOf.get(c.name)!;
    const pageLink = (j: number): ChapterLink | undefined => {
      const s = sequence[j];
      if (!s) return undefined;
      return s.n === 0
        ? s.link
        : { ...s.link, title: `${s.link.title} (continued)`, href: s.part.href };
    };
    // The sidebar lists every section of the chapter; those on another of its pages link there.
    const toc = prepared.get(c.name)!.toc.map((t) => {
      const on = parts.find((q) => q.ids.has(t.id))!;
      return on === part ? t : { ...t, href: `${on.href}#${t.id}` };
    });
    const body = bodyOf.get(part)!;
    const props = {
      site,
      chapter: link,
      toc,
      prev: pageLink(k - 1),
      next: pageLink(k + 1),
      continues: n > 0 ? link : undefined,
      moved: n === 0 ? relocations.movedFrom(part.href) : undefined,
    };
    // Laid out again only when the page's inputs changed; links to moved anchors rewritten once.
    const inputs = [part.href, { ...props, site: siteId }, signature];
    files.set(
      part.href,
      cache.page(
        layouts,
        inputs,
        () => relocations.rewrite(DOCTYPE + renderToString(ChapterPage({ ...props, body }))),
        body,
      ),
    );
    rewritten.add(part.href);
    if (n > 0) return;
    files.set(
      `source/${c.name}.md.html`,
      cache.page(layouts, [c.path, siteId], () => {
        const source = SourcePage({ site, path: c.path, lines: c.text.split("\n") });
        return DOCTYPE + renderToString(source);
      }, c.text),
    );
  });
  // The divergence ledger, laid out like a chapter (tools/site/ledger.ts).
  // A chapter's part is reused while its text, title, page and block anchors are the same.
  const ledger = collectLedger(spec.chapters, xref, (c) => {
    const part = cache.memo(
      `ledger ${c.path}`,
      [c.slug, c.title, c.text, ledgerAnchors(c, xref)],
      () => chapterLedger(c, xref),
    );
    // (entries name the chapter they come from: this build's)
    const here = (e: LedgerEntry) => e.chapter === c ? e : { ...e, chapter: c };
    return { ...part, code: part.code.map(here), prose: part.prose.map(here) };
  });
  if (ledger.problems.length > 0) return done(ledger.problems);
  const { html, toc } = ledgerBody(ledger.entries);
  const ledgerLink = { number: "", title: "Divergences", href: LEDGER_PAGE, summary: "" };
  files.set(
    LEDGER_PAGE,
    cache.page(
      layouts,
      [LEDGER_PAGE, siteId, toc],
      () => DOCTYPE + renderToString(ChapterPage({ site, chapter: ledgerLink, toc, body: html })),
      html,
    ),
  );
  for (const [path, text] of await siteAssets(root)) files.set(path, text);
  const pageOfPrepared = (p: PreparedChapter) => pageOf(p.chapter);
  const bundles = memo && (() => memo.get("bundles", () => bundlePanels(root)));
  for (const [path, text] of await panelFiles(prepared.values(), root, pageOfPrepared, bundles)) {
    files.set(path, text);
  }
  files.set("style.css", (files.get("style.css") ?? "") + highlighter.css());
  const titles = spec.chapters.map((c) => c.title);
  files.set(
    "refs.json",
    cache.memo(
      "refs.json",
      [usesText, JSON.stringify(titles)],
      () => JSON.stringify(referencesOf(uses, titles)),
    ),
  );

  // Links written as `chapter.html#id` go to the page of a split chapter that holds #id.
  // (Scripts, stylesheets and the Markdown source pages hold no links to chapter pages.)
  for (const [path, text] of files) {
    if (rewritten.has(path) || /\.(js|css)$|^source\//.test(path)) continue;
    files.set(path, cache.page(layouts, [path, signature], () => relocations.rewrite(text), text));
  }

  // Write (only what changed, when the caller keeps what it wrote), then index for search.
  changes = await writeSite(outDir, files, options.written);
  if (!options.written) changes = undefined;
  const search = options.search ?? true;
  if (search === false) return done([], [...files.keys()]);
  const background = search === "background";
  const indexing = () => {
    const searchDefinitions = xref.definitions.map((d) => ({
      ...d,
      href: relocations.href(d.href),
    }));
    return searchIndex(root, outDir, files, searchDefinitions, { background });
  };
  if (background) return done([], [...files.keys()], indexing);
  await indexing();
  return done([], [...files.keys()]);
}
