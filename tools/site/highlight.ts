/**
 * Syntax highlighting with shiki, light and dark themes at once (the page switches with
 * `prefers-color-scheme`). Only the languages the spec uses are loaded. shiki's default Oniguruma
 * (WebAssembly) engine highlights this spec's TypeScript about 1.7 times as fast as its JavaScript
 * regex engine (1.5 s against 2.6 s for 300 blocks, measured here), but highlighting is still most
 * of a build. Results are cached by language and text, in memory and, when the highlighter is given
 * a cache directory, on disk (`.cache/highlight/`, one file per `deno.lock`, so a new shiki makes a
 * new file): a rebuild highlights only the blocks that changed, in `deno task serve` or not.
 *
 * Colours are classes, not inline styles: each token colour pair (light, dark) becomes one short
 * class, {@link CodeHighlighter.css} writes their rules, and tokens in the text colour lose their
 * span altogether — a chapter's HTML shrinks by about a third.
 *
 * @module
 */
import type { Element, ElementContent, Root } from "hast";
import type { Highlighter } from "shiki";
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

/**
 * shiki with the themes and languages, loaded once per process and shared by every
 * {@link CodeHighlighter}: a new one (a new project root, a new build) keeps its own cache, but
 * does not load the grammars and compile their expressions again. Imported here: a build that
 * renders nothing does not even load shiki's modules.
 */
function loadShiki(): Promise<Highlighter> {
  return shared ??= import("shiki").then(({ createHighlighter }) =>
    createHighlighter({ themes: Object.values(THEMES), langs: [...LANGS] })
  );
}
let shared: Promise<Highlighter> | undefined;

/** A highlighter with a cache; create one per process and reuse it across builds. */
export class CodeHighlighter {
  #shiki: Highlighter | null = null;
  #loading: Promise<void> | null = null;
  /** Language and text → the classified `<pre>` (classes, not styles). */
  #cache = new Map<string, Element>();
  /** Keys highlighted or reused since the last {@link save}. */
  #used = new Set<string>();
  #file: string | null;
  #root: string | undefined;
  #dirty = false;
  /** Class name → CSS declarations for light and dark, for every class handed out. */
  #classes = new Map<string, { light: string; dark: string }>();

  private constructor(root: string | undefined) {
    this.#root = root;
    this.#file = null;
  }

  /**
   * A highlighter; given the project `root`, it also reuses the blocks highlighted by earlier
   * builds there with the same `deno.lock`. Nothing is loaded until {@link ready}: a build whose
   * chapters all come from the render cache never loads shiki.
   */
  static async create(root?: string): Promise<CodeHighlighter> {
    return await Promise.resolve(new CodeHighlighter(root));
  }

  /** Loads the themes, the grammars and the cache on disk (once); {@link highlight} needs it. */
  ready(): Promise<void> {
    this.#loading ??= (async () => {
      const shiki = await loadShiki();
      if (this.#root !== undefined) {
        const lock = await Deno.readTextFile(`${this.#root}/deno.lock`).catch(() => "");
        this.#file = `${this.#root}/${CACHE_DIR}/${(await sha256(lock)).slice(0, 16)}.json`;
        const saved = await Deno.readTextFile(this.#file).then(JSON.parse).catch(() => []);
        for (const [key, pre, classes] of saved as [string, Element, ClassList?][]) {
          // Entries of the older shape (shiki's styles) are highlighted again.
          if (classes) {
            this.#cache.set(key, pre);
            for (const [name, s] of classes) this.#classes.set(name, s);
          }
        }
      }
      this.#shiki = shiki;
    })();
    return this.#loading;
  }

  /**
   * The `<pre>` element for `code`; every source line is one `span.line` child of its `<code>`.
   * The returned tree is a fresh copy the caller may modify.
   */
  highlight(code: string, lang: string): Element {
    if (!this.#shiki) throw new Error("highlight: await ready() first");
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
      pre = this.#classify(root.children[0] as Element);
      this.#cache.set(key, pre);
      this.#dirty = true;
    }
    this.#used.add(key);
    return clone(pre);
  }

  /** The colour classes `html` uses, with their rules (kept with a rendered chapter). */
  classesIn(html: string): ClassList {
    const out: ClassList = [];
    for (const m of new Set(Array.from(html.matchAll(/ class="(t[0-9a-z]+)"/g), (m) => m[1]))) {
      const s = this.#classes.get(m);
      if (s) out.push([m, s]);
    }
    return out;
  }

  /** Classes a chapter from the render cache uses, so that {@link css} has their rules. */
  addClasses(classes: ClassList): void {
    for (const [name, s] of classes) this.#classes.set(name, s);
  }

  /**
   * Replaces shiki's inline `style` attributes with classes: the `<pre>` keeps only its classes
   * (the stylesheet gives it colours), a token in the default text colour becomes bare text, and
   * every other token gets the class of its colour pair.
   */
  #classify(pre: Element): Element {
    const base = parseStyle(String(pre.properties.style ?? ""));
    const text = { light: colorOf(base.light), dark: colorOf(base.dark) };
    pre.properties = { className: ["shiki"] };
    const visit = (node: Element) => {
      const out: ElementContent[] = [];
      for (const child of node.children) {
        if (child.type !== "element") {
          pushText(out, child);
          continue;
        }
        visit(child);
        const style = child.properties.style;
        if (child.tagName !== "span" || typeof style !== "string") {
          out.push(child);
          continue;
        }
        delete child.properties.style;
        const s = parseStyle(style);
        const plain = s.light === `color:${text.light}` && s.dark === `color:${text.dark}`;
        if (
          plain && child.properties.class === undefined && child.properties.className === undefined
        ) {
          for (const c of child.children) pushText(out, c);
          continue;
        }
        const name = classOf(s);
        const known = this.#classes.get(name);
        if (known && (known.light !== s.light || known.dark !== s.dark)) {
          throw new Error(`highlight: class ${name} names two styles`);
        }
        this.#classes.set(name, s);
        child.properties = { className: [name] };
        // A token of the same colour as the one before joins it: `export function` is one span.
        const last = out.at(-1);
        if (last?.type === "element" && last.tagName === "span" && sameClass(last, child)) {
          for (const c of child.children) pushText(last.children, c);
        } else out.push(child);
      }
      node.children = out;
    };
    visit(pre);
    return pre;
  }

  /**
   * The rules of every colour class handed out so far: light by default, dark under
   * `prefers-color-scheme: dark` (and light again in print).
   */
  css(): string {
    const rules = [...this.#classes].sort(([a], [b]) => a.localeCompare(b));
    const light = rules.map(([name, s]) => `.shiki .${name}{${s.light}}`).join("\n");
    const dark = rules.map(([name, s]) => `.shiki .${name}{${s.dark}}`).join("\n");
    return `/* Token colours (github-light, github-dark), written by tools/site/highlight.ts. */\n` +
      `${light}\n@media screen and (prefers-color-scheme: dark){\n${dark}\n}\n`;
  }

  /**
   * Writes the blocks used since the last save to the cache directory (dropping the rest) when
   * anything changed; other generations' files there are removed.
   */
  async save(prune = true): Promise<void> {
    if (!this.#file) return;
    const unused = prune ? [...this.#cache.keys()].filter((k) => !this.#used.has(k)) : [];
    if (this.#dirty || unused.length > 0) {
      for (const key of unused) this.#cache.delete(key);
      const dir = this.#file.slice(0, this.#file.lastIndexOf("/"));
      await Deno.mkdir(dir, { recursive: true });
      const tmp = await Deno.makeTempFile({ dir, suffix: ".tmp" });
      const entries = [...this.#cache].map(([key, pre]) => [key, pre, this.#classesOf(pre)]);
      await Deno.writeTextFile(tmp, JSON.stringify(entries));
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

  #classesOf(pre: Element): ClassList {
    const names = new Set<string>();
    const visit = (n: Element) => {
      for (const c of n.children) {
        if (c.type !== "element") continue;
        const cls = c.properties.className;
        if (Array.isArray(cls)) { for (const x of cls) names.add(String(x)); }
        visit(c);
      }
    };
    visit(pre);
    return [...names].flatMap((n) => {
      const s = this.#classes.get(n);
      return s ? [[n, s] as ClassList[number]] : [];
    });
  }

  /** Number of cached blocks (for the build's report). */
  get cached(): number {
    return this.#cache.size;
  }
}

/** Colour classes with their light and dark declarations. */
export type ClassList = [string, { light: string; dark: string }][];

/** A copy of a hast tree (elements, text and raw nodes), faster than structuredClone. */
function clone<T extends ElementContent | Element>(node: T): T {
  if (node.type === "element") {
    const props: Element["properties"] = {};
    for (const [k, v] of Object.entries(node.properties)) props[k] = Array.isArray(v) ? [...v] : v;
    return {
      type: "element",
      tagName: node.tagName,
      properties: props,
      children: node.children.map(clone),
    } as T;
  }
  return { ...node };
}

/** Light and dark declarations of a shiki style: `color:#D73A49;--shiki-dark:#F97583;…`. */
function parseStyle(style: string): { light: string; dark: string } {
  const light: string[] = [];
  const dark: string[] = [];
  for (const decl of style.split(";")) {
    const [prop, value] = decl.split(":").map((s) => s.trim());
    if (!prop || !value) continue;
    const m = /^--shiki-dark(-.*)?$/.exec(prop);
    if (m) {
      const p = m[1] ? m[1].slice(1).replace(/^bg$/, "background-color") : "color";
      dark.push(`${p}:${value.toLowerCase()}`);
    } else if (!prop.startsWith("--")) light.push(`${prop}:${value.toLowerCase()}`);
  }
  return { light: light.join(";"), dark: dark.join(";") };
}

/** A short class name for a style pair, the same in every build: `t` + a hash. */
function classOf(s: { light: string; dark: string }): string {
  let h = 0x811c9dc5;
  for (const ch of `${s.light}|${s.dark}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `t${(h % 46656).toString(36)}`;
}

/** The `color` value of declarations `a:b;color:c`. */
function colorOf(decls: string): string {
  return /(?:^|;)color:([^;]+)/.exec(decls)?.[1] ?? "";
}

function sameClass(a: Element, b: Element): boolean {
  return String(a.properties.className) === String(b.properties.className);
}

/** Appends a text node, merging it with a text node just before it. */
function pushText(out: ElementContent[], node: ElementContent): void {
  const last = out.at(-1);
  if (node.type === "text" && last?.type === "text") last.value += node.value;
  else out.push(node);
}
