/**
 * Long chapters on more than one page. A chapter marks a seam by giving a level-2 heading the class
 * `page` — `## Paging domains {#domains .page}` — and the rendered chapter is cut there: the first
 * page keeps the chapter's name (`vtd-driver.html`), each later one is named after its heading
 * (`vtd-driver-domains.html`). The chapter stays one file, one number and one section numbering;
 * only its HTML is in pieces, so that no page outgrows {@link PAGE_BUDGET}.
 *
 * Every anchor keeps working: links the build wrote as `vtd-driver.html#x` (from any page, the
 * references data and the panels) are rewritten to the page that now holds `#x`, a part's `#x`
 * links to another part get that part's page, and the first page lists the anchors that moved so
 * that the pages' script forwards an old link from outside (`vtd-driver.html#domain-mapping`).
 *
 * @module
 */

/** No built HTML page may be larger than this many bytes (issue 13: "no page over 400 KB"). */
export const PAGE_BUDGET = 400_000;

/** One page of a chapter. */
export interface ChapterPart {
  /** The page file, e.g. `vtd-driver-domains.html`. */
  href: string;
  /** The id of the heading the page starts at; absent on the first page. */
  start?: string;
  html: string;
  /** Every id on the page. */
  ids: Set<string>;
}

const ID = /\sid="([^"]+)"/g;

/** The name of the page that starts at heading `id` of the chapter whose first page is `page`. */
export function partPage(page: string, id: string): string {
  return `${page.replace(/\.html$/, "")}-${id}.html`;
}

/**
 * Cuts a chapter's body at the `<h2>` of each id in `starts` (in reading order). An id that is
 * not a level-2 heading of the body is an error.
 */
export function splitBody(
  page: string,
  html: string,
  starts: string[],
): { parts: ChapterPart[]; error?: string } {
  const cuts: { at: number; id?: string }[] = [{ at: 0 }];
  for (const id of starts) {
    const at = html.indexOf(`<h2 id="${id}"`);
    if (at < 0) return { parts: [], error: `a page starts at #${id}, which is no level-2 heading` };
    if (at <= cuts.at(-1)!.at) return { parts: [], error: `page #${id} is out of order` };
    cuts.push({ at, id });
  }
  const parts = cuts.map((c, k) => {
    const text = html.slice(c.at, cuts[k + 1]?.at ?? html.length);
    return {
      href: c.id ? partPage(page, c.id) : page,
      start: c.id,
      html: text,
      ids: new Set([...text.matchAll(ID)].map((m) => m[1])),
    };
  });
  return { parts };
}

function decode(id: string): string {
  try {
    return decodeURIComponent(id);
  } catch {
    return id;
  }
}

/** Where the anchors of split chapters went, and the rewriting that follows from it. */
export class Relocations {
  /** First page → anchor → the page that holds it now (only anchors that left the first page). */
  #moved = new Map<string, Map<string, string>>();

  /** Records a split chapter's parts (the first is the chapter's own page). */
  add(parts: ChapterPart[]): void {
    if (parts.length < 2) return;
    const moved = new Map<string, string>();
    for (const part of parts.slice(1)) for (const id of part.ids) moved.set(id, part.href);
    this.#moved.set(parts[0].href, moved);
  }

  /** Everything the rewriting depends on, as text (for keys of cached pages). */
  get signature(): string {
    return JSON.stringify([...this.#moved].map(([page, m]) => [page, [...m]]));
  }

  /** The anchors that left `page`, by the page that holds them now (for the forwarding script). */
  movedFrom(page: string): Record<string, string[]> | undefined {
    const moved = this.#moved.get(page);
    if (!moved) return undefined;
    const out: Record<string, string[]> = {};
    for (const [id, to] of moved) (out[to] ??= []).push(id);
    return out;
  }

  /** `page#id` with the page that holds `id` now. */
  href(href: string): string {
    return this.rewrite(href);
  }

  /**
   * Rewrites every `page#id` in a text (HTML, JSON or script) whose anchor moved. A scan with
   * `indexOf` per split page: the whole site is megabytes, and a regular expression with a
   * look-behind took a tenth of a warm build.
   */
  rewrite(text: string): string {
    for (const [page, moved] of this.#moved) {
      const needle = `${page}#`;
      let at = text.indexOf(needle);
      if (at < 0) continue;
      let out = "";
      let from = 0;
      while (at >= 0) {
        const before = at > 0 ? text[at - 1] : "";
        const start = at + needle.length;
        let end = start;
        while (end < text.length && !STOP.has(text[end])) end++;
        const to = /[\w./-]/.test(before) ? undefined : moved.get(decode(text.slice(start, end)));
        if (to) {
          out += text.slice(from, at) + to;
          from = at + page.length;
        }
        at = text.indexOf(needle, end);
      }
      text = out + text.slice(from);
    }
    return text;
  }
}

/** Characters that end an anchor in HTML, JSON or script text. */
const STOP = new Set(['"', "'", " ", "\n", "\t", "<", ">", "&", "\\", ")", "]"]);

/** A part's `href="#id"` links to ids on another part of the same chapter, made cross-page. */
export function linkAcrossParts(part: ChapterPart, parts: ChapterPart[]): string {
  const where = new Map<string, string>();
  for (const p of parts) if (p !== part) { for (const id of p.ids) where.set(id, p.href); }
  return part.html.replace(/ href="#([^"]+)"/g, (whole, id: string) => {
    if (part.ids.has(decode(id))) return whole;
    const to = where.get(decode(id));
    return to ? ` href="${to}#${id}"` : whole;
  });
}
