/**
 * Rendered chapters kept between builds, so a build re-renders only the chapters whose text — or
 * whose referenced definitions, anchors, fragments or figures — changed: a prose edit re-renders
 * one chapter, and a warm `deno task build` with nothing changed renders none (and never loads
 * shiki). Entries live in memory for a running `deno task serve` and under `.cache/site/` on disk.
 *
 * An entry's key hashes everything {@link renderChapter} reads: the chapter's text; the cross-
 * reference records of its blocks and of the fragments its `<<refs>>` name; every definition, anchor
 * and figure whose name occurs in its text (a link, a check id or a use must spell the name out);
 * the pages of all chapters; the model and panels when the chapter places a panel; and the source
 * of the renderer itself.
 *
 * @module
 */
import { HashStore, sha256 } from "../literate/hash_store.ts";
import type { Chapter } from "../literate/spec.ts";
import { prepareChapter, type PreparedChapter, type RenderContext } from "./render.ts";
import type { XrefIndex } from "./xref.ts";
import { bundleInputHash } from "./bundle.ts";
import { isPanelBlock } from "./panels.ts";
import { pageOf } from "./xref.ts";

/** A rendered chapter: its body (figures not yet filled), the uses of names it found, and the
 * highlighting classes it uses (name, light, dark). */
export interface RenderedChapter {
  html: string;
  uses: [string, [string, string][]][];
  classes: [string, { light: string; dark: string }][];
}

/** What a new process needs of a prepared chapter whose text it has seen before. */
interface Facts {
  toc: PreparedChapter["toc"];
  anchors: string[];
  summary: string;
  pageStarts: string[];
  problems: PreparedChapter["problems"];
  words: string[];
}

/** The renderer's own files: a change to any of them makes every key new. */
const RENDERER = [
  "render.ts",
  "highlight.ts",
  "sections.ts",
  "figures.ts",
  "panels.ts",
  "xref.ts",
  "../literate/spec.ts",
];

/** What separates the words a link, a check id or a name in code can be made of. */
const NOT_WORD = /[^\w$-]+/;

/** The cache of rendered chapters: in memory, and on disk when given a directory. */
export class RenderCache {
  #memory = new Map<string, RenderedChapter>();
  #dir: string | null;
  #store: HashStore | null;
  #renderer: Promise<string> | null = null;
  #panels: Promise<string> | null = null;

  constructor(dir?: string) {
    this.#dir = dir ?? null;
    this.#store = dir ? new HashStore(dir) : null;
  }

  /** The key of a prepared chapter in a build's context. */
  async key(p: PreparedChapter, ctx: RenderContext, root: string): Promise<string> {
    const { chapter } = p;
    // Only the words that name something can add to the key: one look-up each picks them out.
    const names = namesOf(ctx);
    const words = this.#words(chapter.text).filter((w) => names.has(w));
    const definitions = words.flatMap((w) => {
      const d = ctx.definitions.get(w);
      return d ? [[d.name, d.kind, d.href, d.anchor, d.chapter]] : [];
    });
    const index = anchorIndex(ctx);
    const anchors = words.flatMap((w) => {
      const on = index.get(w) ?? [];
      const fragment = ctx.xref.anchors.get(w)?.name;
      const figure = ctx.figures?.label(w);
      return on.length || fragment || figure ? [[w, on, fragment, figure]] : [];
    });
    const refsOf = refsByBlock(ctx);
    const blocks = chapter.blocks.map((b) => {
      const x = ctx.xref.blocks.get(b);
      const refs = refsOf.get(b.index) ?? [];
      const figure = ctx.figures?.of(b);
      return [x ?? null, refs, figure ? [figure.id, figure.number, figure.caption] : null];
    });
    const panels = chapter.blocks.some((b) => isPanelBlock(b.lang))
      ? await (this.#panels ??= this.#bundleHash?.() ?? bundleInputHash(root))
      : "";
    // The renderer's sources, the parser's, and the lock (shiki, remark, rehype versions).
    const inputs = JSON.stringify([
      await this.#rendererHash(root),
      chapter.path,
      pageOf(chapter),
      await this.#textHash(chapter.text),
      ctx.editHref(chapter.path, 1),
      [...ctx.chapters.values()].map((q) => [q.chapter.name, pageOf(q.chapter)]),
      definitions,
      anchors,
      blocks,
      panels,
    ]);
    // The same inputs as the last build's for this chapter: the same key, without hashing again.
    const last = this.#lastKeys.get(chapter.path);
    if (last?.inputs === inputs) return last.key;
    const key = await sha256(inputs);
    this.#lastKeys.set(chapter.path, { inputs, key });
    return key;
  }

  /** Each chapter's last key and the text it hashes, by path. */
  #lastKeys = new Map<string, { inputs: string; key: string }>();

  /** The renderer's sources, the parser's, and the lock (shiki, remark, rehype versions). */
  #rendererHash(root: string): Promise<string> {
    this.#renderer ??= Promise.all([
      ...RENDERER.map((f) => Deno.readTextFile(new URL(`./${f}`, import.meta.url))),
      Deno.readTextFile(`${root}/deno.lock`).catch(() => ""),
    ]).then((texts) => sha256(texts.join("\0")));
    return this.#renderer;
  }

  /** The hash of each chapter text seen (kept by text, like the words). */
  #hashes = new Map<string, string>();
  async #textHash(text: string): Promise<string> {
    let hash = this.#hashes.get(text);
    if (hash === undefined) this.#hashes.set(text, hash = await sha256(text));
    return hash;
  }

  /** Each word of a text once: `a-check-id` and its pieces `a`, `check`, `id` (kept by text). */
  #wordsOf = new Map<string, string[]>();
  #words(text: string): string[] {
    let words = this.#wordsOf.get(text);
    if (!words) {
      // (split, not matchAll: a third of the time over the whole spec)
      const set = new Set(text.split(NOT_WORD));
      for (const w of [...set]) if (w.includes("-")) { for (const x of w.split("-")) set.add(x); }
      set.delete("");
      words = [...set];
      this.#wordsOf.set(text, words);
    }
    this.#texts.add(text);
    return words;
  }
  /** The texts of this build's chapters (the memos keep only these). */
  #texts = new Set<string>();

  /** Prepared chapters by text and block anchors: the tree is prepared once per change. */
  #prepared = new Map<string, PreparedChapter>();

  /**
   * {@link prepareChapter}, or an earlier build's result for the same text and block anchors (with
   * this build's chapter), from memory or from disk (its anchors, contents and summary, and the
   * chapter's words, without the tree: a new process then prepares no unchanged chapter). Its
   * tree is for reading: {@link renderChapter} needs a fresh one ({@link forRendering}).
   */
  async prepare(chapter: Chapter, xref: XrefIndex, root: string): Promise<PreparedChapter> {
    const anchors = chapter.blocks.map((b) => xref.blocks.get(b)?.anchor ?? "").join(" ");
    const key = `${chapter.path} ${anchors}\u0000${chapter.text}`;
    this.#texts.add(chapter.text);
    const known = this.#prepared.get(key);
    if (known) return { ...known, chapter };
    const factsKey = this.#dir
      ? `f-${
        (await sha256(
          `${await this.#rendererHash(root)} ${chapter.path} ${anchors} ${await this.#textHash(
            chapter.text,
          )}`,
        )).slice(0, 32)
      }`
      : null;
    if (factsKey) this.#used.add(factsKey);
    const saved = factsKey ? await this.#store!.get(factsKey) : null;
    if (saved) {
      const f = JSON.parse(saved) as Facts;
      const p: PreparedChapter = {
        chapter,
        tree: chapter.tree,
        toc: f.toc,
        anchors: new Set(f.anchors),
        summary: f.summary,
        pageStarts: f.pageStarts,
        problems: f.problems,
      };
      this.#wordsOf.set(chapter.text, f.words);
      this.#prepared.set(key, p);
      return p;
    }
    const p = prepareChapter(chapter, xref);
    this.#prepared.set(key, p);
    this.#pristine.add(p);
    if (factsKey) {
      const facts: Facts = {
        toc: p.toc,
        anchors: [...p.anchors],
        summary: p.summary,
        pageStarts: p.pageStarts,
        problems: p.problems,
        words: this.#words(chapter.text),
      };
      this.#unsavedFacts.set(factsKey, facts);
    }
    return p;
  }

  /** Keys of disk entries this build used (chapters and facts). */
  #used = new Set<string>();

  #pristine = new WeakSet<PreparedChapter>();

  /** A prepared chapter to render: `p` itself the first time, else a fresh preparation. */
  forRendering(p: PreparedChapter, xref: XrefIndex): PreparedChapter {
    if (!this.#pristine.has(p)) return prepareChapter(p.chapter, xref);
    this.#pristine.delete(p);
    return p;
  }

  /** A chapter rendered under `key` before, or null. */
  async get(key: string): Promise<RenderedChapter | null> {
    const known = this.#memory.get(key);
    if (known) return known;
    const text = await this.#store?.get(key);
    if (!text) return null;
    const entry = JSON.parse(text) as RenderedChapter;
    this.#memory.set(key, entry);
    return entry;
  }

  /** Keeps a rendered chapter (on disk by {@link flush}). */
  put(key: string, entry: RenderedChapter): void {
    this.#memory.set(key, entry);
    if (this.#store) this.#unsaved.set(key, entry);
  }

  /** Rendered chapters kept in memory and not yet on disk. */
  #unsaved = new Map<string, RenderedChapter>();

  /** Facts of chapters prepared and not yet on disk. */
  #unsavedFacts = new Map<string, Facts>();

  /** Writes the chapters {@link put} and the facts prepared since the last flush to disk. */
  async flush(): Promise<void> {
    for (const [key, entry] of this.#unsaved) {
      this.#unsaved.delete(key);
      await this.#store?.put(key, JSON.stringify(entry));
    }
    for (const [key, facts] of this.#unsavedFacts) {
      this.#unsavedFacts.delete(key);
      await this.#store?.put(key, JSON.stringify(facts));
    }
  }

  /** Values made by {@link memo}, by name, with the texts they were made from. */
  #memos = new Map<string, { inputs: string[]; value: unknown }>();
  #memosUsed = new Set<string>();

  /**
   * `make()`, or what it returned in an earlier build for the same `name` and the same input texts
   * (compared by content: the same text object compares at once). `make` must read nothing but
   * what `inputs` spell out.
   */
  memo<T>(name: string, inputs: string[], make: () => T): T {
    this.#memosUsed.add(name);
    const known = this.#memos.get(name);
    if (
      known && known.inputs.length === inputs.length &&
      known.inputs.every((text, k) => text === inputs[k])
    ) return known.value as T;
    const value = make();
    this.#memos.set(name, { inputs, value });
    return value;
  }

  /** A number per distinct text, never reused for another: a short stand-in in keys. */
  #ids = new Map<string, number>();
  #nextId = 0;
  #idsUsed = new Set<string>();

  /** The number of `text` (the same while this cache has seen the text in every build since). */
  id(text: string): number {
    this.#idsUsed.add(text);
    let id = this.#ids.get(text);
    if (id === undefined) this.#ids.set(text, id = this.#nextId++);
    return id;
  }

  /** Forgets the entries not used by this build (memory and disk). */
  async prune(used: Set<string>): Promise<void> {
    for (const key of [...this.#memory.keys()]) if (!used.has(key)) this.#memory.delete(key);
    for (const name of [...this.#memos.keys()]) {
      if (!this.#memosUsed.has(name)) this.#memos.delete(name);
    }
    for (const text of [...this.#ids.keys()]) if (!this.#idsUsed.has(text)) this.#ids.delete(text);
    for (const key of [...this.#pages?.byInputs.keys() ?? []]) {
      if (!this.#pagesUsed.has(key)) this.#pages!.byInputs.delete(key);
    }
    for (const text of [...this.#wordsOf.keys()]) {
      if (!this.#texts.has(text)) this.#wordsOf.delete(text);
    }
    for (const text of [...this.#hashes.keys()]) {
      if (!this.#texts.has(text)) this.#hashes.delete(text);
    }
    for (const key of [...this.#prepared.keys()]) {
      if (!this.#texts.has(key.slice(key.indexOf("\u0000") + 1))) this.#prepared.delete(key);
    }
    if (!this.#dir) return;
    // Not HashStore.prune: an entry found in memory was used too.
    try {
      for await (const e of Deno.readDir(this.#dir)) {
        const key = e.name.slice(0, -5);
        if (e.name.endsWith(".json") && !used.has(key) && !this.#used.has(key)) {
          await Deno.remove(`${this.#dir}/${e.name}`).catch(() => {});
        }
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  /** Pages laid out by earlier builds with the current layouts, by their inputs. */
  #pages: { layouts: object; byInputs: Map<string, { text: string; page: string }> } | null = null;
  #pagesUsed = new Set<string>();

  /**
   * A page laid out by `make`, or the same page of an earlier build with the same layouts and
   * inputs: the same text object, so writing it out compares nothing.
   */
  page(layouts: object, inputs: unknown, make: () => string, text = ""): string {
    if (this.#pages?.layouts !== layouts) this.#pages = { layouts, byInputs: new Map() };
    // `text`, a page's large input (a body, a chapter's Markdown), is compared, not copied into
    // the key: the same text object compares at once.
    const key = JSON.stringify(inputs);
    this.#pagesUsed.add(key);
    const known = this.#pages.byInputs.get(key);
    if (known && known.text === text) return known.page;
    const page = make();
    this.#pages.byInputs.set(key, { text, page });
    return page;
  }

  #bundleHash: (() => Promise<string>) | undefined;

  /**
   * Starts a build: the model may have changed, and only this build's entries count as used.
   * `bundleHash`: the panels' input hash, when the caller keeps it (tools/site/model_memo.ts).
   */
  begin(bundleHash?: () => Promise<string>): void {
    this.#panels = null;
    this.#bundleHash = bundleHash;
    this.#texts.clear();
    this.#pagesUsed.clear();
    this.#memosUsed.clear();
    this.#idsUsed.clear();
    this.#used.clear();
    if (this.#store) this.#store = new HashStore(this.#store.dir);
  }
}

const nameSets = new WeakMap<RenderContext, Set<string>>();

/** Every name a key looks up: definitions, anchors of chapters and fragments, figures. */
function namesOf(ctx: RenderContext): Set<string> {
  let names = nameSets.get(ctx);
  if (!names) {
    names = new Set([
      ...ctx.definitions.keys(),
      ...anchorIndex(ctx).keys(),
      ...ctx.xref.anchors.keys(),
      ...ctx.figures?.byId.keys() ?? [],
    ]);
    nameSets.set(ctx, names);
  }
  return names;
}

const refIndexes = new WeakMap<RenderContext, Map<number, [number, unknown][]>>();

/** Each block's `<<ref>>` lines (index in the block, link), by block index (once a build). */
function refsByBlock(ctx: RenderContext): Map<number, [number, unknown][]> {
  let index = refIndexes.get(ctx);
  if (!index) {
    const all: [number, number, unknown][] = [];
    for (const [key, r] of ctx.xref.refs) {
      const colon = key.indexOf(":");
      all.push([Number(key.slice(0, colon)), Number(key.slice(colon + 1)), r]);
    }
    // (in line order, as a scan of the block's lines finds them)
    all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    index = new Map();
    for (const [block, line, r] of all) {
      if (!index.has(block)) index.set(block, []);
      index.get(block)!.push([line, r]);
    }
    refIndexes.set(ctx, index);
  }
  return index;
}

const indexes = new WeakMap<RenderContext, Map<string, string[]>>();

/** Every anchor of every chapter → the chapters that have it, in reading order (once a build). */
function anchorIndex(ctx: RenderContext): Map<string, string[]> {
  let index = indexes.get(ctx);
  if (!index) {
    index = new Map();
    for (const q of ctx.chapters.values()) {
      for (const a of q.anchors) {
        if (!index.has(a)) index.set(a, []);
        index.get(a)!.push(q.chapter.name);
      }
    }
    indexes.set(ctx, index);
  }
  return index;
}
