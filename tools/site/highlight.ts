/**
 * Syntax highlighting with shiki, light and dark themes at once (the page switches with
 * `prefers-color-scheme`). Only the languages the spec uses are loaded. shiki's default Oniguruma
 * (WebAssembly) engine highlights this spec's TypeScript about 1.7 times as fast as its JavaScript
 * regex engine (1.5 s against 2.6 s for 300 blocks, measured here), but highlighting is still most
 * of a build. Results are cached by language and text, in memory and, when the highlighter is given
 * a cache directory, on disk (`.cache/highlight/`, one file per `deno.lock`, so a new shiki makes a
 * new file): a rebuild highlights only the blocks that changed, in `deno task serve` or not.
 *
 * @module
 */
import type { Element, Root } from "hast";
import { createHighlighter, type Highlighter } from "shiki";
import { sha256 } from "../literate/hash_store.ts";

/** Languages loaded; a block in any other language is shown as plain text. */
export const LANGS = ["ts", "tsx", "js", "json", "c", "sh", "diff"] as const;
const ALIASES: Record<string, string> = {
  typescript: "ts",
  javascript: "js",
  bash: "sh",
  shell: "sh",
};
const THEMES = { light: "github-light", dark: "github-dark" } as const;
const CACHE_DIR = ".cache/highlight";

/** A highlighter with a cache; create one per process and reuse it across builds. */
export class CodeHighlighter {
  #shiki: Highlighter;
  #cache: Map<string, Element>;
  /** Keys highlighted or reused since the last {@link save}. */
  #used = new Set<string>();
  #file: string | null;
  #dirty = false;

  private constructor(shiki: Highlighter, cache: Map<string, Element>, file: string | null) {
    this.#shiki = shiki;
    this.#cache = cache;
    this.#file = file;
  }

  /**
   * Loads the themes and grammars; given the project `root`, also the blocks highlighted by earlier
   * builds there with the same `deno.lock`.
   */
  static async create(root?: string): Promise<CodeHighlighter> {
    const shiki = await createHighlighter({
      themes: Object.values(THEMES),
      langs: [...LANGS],
    });
    let file: string | null = null;
    const cache = new Map<string, Element>();
    if (root !== undefined) {
      const lock = await Deno.readTextFile(`${root}/deno.lock`).catch(() => "");
      file = `${root}/${CACHE_DIR}/${(await sha256(lock)).slice(0, 16)}.json`;
      const saved = await Deno.readTextFile(file).then(JSON.parse).catch(() => []);
      for (const [key, pre] of saved as [string, Element][]) cache.set(key, pre);
    }
    return new CodeHighlighter(shiki, cache, file);
  }

  /**
   * The `<pre>` element for `code`; every source line is one `span.line` child of its `<code>`.
   * The returned tree is a fresh copy the caller may modify.
   */
  highlight(code: string, lang: string): Element {
    const language = ALIASES[lang] ?? lang;
    const key = `${language}\u0000${code}`;
    let pre = this.#cache.get(key);
    if (!pre) {
      const known = (LANGS as readonly string[]).includes(language);
      const root: Root = this.#shiki.codeToHast(code, {
        lang: known ? language : "text",
        themes: THEMES,
        defaultColor: "light",
      });
      pre = root.children[0] as Element;
      this.#cache.set(key, pre);
      this.#dirty = true;
    }
    this.#used.add(key);
    return structuredClone(pre);
  }

  /**
   * Writes the blocks used since the last save to the cache directory (dropping the rest) when
   * anything changed; other generations' files there are removed.
   */
  async save(): Promise<void> {
    if (!this.#file) return;
    const unused = [...this.#cache.keys()].filter((k) => !this.#used.has(k));
    if (this.#dirty || unused.length > 0) {
      for (const key of unused) this.#cache.delete(key);
      const dir = this.#file.slice(0, this.#file.lastIndexOf("/"));
      await Deno.mkdir(dir, { recursive: true });
      const tmp = await Deno.makeTempFile({ dir, suffix: ".tmp" });
      await Deno.writeTextFile(tmp, JSON.stringify([...this.#cache]));
      await Deno.rename(tmp, this.#file);
      for await (const e of Deno.readDir(dir)) {
        const other = `${dir}/${e.name}`;
        if (e.name.endsWith(".json") && other !== this.#file) {
          await Deno.remove(other).catch(() => {});
        }
      }
    }
    this.#used.clear();
    this.#dirty = false;
  }

  /** Number of cached blocks (for the build's report). */
  get cached(): number {
    return this.#cache.size;
  }
}
