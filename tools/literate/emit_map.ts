/**
 * Source maps that survive Deno's TypeScript emit.
 *
 * Deno runs a `.ts` file by re-printing it as JavaScript (types removed, code re-laid-out), and
 * when the file carries its own `//# sourceMappingURL`, Deno applies that map to positions in
 * the *JavaScript* it printed, not to the TypeScript. A map from `lib/` lines to Markdown lines
 * would therefore be off by whatever the emit moved. So the map is composed: Deno's own emit map
 * (JavaScript → `lib/` TypeScript, read from its emit cache after `deno cache`) followed by the
 * tangler's line table (`lib/` TypeScript → `spec/…md`). The trailing comment that carries the
 * map does not move any code in the emit, so the composed map fits the final file.
 *
 * @module
 */
import { SourceMapConsumer, SourceMapGenerator } from "source-map-js";
import { HashStore, sha256 } from "./hash_store.ts";
import type { TangledFile } from "./tangle.ts";

/** The comment that introduces an inline map. */
export const MAP_COMMENT = "//# sourceMappingURL=data:application/json;base64,";

const SCRATCH = ".cache/emit";
const MAP_STORE = ".cache/emit-maps";

async function typescriptCache(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).typescriptCache;
}

/** The JSON of the inline map a JavaScript text ends with, if any. */
function inlineMapJson(js: string): string | null {
  const at = js.lastIndexOf(MAP_COMMENT);
  if (at < 0) return null;
  const b64 = js.slice(at + MAP_COMMENT.length).split("\n", 1)[0];
  return new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
}

function compose(file: TangledFile, emitted: SourceMapConsumer): string {
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
  return btoa(gen.toString());
}

/**
 * Deno's emit maps for the given files, as JSON, keyed by path. The emit map depends only on a
 * file's text, so it is kept in `.cache/emit-maps/` under the text's hash; only texts never seen
 * before go through `deno cache`, which makes a re-tangle after a small edit cheap.
 */
async function denoEmitMaps(root: string, files: TangledFile[]): Promise<Map<string, string>> {
  const store = new HashStore(`${root}/${MAP_STORE}`);
  const found = new Map<string, string>();
  const missing: { file: TangledFile; hash: string }[] = [];
  for (const file of files) {
    const hash = await sha256(file.text);
    const json = await store.get(hash);
    if (json) found.set(file.path, json);
    else missing.push({ file, hash });
  }
  if (missing.length === 0) {
    await store.prune();
    return found;
  }
  // Every file goes to the scratch copy, so that the missing ones' imports resolve; only the
  // missing ones are entry points.
  const scratch = `${root}/${SCRATCH}`;
  await Deno.remove(scratch, { recursive: true }).catch(() => {});
  for (const file of files) {
    const target = `${scratch}/${file.path}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(target, file.text);
  }
  await new Deno.Command(Deno.execPath(), {
    args: ["cache", "--quiet", ...missing.map(({ file }) => `${scratch}/${file.path}`)],
    cwd: root,
    stdout: "null",
    stderr: "null",
  }).output();
  const cache = await typescriptCache();
  const real = await Deno.realPath(scratch);
  for (const { file, hash } of missing) {
    const js = await Deno.readTextFile(`${cache}/file${real}/${file.path}.js`).catch(() => null);
    const json = js && inlineMapJson(js);
    // Deno's cache may hold the emit of an earlier text at this path (when this text could not be
    // emitted): the map carries the source it was made from, and only a map of this text is kept.
    if (!json || JSON.parse(json).sourcesContent?.[0] !== file.text) continue;
    await store.put(hash, json);
    found.set(file.path, json);
  }
  await store.prune();
  return found;
}

/**
 * Composed inline maps (base64) for the given generated files, keyed by path. A file Deno cannot
 * emit (a syntax error the type checker will report) gets no map.
 */
export async function emitMaps(root: string, files: TangledFile[]): Promise<Map<string, string>> {
  const maps = new Map<string, string>();
  const emitted = await denoEmitMaps(root, files);
  for (const f of files) {
    const json = emitted.get(f.path);
    if (json) maps.set(f.path, compose(f, new SourceMapConsumer(JSON.parse(json))));
  }
  return maps;
}
