/**
 * The development server behind `deno task serve`: serves `_site/`, watches `spec/` and `site/`,
 * re-tangles `lib/` and rebuilds the site on every save — re-rendering only the chapters whose text
 * or referenced definitions changed (tools/site/render_cache.ts) and writing only the files that
 * changed — and tells open pages to reload (or shows the problems in an overlay) over server-sent
 * events; the search index follows in the background, and a `search` event says when it is in
 * place. A saved `site/layout.tsx` is imported
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
import type { Root } from "mdast";
import { cpuUsage } from "node:process";
import { type Tangle, tangle } from "../literate/tangle.ts";
import { buildSite } from "./build.ts";
import { CodeHighlighter } from "./highlight.ts";
import { RenderCache } from "./render_cache.ts";
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
  /** Rebuild now (the watcher calls this); resolves when pages have been told. */
  rebuild(): Promise<void>;
  close(): Promise<void>;
}

const CLIENT = `
const source = new EventSource("/_live/events");
const overlay = (text) => {
  let el = document.getElementById("live-reload-error");
  if (!text) { el?.remove(); return; }
  if (!el) { el = document.createElement("pre"); el.id = "live-reload-error"; document.body.append(el); }
  el.textContent = text;
};
source.addEventListener("open", () => document.documentElement.dataset.liveReload = "connected");
source.addEventListener("reload", () => location.reload());
source.addEventListener("problems", (e) => overlay(JSON.parse(e.data)));
source.addEventListener("ok", () => overlay(""));
source.addEventListener("search", () => document.documentElement.dataset.searchIndex = "ready");
`;

/** Quiet time after a file event before rebuilding. */
const WATCH_SETTLE_MS = 40;

/** Quiet time after a rebuild before the search index is rebuilt. */
const SEARCH_DELAY_MS = 300;

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
 * memory (nothing here changes a chapter's tree; the site renders copies), so a save parses one
 * chapter and reads no parse cache.
 */
async function readSpec(root: string, trees: Map<string, Root>): Promise<Spec> {
  const files: { path: string; text: string; tree: Root }[] = [];
  const unreadable: Problem[] = [];
  for await (const entry of Deno.readDir(`${root}/spec`)) {
    if (!entry.isFile || !entry.name.endsWith(".md")) continue;
    const path = `spec/${entry.name}`;
    const read = decodeChapter(path, await Deno.readFile(`${root}/${path}`));
    if ("problem" in read) unreadable.push(read.problem);
    else {files.push({
        path,
        text: read.text,
        tree: trees.get(read.text) ?? parseMarkdown(read.text),
      });}
  }
  trees.clear();
  for (const f of files) trees.set(f.text, f.tree);
  const spec = parseSpec(files);
  spec.problems.unshift(...unreadable);
  return spec;
}

/** Every code block of the spec, as the tangler reads it (not where it stands). */
function codeOf(spec: Spec): string {
  return JSON.stringify(
    spec.chapters.map((c) => [c.path, c.blocks.map((b) => [b.lang, b.node.meta, b.lines])]),
  );
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
      return rebuildNow();
    });
    running = queued;
    return queued;
  };
  /** The model's code blocks as the last good rebuild saw them. */
  let lastCode = "";
  /** Parse trees by chapter text. */
  const trees = new Map<string, Root>();
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
      lib = await tangleLib(root, "write");
      if (lib.problems.length > 0) return report(lib.problems);
      tangled = lib.tangle;
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
    clearTimeout(indexTimer);
    if (search) {
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
      const generation = ++builds;
      if (isFirst) {
        start();
        await indexing;
      } else indexTimer = setTimeout(start, SEARCH_DELAY_MS);
    }
    send("reload", ms);
    const codeChanged = lib !== null;
    lastCode = code;
    if (!lib) {
      // After the reload: lib/'s line maps, and any problem only the writing finds.
      lib = await tangleLib(root, "write");
      if (lib.problems.length > 0) return report(lib.problems);
      if (lib.changed.length) log(`lib/: ${lib.changed.join(", ")} (line maps)`);
    }
    if (codeChanged && lib.changed.length && options.typecheck !== false && !checking) {
      checking = typecheck().finally(() => checking = null);
    }
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
    for await (const _event of watcher) {
      clearTimeout(timer);
      // Editors save in a burst of events (a temporary file, a rename): one rebuild for them.
      timer = setTimeout(() => void rebuild(), WATCH_SETTLE_MS);
    }
  })();
  const { port, hostname } = server.addr as Deno.NetAddr;
  return {
    url: `http://${hostname === "127.0.0.1" ? "localhost" : hostname}:${port}/`,
    rebuild,
    async close() {
      clearTimeout(timer);
      clearTimeout(indexTimer);
      watcher.close();
      for (const c of clients) c.close();
      clients.clear();
      await server.shutdown();
      await checking;
      await indexing;
    },
  };
}
