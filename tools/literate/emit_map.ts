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
import type { TangledFile } from "./tangle.ts";

/** The comment that introduces an inline map. */
export const MAP_COMMENT = "//# sourceMappingURL=data:application/json;base64,";

const SCRATCH = ".cache/emit";

async function typescriptCache(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).typescriptCache;
}

function inlineMap(js: string): SourceMapConsumer | null {
  const at = js.lastIndexOf(MAP_COMMENT);
  if (at < 0) return null;
  const b64 = js.slice(at + MAP_COMMENT.length).split("\n", 1)[0];
  return new SourceMapConsumer(JSON.parse(new TextDecoder().decode(
    Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)),
  )));
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
 * Composed inline maps (base64) for the given generated files, keyed by path. A file Deno cannot
 * emit (a syntax error the type checker will report) gets no map.
 */
export async function emitMaps(root: string, files: TangledFile[]): Promise<Map<string, string>> {
  const scratch = `${root}/${SCRATCH}`;
  await Deno.remove(scratch, { recursive: true }).catch(() => {});
  const paths = [];
  for (const f of files) {
    const target = `${scratch}/${f.path}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(target, f.text);
    paths.push(target);
  }
  const maps = new Map<string, string>();
  if (paths.length === 0) return maps;
  await new Deno.Command(Deno.execPath(), {
    args: ["cache", "--quiet", ...paths],
    cwd: root,
    stdout: "null",
    stderr: "null",
  }).output();
  const cache = await typescriptCache();
  const real = await Deno.realPath(scratch);
  for (const f of files) {
    const js = await Deno.readTextFile(`${cache}/file${real}/${f.path}.js`).catch(() => null);
    const emitted = js && inlineMap(js);
    if (emitted) maps.set(f.path, compose(f, emitted));
  }
  return maps;
}
