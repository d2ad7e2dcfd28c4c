/**
 * Page layouts of the site, rendered to static HTML with preact-render-to-string.
 *
 * @module
 */
import type { ComponentChildren } from "preact";

/** A chapter as the navigation shows it. */
export interface ChapterLink {
  number: string;
  title: string;
  href: string;
  summary: string;
}

/** A heading in a chapter's table of contents. */
export interface TocItem {
  depth: number;
  id: string;
  text: string;
  /** Section number, e.g. `17.3.1`. */
  number: string;
  /** Where the section is when it is on another page of the chapter; default `#id`. */
  href?: string;
}

/** A row of the identifier index. */
export interface IdentifierEntry {
  name: string;
  kind: string;
  href: string;
  chapter: string;
  usedIn: { href: string; text: string; chapter: string }[];
  /** The page of the index that lists the blocks using it. */
  details: string;
}

/** Things every page knows. */
export interface SiteInfo {
  title: string;
  chapters: ChapterLink[];
}

function Shell(props: {
  site: SiteInfo;
  title: string;
  base: string;
  children: ComponentChildren;
}) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <title>{props.title}</title>
        <link rel="icon" href={`${props.base}favicon.svg`} type="image/svg+xml" />
        <link rel="stylesheet" href={`${props.base}style.css`} />
        {/* Apart, so that a window crossing one of its widths restyles only what it names. */}
        <link rel="stylesheet" href={`${props.base}narrow.css`} />
        <link rel="stylesheet" href={`${props.base}pagefind/pagefind-ui.css`} />
        <script src={`${props.base}pagefind/pagefind-ui.js`} defer />
        <script src={`${props.base}client.js`} defer />
      </head>
      <body>
        <a class="skip-link" href="#_text">Skip to the text</a>
        <header class="site-header">
          <a href={`${props.base}index.html`} class="site-title">{props.site.title}</a>
          <div id="search" class="site-search" />
          <script
            dangerouslySetInnerHTML={{
              // The index holds site-absolute URLs; baseUrl keeps them right under a subpath.
              __html: `addEventListener("DOMContentLoaded", () => { if (window.PagefindUI) ` +
                `new PagefindUI({ element: "#search", showSubResults: true, showImages: false, ` +
                `translations: { placeholder: "Search (press /)" }, ` +
                // A match of a definition's name (a meta field of its record) counts most.
                `ranking: { metaWeights: { definition: 20, title: 5 } }, ` +
                `baseUrl: new URL(${
                  JSON.stringify(props.base || "./")
                }, location.href).pathname }); });`,
            }}
          />
        </header>
        {props.children}
      </body>
    </html>
  );
}

/** The front page: the list of chapters. */
export function IndexPage(props: { site: SiteInfo; intro: string }) {
  return (
    <Shell site={props.site} title={props.site.title} base="">
      <main class="index" id="_text">
        <h1>{props.site.title}</h1>
        <p class="lede">{props.intro}</p>
        <p>
          <a href="identifiers.html">Identifier index</a>: every name the model exports, where it is
          defined and where it is used.
        </p>
        <p>
          <a href="divergences.html">Divergences from Linux v6.12</a>: every place the model departs
          from the kernel, collected from the chapters.
        </p>
        <ol class="chapters">
          {props.site.chapters.map((c) => (
            <li>
              <a href={c.href}>
                <span class="number">{c.number}</span> {c.title}
              </a>
              <p>{c.summary}</p>
            </li>
          ))}
        </ol>
      </main>
    </Shell>
  );
}

/**
 * The sidebar: every chapter of the book, the current one open with its numbered sections (the
 * page's script marks the section in view). On a phone it starts closed.
 */
function Sidebar(props: { site: SiteInfo; chapter: ChapterLink; toc: TocItem[] }) {
  return (
    <details class="toc" open>
      <summary>Contents</summary>
      <nav aria-label="Contents">
        <ol class="book">
          {props.site.chapters.map((c) => (
            <li class={c.href === props.chapter.href ? "current" : undefined}>
              <a
                href={c.href}
                aria-current={c.href === props.chapter.href ? "page" : undefined}
              >
                <span class="number">{c.number}</span> {c.title}
              </a>
              {c.href === props.chapter.href && (
                <ol class="sections">
                  {props.toc.map((t) => (
                    <li class={`depth-${t.depth}`}>
                      <a href={t.href ?? `#${t.id}`}>
                        <span class="number">{t.number}</span> {t.text}
                      </a>
                    </li>
                  ))}
                </ol>
              )}
            </li>
          ))}
        </ol>
        <p class="toc-all">
          <a href="index.html">Front page</a> · <a href="identifiers.html">Identifiers</a> ·{" "}
          <a href="divergences.html">Divergences</a>
        </p>
      </nav>
    </details>
  );
}

/**
 * One chapter, or one page of a chapter on several (`continues`: a later page): the sidebar, the
 * rendered body, previous and next. The first page of a split chapter carries the anchors that
 * moved to its later pages (`moved`: page → ids), for the pages' script to forward old links.
 */
export function ChapterPage(props: {
  site: SiteInfo;
  chapter: ChapterLink;
  toc: TocItem[];
  body: string;
  prev?: ChapterLink;
  next?: ChapterLink;
  continues?: ChapterLink;
  moved?: Record<string, string[]>;
}) {
  const { chapter, prev, next, continues } = props;
  const title = continues ? `${chapter.title} (continued)` : chapter.title;
  return (
    <Shell site={props.site} title={`${title} — ${props.site.title}`} base="">
      <div class="layout">
        <Sidebar site={props.site} chapter={chapter} toc={props.toc} />
        <script
          dangerouslySetInnerHTML={{
            // Before the first paint: on a narrow screen the contents start closed.
            __html: `document.currentScript.previousElementSibling.open = ` +
              `!matchMedia("(max-width: 60rem)").matches;`,
          }}
        />
        <main class="chapter" id="_text">
          {continues && (
            <p class="continued" data-pagefind-meta="title">
              {continues.number} <a href={continues.href}>{continues.title}</a> (continued)
            </p>
          )}
          <article data-pagefind-body dangerouslySetInnerHTML={{ __html: props.body }} />
          {props.moved && (
            <script
              type="application/json"
              id="moved-anchors"
              dangerouslySetInnerHTML={{
                __html: JSON.stringify(props.moved).replaceAll("<", "\\u003c"),
              }}
            />
          )}
          <nav class="prev-next" aria-label="Chapters">
            {prev
              ? (
                <a class="prev" rel="prev" href={prev.href}>
                  ← {prev.number} {prev.title}
                </a>
              )
              : <span />}
            {next
              ? (
                <a class="next" rel="next" href={next.href}>
                  {next.number} {next.title} →
                </a>
              )
              : <span />}
          </nav>
        </main>
      </div>
    </Shell>
  );
}

/** A page of the identifier index's details: the names from one letter to another. */
export interface IdentifierRange {
  /** E.g. `I` or `J–R`. */
  label: string;
  href: string;
}

/** The letters of the details pages, as links. */
function Ranges(props: { ranges: IdentifierRange[]; current?: string }) {
  return (
    <nav class="id-ranges" aria-label="Identifiers by letter">
      <a href="identifiers.html" aria-current={props.current ? undefined : "page"}>All</a>
      {props.ranges.map((r) => (
        <>
          {" · "}
          <a href={r.href} aria-current={r.href === props.current ? "page" : undefined}>
            {r.label}
          </a>
        </>
      ))}
    </nav>
  );
}

/**
 * The identifier index: every name the model exports (that the site links) in one compact table —
 * what it is, the chapter that defines it (the name links to the definition) and how many blocks
 * use it, linked to the name's row on its letter's page, which lists those blocks: the "referenced
 * in" of engine262's spec. Split so that no page outgrows the page budget.
 */
export function IdentifierIndexPage(
  props: { site: SiteInfo; entries: IdentifierEntry[]; ranges: IdentifierRange[] },
) {
  const chapterNumber = new Map(props.site.chapters.map((c) => [c.title, c.number]));
  return (
    <Shell site={props.site} title={`Identifiers — ${props.site.title}`} base="">
      <main class="identifiers" id="_text">
        <h1>Identifiers</h1>
        <p class="lede">
          The {props.entries.length}{" "}
          names the model exports: what each is, the chapter that defines it (the name links to the
          definition) and the number of blocks that use it (linked to their list). In the chapters,
          every use links to its definition.
        </p>
        <Ranges ranges={props.ranges} />
        <table class="compact">
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Chapter</th>
              <th>Uses</th>
            </tr>
          </thead>
          <tbody>
            {props.entries.map((e) => (
              <tr id={`id-${e.name}`}>
                <td>
                  <a href={e.href}>{e.name}</a>
                </td>
                <td>{e.kind}</td>
                <td>{chapterNumber.get(e.chapter) ?? ""}</td>
                <td>
                  <a href={`${e.details}#id-${e.name}`}>{e.usedIn.length}</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </main>
    </Shell>
  );
}

/** One letter's page of the identifier index: each name with the blocks that use it. */
export function IdentifiersPage(
  props: {
    site: SiteInfo;
    entries: IdentifierEntry[];
    ranges: IdentifierRange[];
    range: IdentifierRange;
  },
) {
  return (
    <Shell
      site={props.site}
      title={`Identifiers ${props.range.label} — ${props.site.title}`}
      base=""
    >
      <main class="identifiers" id="_text">
        <h1>Identifiers {props.range.label}</h1>
        <p class="lede">
          The {props.entries.length} names from {props.range.label}{" "}
          the model exports, each with the block that defines it and the blocks that use it.
        </p>
        <Ranges ranges={props.ranges} current={props.range.href} />
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Defined in</th>
              <th>Used in</th>
            </tr>
          </thead>
          <tbody>
            {props.entries.map((e) => (
              <tr id={`id-${e.name}`}>
                <td>
                  <a href={e.href}>
                    <code>{e.name}</code>
                  </a>
                </td>
                <td>{e.kind}</td>
                <td>{e.chapter}</td>
                <td class="used-in">
                  {e.usedIn.map((u, k) => (
                    <>
                      {k > 0 ? ", " : ""}
                      <a href={u.href}>{u.text}</a>
                    </>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </main>
    </Shell>
  );
}

/** The Markdown source of a chapter with numbered, linkable lines (the "edit" links land here). */
export function SourcePage(props: { site: SiteInfo; path: string; lines: string[] }) {
  // Numbers are padded to the widest, so that they line up as plain text (see style.css).
  const digits = String(props.lines.length).length;
  return (
    <Shell site={props.site} title={`${props.path} — ${props.site.title}`} base="../">
      <main class="source" id="_text">
        <h1>{props.path}</h1>
        <pre class="numbered">
          {props.lines.map((text, k) => (
            <span id={`L${k + 1}`}>
              <a href={`#L${k + 1}`}>{String(k + 1).padStart(digits)}</a>
              {text}
              {"\n"}
            </span>
          ))}
        </pre>
      </main>
    </Shell>
  );
}
