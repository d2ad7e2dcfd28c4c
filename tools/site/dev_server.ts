/**
 * The development server behind `deno task serve`: serves `_site/`, watches `spec/` and `site/`,
 * re-tangles `lib/` and rebuilds the site on every save — re-rendering only the chapters whose text
 * or referenced definitions changed (tools/site/render_cache.ts) and writing only the files that
 * changed — and tells open pages to reload (or shows the problems in an overlay) over server-sent
 * events; the search index follows in the background, and a `search` event says when it is in
 * place. A save costs what it changed: the saved chapter is parsed again only around the edit
 * (tools/site/reparse.ts), the other chapters keep their parse; an edit of prose only carries the
 * last tangle over to the new blocks ({@link retangle}); the build reuses what it derived from
 * texts that are the same (tools/site/build.ts); and the render cache's files are written after
 * the pages are told. A saved `site/layout.tsx` is imported
 * afresh; the stylesheet, the pages' script and other files of `site/` are copied by every build. Middlewares are shaped
 * `(request, next) => Promise<Response>`.
 *
 * @module
 */
import { type LibResult, tangleLib } from "../literate/lib_dir.ts";
import {
  decodeChapter,
  formatProblem,
  parseMarkdown,
  parseSpec,
  type Problem,
  type Spec,
} from "../literate/spec.ts";
import type { CodeBlock } from "../literate/spec.ts";
import type { Root } from "mdast";
import { cpuUsage } from "node:process";
import { type Fragment, type Reference, type Tangle, tangle } from "../literate/tangle.ts";
import { buildSite } from "./build.ts";
import { CodeHighlighter } from "./highlight.ts";
import { RenderCache } from "./render_cache.ts";
import { reparse } from "./reparse.ts";
import { ModelMemo } from "./model_memo.ts";
import { type Layouts, loadLayouts } from "./layouts.ts";

/** A request handler that may pass the request on. */
export type Middleware = (req: Request, next: () => Promise<Response>) => Promise<Response>;

/** Options of {@link startDevServer}. */
export interface DevServerOptions {
  root: string;
  /** 0 picks a free port. */
  port: number;
  hostname?: string;
  /** Called with each line the server wants the developer to see. */
  log?: (line: string) => void;
  /** Run `deno task check` after a rebuild that changed `lib/` (default true). */
  typecheck?: boolean;
}

/** A running server. */
export interface DevServer {
  url: string;
  /**
   * Rebuild now, as the watcher does; resolves when pages have been told and lib/ is written too
   * (after a prose edit the watcher's rebuild writes lib/'s line maps only once saves pause).
   */
  rebuild(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The pages' live-reload client. A `reload` event names the files the rebuild changed: a page not
 * among them stays as it is; a page that changed only inside its `<main>` element (and whose part
 * that changed holds no script, heading of the contents or panel) has the changed elements of its
 * article replaced in place — no navigation, the scroll position kept; any other change reloads.
 */
const CLIENT = `
const source = new EventSource("/_live/events");
const overlay = (text) => {
  let el = document.getElementById("live-reload-error");
  if (!text) { el?.remove(); return; }
  if (!el) { el = document.createElement("pre"); el.id = "live-reload-error"; document.body.append(el); }
  el.textContent = text;
};
const here = () => {
  const path = decodeURIComponent(location.pathname).replace(/^\\//, "");
  return path === "" || path.endsWith("/") ? path + "index.html" : path;
};
// Elements a swap must not replace: scripts (they would not run), the contents' headings (the
// pages' script watches them), panels (filled by their script).
const LIVE = "script, h2[id], h3[id], .panel";
const fixed = (nodes) => nodes.some((e) => e.nodeType === 1 && (e.matches(LIVE) || e.querySelector(LIVE)));
// Replaces the article's elements that differ from the new page's; false when it cannot.
let swaps = 0;
const swap = async () => {
  const mine = ++swaps;
  const res = await fetch(location.pathname, { cache: "no-store" });
  if (!res.ok) return false;
  const next = new DOMParser().parseFromString(await res.text(), "text/html");
  if (mine !== swaps) return true; // a later save's swap fetched a newer page

  const oldMain = document.querySelector("main"), newMain = next.querySelector("main");
  const oldArticle = oldMain?.querySelector(":scope > article");
  const newArticle = newMain?.querySelector(":scope > article");
  if (!oldArticle || !newArticle) return false;
  const rest = (main) => [...main.children].filter((e) => e.localName !== "article").map((e) => e.outerHTML).join("");
  if (rest(oldMain) !== rest(newMain)) return false;
  const olds = [...oldArticle.childNodes], news = [...newArticle.childNodes];
  let first = 0;
  while (first < olds.length && first < news.length && olds[first].isEqualNode(news[first])) first++;
  let last = 0;
  while (
    last < olds.length - first && last < news.length - first &&
    olds[olds.length - 1 - last].isEqualNode(news[news.length - 1 - last])
  ) last++;
  const gone = olds.slice(first, olds.length - last), come = news.slice(first, news.length - last);
  if (fixed(gone) || fixed(come)) return false;
  const after = olds[olds.length - last] ?? null;
  for (const e of gone) e.remove();
  for (const e of come) oldArticle.insertBefore(document.importNode(e, true), after);
  return true;
};
source.addEventListener("open", () => document.documentElement.dataset.liveReload = "connected");
source.addEventListener("reload", async (e) => {
  const data = JSON.parse(e.data);
  overlay("");
  // A new search index is on its way: the "search" event says when it is in place.
  if (data?.searching) delete document.documentElement.dataset.searchIndex;
  if (!Array.isArray(data?.changed)) return location.reload();
  const page = here();
  if (data.changed.some((p) => !p.endsWith(".html"))) return location.reload();
  if (!data.changed.includes(page)) return;
  if (!data.mainOnly.includes(page) || !(await swap().catch(() => false))) location.reload();
  else document.documentElement.dataset.liveSwaps = String(Number(document.documentElement.dataset.liveSwaps ?? 0) + 1);
});
source.addEventListener("problems", (e) => overlay(JSON.parse(e.data)));
source.addEventListener("ok", () => overlay(""));
source.addEventListener("search", () => document.documentElement.dataset.searchIndex = "ready");
`;

/** Quiet time after a file event before rebuilding. */
const WATCH_SETTLE_MS = 40;

/**
 * Quiet time after a rebuild before the background work — the search index, and lib/'s line maps
 * after a prose edit — starts (a save within it postpones the work to after its own rebuild).
 */
const BACKGROUND_DELAY_MS = 500;

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  png: "image/png",
  svg: "image/svg+xml",
};

/** Pages get the reload client; `/_live/*` serves it and the event stream. */
function liveReload(
  clients: Set<ReadableStreamDefaultController<Uint8Array>>,
  searchReady: () => boolean,
): Middleware {
  return async (req, next) => {
    const { pathname } = new URL(req.url);
    if (pathname === "/_live/client.js") {
      return new Response(CLIENT, { headers: { "content-type": TYPES.js } });
    }
    if (pathname === "/_live/events") {
      let self: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          self = controller;
          clients.add(controller);
          controller.enqueue(new TextEncoder().encode(": connected\n\n"));
          if (searchReady()) {
            controller.enqueue(new TextEncoder().encode('event: search\ndata: "ready"\n\n'));
          }
        },
        cancel() {
          clients.delete(self);
        },
      });
      return new Response(body, {
        headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
      });
    }
    const res = await next();
    if (!res.headers.get("content-type")?.startsWith("text/html")) return res;
    const html = (await res.text()).replace(
      "</body>",
      '<script type="module" src="/_live/client.js"></script></body>',
    );
    return new Response(html, { status: res.status, headers: res.headers });
  };
}

/** Serves files of `dir`; `/` and directories map to `index.html`. */
function staticFiles(dir: string): Middleware {
  return async (req) => {
    let path = decodeURIComponent(new URL(req.url).pathname);
    if (path.endsWith("/")) path += "index.html";
    if (path.split("/").includes("..")) return new Response("bad path", { status: 400 });
    try {
      const body = await Deno.readFile(`${dir}${path}`);
      const ext = path.slice(path.lastIndexOf(".") + 1);
      return new Response(body, {
        headers: {
          "content-type": TYPES[ext] ?? "application/octet-stream",
          "cache-control": "no-store",
        },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  };
}

function chain(middlewares: Middleware[]): (req: Request) => Promise<Response> {
  return (req) => {
    const run = (k: number): Promise<Response> => middlewares[k](req, () => run(k + 1));
    return run(0);
  };
}

/**
 * `loadSpec` for a running server: chapters whose text is unchanged keep their parse tree from
 * memory (nothing here changes a chapter's tree; the site renders copies), and a saved chapter is
 * parsed again only around the edit (tools/site/reparse.ts), so a save parses a few blocks and
 * reads no parse cache. `trees`: each chapter's last text and tree, by path.
 */
async function readSpec(root: string, trees: Map<string, KnownChapter>): Promise<Spec> {
  const files: { path: string; text: string; tree: Root }[] = [];
  const unreadable: Problem[] = [];
  for await (const entry of Deno.readDir(`${root}/spec`)) {
    if (!entry.isFile || !entry.name.endsWith(".md")) continue;
    const path = `spec/${entry.name}`;
    const read = decodeChapter(path, await Deno.readFile(`${root}/${path}`));
    if ("problem" in read) unreadable.push(read.problem);
    else {
      const last = trees.get(path);
      const tree = last ? reparse(last.text, last.tree, read.text) : parseMarkdown(read.text);
      files.push({ path, text: read.text, tree });
    }
  }
  const known = new Map(trees);
  trees.clear();
  const spec: Spec = { chapters: [], blocks: [], problems: [] };
  for (const f of files.sort((a, b) => a.path.localeCompare(b.path))) {
    // A chapter whose tree is the same is the same chapter: parseSpec reads only its path, text
    // and tree, and gives each chapter's blocks and problems apart (but for the blocks' reading
    // order over the whole spec, numbered here).
    const last = known.get(f.path);
    const one = last?.tree === f.tree && last.text === f.text && last.parsed
      ? last.parsed
      : parseSpec([f]);
    trees.set(f.path, { text: f.text, tree: f.tree, parsed: one });
    one.blocks.forEach((block, k) => block.index = spec.blocks.length + k);
    spec.chapters.push(...one.chapters);
    spec.blocks.push(...one.blocks);
    spec.problems.push(...one.problems);
  }
  spec.problems.unshift(...unreadable);
  return spec;
}

/** What {@link readSpec} keeps of a chapter: its text, tree, and the chapter parsed from them. */
interface KnownChapter {
  text: string;
  tree: Root;
  parsed?: Spec;
}

/** Every code block of the spec, as the tangler reads it (not where it stands). */
function codeOf(spec: { chapters: Spec["chapters"] }): string {
  return spec.chapters.map((c) => `${JSON.stringify(c.path)} ${blocksOf(c.tree, c.blocks)}`)
    .join("\n");
}

/** A chapter's code blocks as {@link codeOf} lists them, kept per parse tree (trees are not changed). */
const codeOfTree = new WeakMap<Root, string>();
function blocksOf(tree: Root, blocks: CodeBlock[]): string {
  let code = codeOfTree.get(tree);
  if (code === undefined) {
    code = JSON.stringify(blocks.map((b) => [b.lang, b.node.meta, b.lines]));
    codeOfTree.set(tree, code);
  }
  return code;
}

/**
 * The tangle of `spec` when its code blocks are those of `last`'s spec ({@link codeOf} equal) and
 * `last` had no problems: `last`'s fragments, references and unnamed files carried over to `spec`'s
 * blocks (the k-th block of the spec for the k-th), without expanding the files again. Tangling
 * reads only the blocks' languages, attributes and lines (where a block stands changes only the
 * places problems are reported at, and `last` had none), so this is what {@link tangle} returns
 * for `spec`, but for `files`: those are `last`'s, whose line maps are stale until `lib/` is
 * written again (the site reads no file of a tangle).
 */
export function retangle(last: Tangle, spec: Spec): Tangle {
  const block = (b: CodeBlock) => spec.blocks[b.index];
  const refs = new Map<Reference, Reference>();
  const ref = (r: Reference) => {
    let out = refs.get(r);
    if (!out) refs.set(r, out = { ...r, block: block(r.block) });
    return out;
  };
  const fragments = new Map<string, Fragment>();
  for (const [name, f] of last.fragments) {
    fragments.set(name, { ...f, blocks: f.blocks.map(block), usedIn: f.usedIn.map(ref) });
  }
  return {
    chapters: spec.chapters,
    files: last.files,
    fragments,
    anonymousFiles: last.anonymousFiles.map(block),
    references: last.references.map(ref),
    problems: [],
  };
}

/** Builds once, then serves and watches. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const { root } = options;
  const log = options.log ?? console.log;
  const clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const highlighter = await CodeHighlighter.create(root);
  // Kept across rebuilds: a save re-renders only the chapters it changed, rewrites only the files
  // that changed, and the search index follows in the background.
  const renderCache = new RenderCache(`${root}/.cache/site`);
  const written = new Map<string, string>();
  // What the figures' and panels' keys read of lib/ and site/panels/, kept until the model's code
  // blocks change or a file outside spec/ does (a prose edit reads neither again).
  const modelMemo = new ModelMemo();
  let indexing: Promise<void> = Promise.resolve();
  /** Whether the search index matches the pages served (a page that connects is told). */
  let searchReady = false;
  let indexTimer: ReturnType<typeof setTimeout> | undefined;
  let builds = 0;
  const send = (event: string, data: unknown) => {
    const bytes = new TextEncoder().encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    for (const c of clients) {
      try {
        c.enqueue(bytes);
      } catch {
        clients.delete(c);
      }
    }
  };
  let checking: Promise<void> | null = null;
  const typecheck = async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${root}/tools/check.ts`],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const errors = text.split("\n").filter((l) => !/^(Check|Download) /.test(l)).join("\n").trim();
    if (out.code !== 0) {
      log(errors);
      send("problems", `deno task check\n\n${errors}`);
    } else log("check: no type errors");
  };

  // The layouts, imported again whenever site/layout.tsx has a new modification time.
  let layouts: { version: number; module: Layouts } | null = null;
  const currentLayouts = async (): Promise<Layouts> => {
    const stat = await Deno.stat(`${root}/site/layout.tsx`).catch(() => null);
    const version = stat?.mtime?.getTime() ?? 0;
    if (layouts?.version !== version) {
      layouts = { version, module: await loadLayouts(root, version || undefined) };
    }
    return layouts.module;
  };

  let first = true;
  // One rebuild at a time: saves during a rebuild are picked up by the next one.
  let running: Promise<void> = Promise.resolve();
  let queued: Promise<void> | null = null;
  const rebuild = (): Promise<void> => {
    queued ??= running.then(() => {
      queued = null;
      pauseBackground();
      return rebuildNow().finally(resumeBackground);
    });
    running = queued;
    return queued;
  };
  /** Runs `work` after the rebuilds (and other work) queued so far. */
  const enqueue = (work: () => Promise<void>): Promise<void> => {
    const done = running.then(work);
    running = done.catch(() => {});
    return done;
  };
  /** Whether lib/'s line maps lag behind the prose (written once saves pause). */
  let libStale = false;
  let libTimer: ReturnType<typeof setTimeout> | undefined;
  /** Starts the search index of the last good build, once saves pause. */
  let pendingSearch: (() => void) | null = null;
  /** The background work waits while files change and a rebuild runs… */
  const pauseBackground = () => {
    clearTimeout(indexTimer);
    clearTimeout(libTimer);
  };
  /** …and starts once they have been quiet for a moment. */
  const resumeBackground = () => {
    pauseBackground();
    if (pendingSearch) {
      indexTimer = setTimeout(() => {
        const start = pendingSearch;
        pendingSearch = null;
        start?.();
      }, BACKGROUND_DELAY_MS);
    }
    if (libStale) libTimer = setTimeout(() => void enqueue(writeLib), BACKGROUND_DELAY_MS);
  };
  /** The model's code blocks as the last good rebuild saw them. */
  let lastCode = "";
  /** The tangle of the last good build (its blocks are those of `lastCode`). */
  let lastTangle: Tangle | null = null;
  /** Each chapter's last text and parse tree, by path. */
  const trees = new Map<string, KnownChapter>();
  const report = (problems: Problem[]) => {
    const text = problems.map(formatProblem).join("\n");
    log(text);
    send("problems", text);
  };
  const rebuildNow = async () => {
    const started = performance.now();
    const cpuStart = cpuUsage().user + cpuUsage().system;
    const isFirst = first;
    first = false;
    // lib/ is written before the build when model code changed (figures and panels run lib/);
    // after a prose edit it is written after the reload (only its line maps follow the prose).
    const spec = await readSpec(root, trees);
    const code = codeOf(spec);
    let lib: LibResult | null = null;
    let tangled: Tangle;
    if (code !== lastCode) {
      modelMemo.invalidate();
      lib = await tangleLib(root, "write");
      if (lib.problems.length > 0) return report(lib.problems);
      tangled = lib.tangle;
    } else if (lastTangle && spec.problems.length === 0) {
      // Prose only: the code blocks are those of the last good build.
      tangled = retangle(lastTangle, spec);
    } else {
      tangled = tangle(spec);
      if (tangled.problems.length > 0) return report(tangled.problems);
    }
    let built: Awaited<ReturnType<typeof buildSite>>;
    try {
      built = await buildSite({
        root,
        tangled,
        highlighter,
        renderCache,
        written,
        search: "background",
        layouts: await currentLayouts(),
        modelMemo,
        defer: true,
      });
    } catch (e) {
      // A layout that does not compile or throws: show it, keep serving the last good pages.
      const text = `site/layout.tsx: ${e instanceof Error ? e.message : String(e)}`;
      log(text);
      send("problems", text);
      return;
    }
    if (built.problems.length > 0) return report(built.problems);
    const ms = (performance.now() - started).toFixed(0);
    const wrote = lib?.changed.length ? `, lib/: ${lib.changed.join(", ")}` : "";
    log(`rebuilt in ${ms} ms${wrote}`);
    const cpu = ((cpuUsage().user + cpuUsage().system - cpuStart) / 1000).toFixed(0);
    log(`  ${built.rendered ?? "all"} chapters rendered afresh; ${cpu} ms of CPU`);
    // The search index follows (pages search the previous one until it is in place), once saves
    // have paused for a moment, so that it does not compete with the reload it follows; the first
    // build waits for it, so that the site is whole when the server starts.
    const search = built.search;
    searchReady = !search;
    pendingSearch = null;
    if (search) {
      const generation = ++builds;
      const start = () => {
        indexing = search().then(
          () => {
            if (generation !== builds) return; // a later build's index is coming
            searchReady = true;
            send("search", "ready");
          },
          (e) => log(`search index: ${e instanceof Error ? e.message : String(e)}`),
        );
      };
      if (isFirst) {
        start();
        await indexing;
      } else pendingSearch = start;
    }
    send("reload", { ms: Number(ms), searching: !searchReady, ...built.changes });
    // What no page waits for: the render cache's files, forgetting what this build did not use.
    await built.finish?.();
    const codeChanged = lib !== null;
    // (after a change of the code, the build read the spec as the tangler did)
    lastCode = lib ? codeOf(lib.tangle) : code;
    lastTangle = tangled;
    // After a prose edit, lib/'s line maps follow once saves pause, so that the tangle neither
    // competes with the page's update nor holds up the next save's rebuild.
    libStale = !lib;
    if (!lib) return;
    if (codeChanged && lib.changed.length && options.typecheck !== false && !checking) {
      checking = typecheck().finally(() => checking = null);
    }
  };
  /** After a prose edit: lib/'s line maps, and any problem only the writing finds. */
  const writeLib = async () => {
    if (!libStale) return;
    libStale = false;
    const lib = await tangleLib(root, "write");
    if (lib.problems.length > 0) return report(lib.problems);
    if (lib.changed.length) log(`lib/: ${lib.changed.join(", ")} (line maps)`);
  };

  const handler = chain([liveReload(clients, () => searchReady), staticFiles(`${root}/_site`)]);
  const server = Deno.serve(
    { port: options.port, hostname: options.hostname ?? "127.0.0.1", onListen: () => {} },
    handler,
  );
  await rebuild();
  // The highlighter loads (shiki, the highlight cache) while the developer reads, not on the
  // first save.
  highlighter.ready().catch(() => {});
  const watcher = Deno.watchFs([`${root}/spec`, `${root}/site`]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  (async () => {
    for await (const event of watcher) {
      clearTimeout(timer);
      pauseBackground();
      if (event.paths.some((p) => !p.startsWith(`${root}/spec/`))) modelMemo.invalidate();
      // Editors save in a burst of events (a temporary file, a rename): one rebuild for them.
      timer = setTimeout(() => void rebuild(), WATCH_SETTLE_MS);
    }
  })();
  const { port, hostname } = server.addr as Deno.NetAddr;
  return {
    url: `http://${hostname === "127.0.0.1" ? "localhost" : hostname}:${port}/`,
    async rebuild() {
      await rebuild();
      clearTimeout(libTimer);
      await enqueue(writeLib);
    },
    async close() {
      clearTimeout(libTimer);
      clearTimeout(timer);
      clearTimeout(indexTimer);
      watcher.close();
      for (const c of clients) c.close();
      clients.clear();
      await server.shutdown();
      await running.catch(() => {});
      await checking;
      await indexing;
    },
  };
}
