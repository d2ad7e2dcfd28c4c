/**
 * Source maps that survive Deno's TypeScript emit.
 *
 * Deno runs a `.ts` file by re-printing it as JavaScript (types removed, code re-laid-out), and
 * when the file names its own map with `//# sourceMappingURL`, Deno applies that map to positions
 * in the *JavaScript* it printed, not to the TypeScript. A map from `lib/` lines to Markdown lines
 * would therefore be off by whatever the emit moved. So the map is composed: Deno's own emit map
 * (JavaScript → `lib/` TypeScript) followed by the tangler's line table (`lib/` TypeScript →
 * `spec/…md`).
 *
 * Deno's emit map is asked of Deno through a public interface: the V8 inspector protocol. A child
 * `deno run --inspect-wait` loads the generated files, and each `Debugger.scriptParsed` event
 * carries the emitted script's own map. Nothing reads Deno's cache. The composed map of
 * `lib/x.ts` is written to `.cache/srcmap/lib/x.ts.map`, which the generated file names in its
 * last line; a fresh clone without the map still runs, with stack traces at `lib/` lines until the
 * next tangle.
 *
 * @module
 */
import { SourceMapConsumer, SourceMapGenerator } from "source-map-js";
import { HashStore, sha256 } from "./hash_store.ts";
import type { TangledFile } from "./tangle.ts";

const EMIT_STORE = ".cache/emit-maps";
const MAP_DIR = ".cache/srcmap";
const ENTRY = ".cache/emit-entry.ts";
/** What the entry prints once every module it imports is loaded. */
const LOADED = "emit-maps: loaded";

/** The last line of a generated file: where its composed map is. */
export function mapComment(path: string): string {
  const up = "../".repeat(path.split("/").length - 1);
  return `//# sourceMappingURL=${up}${MAP_DIR}/${path}.map`;
}

function compose(file: TangledFile, emitted: SourceMapConsumer): string {
  // Deno resolves a map's sources against the script, not the map.
  const up = "../".repeat(file.path.split("/").length - 1);
  const gen = new SourceMapGenerator({ file: file.path.replace(/^.*\//, "") });
  emitted.eachMapping((m) => {
    if (m.originalLine == null || m.originalColumn == null) return;
    const o = file.origins[m.originalLine - 1];
    if (!o) return;
    gen.addMapping({
      generated: { line: m.generatedLine, column: m.generatedColumn },
      original: {
        line: o.line,
        column: Math.max(0, m.originalColumn - o.indent) + o.block.fenceColumn - 1,
      },
      source: up + o.block.chapter.path,
    });
  });
  return gen.toString();
}

function decodeDataUrl(url: string): string | null {
  const m = /^data:application\/json;(?:charset=utf-8;)?base64,(.*)$/.exec(url);
  if (!m) return null;
  return new TextDecoder().decode(Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)));
}

/**
 * Deno's emit maps of the given module URLs, as JSON keyed by URL: the child loads them (and runs
 * their top level, which for model files only defines things) while the inspector listens.
 */
async function inspectEmit(root: string, urls: string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const wanted = new Set(urls);
  await Deno.mkdir(`${root}/.cache`, { recursive: true });
  await Deno.writeTextFile(
    `${root}/${ENTRY}`,
    [...urls.map((u) => `import ${JSON.stringify(u)};`), `console.log("${LOADED}");`].join("\n") +
      "\n",
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--inspect-wait=127.0.0.1:0", "--allow-read", "--allow-env", ENTRY],
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let ws: string | undefined;
  while (!ws) {
    const { value, done } = await stderr.read();
    if (done) break;
    seen += value;
    ws = /(ws:\/\/\S+)\s/.exec(seen)?.[1]; // a whole URL: the line may arrive in pieces
  }
  if (!ws) {
    await child.status;
    return found;
  }
  // The child is stopped once every wanted script was seen, or once it has loaded everything (a
  // line on its stdout, then a round trip on the socket, which delivers events in order), or when
  // the socket fails or the child exits. Its stderr says when it has finished too, but that line
  // can overtake the socket's last events, so it is not used.
  let done = (_why: string) => {};
  const finished = new Promise<string>((resolve) => (done = resolve));
  const finish = (why: string) => () => done(why);
  child.status.then(finish("exit"));
  const drain = (async () => {
    while (!(await stderr.read()).done) { /* the child's messages are not needed */ }
  })();
  const socket = new WebSocket(ws);
  // Once the entry has printed that everything is loaded, one request round trip settles it: the
  // session delivers events in order, so every scriptParsed came before the answer.
  // The line can come before this side has seen the socket open (the child may run as soon as
  // the debugger connects): the round trip then starts once it is open, after Debugger.enable, so
  // the enable's reports come first too.
  const PING = 1_000_000;
  let printedLoaded = false;
  let opened = false;
  const ping = () =>
    socket.send(
      JSON.stringify({ id: PING, method: "Runtime.evaluate", params: { expression: "0" } }),
    );
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const loaded = (async () => {
    let out = "";
    for (let r = await stdout.read(); !r.done; r = await stdout.read()) {
      out += r.value;
      if (out.includes(LOADED)) {
        out = "";
        printedLoaded = true;
        if (opened && socket.readyState === WebSocket.OPEN) ping();
      }
    }
  })();
  socket.onclose = finish("close");
  socket.onerror = finish("error");
  let running = false;
  socket.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.id === PING) done("loaded");
    if (msg.id === ENABLE) {
      enabled = true;
      send("Runtime.runIfWaitingForDebugger");
    }
    if (msg.method !== "Debugger.scriptParsed") return;
    running ||= msg.params.url.startsWith("file:");
    if (!wanted.has(msg.params.url)) return;
    const json = decodeDataUrl(msg.params.sourceMapURL ?? "");
    if (json) found.set(msg.params.url, json);
    if (found.size === wanted.size) done("all");
  };
  // The child runs only once the debugger is enabled (scripts parsed before would go unreported).
  // It may not be waiting yet when the first request to run arrives, so that is repeated until
  // scripts load; a child that never gets going is given up on (the maps are a comfort, not a
  // product).
  const ENABLE = 1;
  let enabled = false;
  let id = ENABLE;
  const send = (method: string) => socket.send(JSON.stringify({ id: ++id, method }));
  const nudge = setInterval(() => {
    if (enabled && !running) send("Runtime.runIfWaitingForDebugger");
  }, 250);
  const giveUp = setTimeout(finish("timeout"), 60_000);
  socket.onopen = () => {
    socket.send(JSON.stringify({ id: ENABLE, method: "Debugger.enable" }));
    opened = true;
    if (printedLoaded) ping();
  };
  const why = await finished;
  if (Deno.env.get("EMIT_MAP_DEBUG")) {
    console.error(`emit maps: ${found.size}/${wanted.size} (${why})`);
  } else if (why === "timeout") {
    console.error(
      `emit maps: gave up on the inspector after 60 s with ${found.size} of ${wanted.size} ` +
        `maps; stack traces in the others stay at lib/ lines until the next tangle`,
    );
  }
  clearInterval(nudge);
  clearTimeout(giveUp);
  socket.close();
  try {
    child.kill("SIGKILL");
  } catch { /* it has exited */ }
  await child.status;
  await drain;
  await loaded;
  return found;
}

/**
 * Deno's emit maps for the given files (already written under `root`), as JSON, keyed by path.
 * The emit map depends only on a file's text, so it is kept in `.cache/emit-maps/` under the
 * text's hash; only texts never seen before are loaded under the inspector.
 */
async function denoEmitMaps(root: string, files: TangledFile[]): Promise<Map<string, string>> {
  const store = new HashStore(`${root}/${EMIT_STORE}`);
  const found = new Map<string, string>();
  const missing: { file: TangledFile; hash: string; url: string }[] = [];
  const real = await Deno.realPath(root);
  for (const file of files) {
    const hash = await sha256(file.text);
    const json = await store.get(hash);
    if (json) found.set(file.path, json);
    else missing.push({ file, hash, url: `file://${real}/${file.path}` });
  }
  if (missing.length > 0) {
    // Deno starts the child as soon as the debugger connects, so now and then the modules load
    // before the debugger is enabled and go unreported: those are asked for again.
    const emitted = new Map<string, string>();
    for (let attempt = 0; attempt < 3 && emitted.size < missing.length; attempt++) {
      const urls = missing.map((m) => m.url).filter((u) => !emitted.has(u));
      for (const [url, json] of await inspectEmit(root, urls)) emitted.set(url, json);
    }
    for (const { file, hash, url } of missing) {
      const json = emitted.get(url);
      if (!json) continue;
      await store.put(hash, json);
      found.set(file.path, json);
    }
  }
  await store.prune();
  return found;
}

/**
 * Writes the composed map of each generated file to `.cache/srcmap/`. The files must already be
 * written; a file Deno cannot load (a syntax error the type checker will report) gets no map.
 * Returns whether every file got its map.
 */
export async function writeMaps(root: string, files: TangledFile[]): Promise<boolean> {
  const emitted = await denoEmitMaps(root, files);
  let complete = true;
  for (const f of files) {
    const json = emitted.get(f.path);
    if (!json) {
      complete = false;
      continue;
    }
    const target = `${root}/${MAP_DIR}/${f.path}.map`;
    const map = compose(f, new SourceMapConsumer(JSON.parse(json)));
    const current = await Deno.readTextFile(target).catch(() => null);
    if (current === map) continue;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(target, map);
  }
  return complete;
}
