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
        <link rel="stylesheet" href={`${props.base}style.css`} />
        <link rel="stylesheet" href={`${props.base}pagefind/pagefind-ui.css`} />
        <script src={`${props.base}pagefind/pagefind-ui.js`} defer />
      </head>
      <body>
        <header class="site-header">
          <a href={`${props.base}index.html`} class="site-title">{props.site.title}</a>
          <div id="search" class="site-search" />
          <script
            dangerouslySetInnerHTML={{
              // The index holds site-absolute URLs; baseUrl keeps them right under a subpath.
              __html: `addEventListener("DOMContentLoaded", () => { if (window.PagefindUI) ` +
                `new PagefindUI({ element: "#search", showSubResults: true, showImages: false, ` +
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
      <main class="index">
        <h1>{props.site.title}</h1>
        <p class="lede">{props.intro}</p>
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

/** One chapter: table of contents, the rendered body, previous and next chapter. */
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
        <nav class="toc" aria-label="Contents">
          <p class="toc-chapter">
            <span class="number">{chapter.number}</span> {chapter.title}
          </p>
          <ul>
            {props.toc.map((t) => (
              <li class={`depth-${t.depth}`}>
                <a href={`#${t.id}`}>{t.text}</a>
              </li>
            ))}
          </ul>
          <p class="toc-all">
            <a href="index.html">All chapters</a>
          </p>
        </nav>
        <main class="chapter">
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

/** The Markdown source of a chapter with numbered, linkable lines (the "edit" links land here). */
export function SourcePage(props: { site: SiteInfo; path: string; lines: string[] }) {
  return (
    <Shell site={props.site} title={`${props.path} — ${props.site.title}`} base="../">
      <main class="source">
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
