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
}

/** A row of the identifier index. */
export interface IdentifierEntry {
  name: string;
  kind: string;
  href: string;
  chapter: string;
  usedIn: { href: string; text: string; chapter: string }[];
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
                      <a href={`#${t.id}`}>
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

/** One chapter: the sidebar, the rendered body, previous and next chapter. */
export function ChapterPage(props: {
  site: SiteInfo;
  chapter: ChapterLink;
  toc: TocItem[];
  body: string;
  prev?: ChapterLink;
  next?: ChapterLink;
}) {
  const { chapter, prev, next } = props;
  return (
    <Shell site={props.site} title={`${chapter.title} — ${props.site.title}`} base="">
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
          <article data-pagefind-body dangerouslySetInnerHTML={{ __html: props.body }} />
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

/**
 * The identifier index: every name the model exports (that the site links), what it is, the block
 * that defines it and the blocks that use it — the "referenced in" of engine262's spec.
 */
export function IdentifiersPage(props: { site: SiteInfo; entries: IdentifierEntry[] }) {
  return (
    <Shell site={props.site} title={`Identifiers — ${props.site.title}`} base="">
      <main class="identifiers" id="_text">
        <h1>Identifiers</h1>
        <p class="lede">
          The {props.entries.length}{" "}
          names the model exports, each with the block that defines it and the blocks that use it.
          In the chapters, every use links to its definition.
        </p>
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
  return (
    <Shell site={props.site} title={`${props.path} — ${props.site.title}`} base="../">
      <main class="source" id="_text">
        <h1>{props.path}</h1>
        <pre class="numbered">
          {props.lines.map((text, k) => (
            <span class="line" id={`L${k + 1}`}>
              <a class="ln" href={`#L${k + 1}`}>{k + 1}</a>
              {text}
              {"\n"}
            </span>
          ))}
        </pre>
      </main>
    </Shell>
  );
}
