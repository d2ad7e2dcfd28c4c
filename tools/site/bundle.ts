/**
 * The model for the browser: `deno bundle --platform browser` over the panels' entry points
 * (`site/panels/*.ts`, which reach the model through `lib/internal.ts`), one self-contained ES module
 * per panel. Bundles are cached in `.cache/panels/<hash>/` under a hash of every input — the model,
 * the panels, the import map and lock, and Deno's version — so a warm build reads three files.
 *
 * @module
 */
import { withoutSpecLines } from "./figures.ts";

function encodeHex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The entry points, by the name the page asks for (`panel-<name>.js`). */
export const PANEL_ENTRIES = ["walk", "console", "loader"] as const;

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await visit(p);
      else if (e.isFile && /\.(ts|tsx|js|json)$/.test(e.name)) out.push(p);
    }
  };
  await visit(dir).catch(() => {});
  return out.sort();
}

/** A hash of everything a bundle depends on. */
export async function bundleInputHash(root: string): Promise<string> {
  const paths = [
    ...await filesUnder(`${root}/lib`),
    ...await filesUnder(`${root}/site/panels`),
    `${root}/deno.json`,
    `${root}/deno.lock`,
  ];
  const parts: Uint8Array[] = [new TextEncoder().encode(`deno ${Deno.version.deno}\n`)];
  for (const p of paths) {
    parts.push(new TextEncoder().encode(`\n${p.slice(root.length)}\n`));
    // lib/'s fragment comments name spec lines, which a prose edit moves: not an input.
    const bytes = await Deno.readFile(p).catch(() => new Uint8Array());
    parts.push(
      p.startsWith(`${root}/lib/`)
        ? new TextEncoder().encode(withoutSpecLines(new TextDecoder().decode(bytes)))
        : bytes,
    );
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return encodeHex(await crypto.subtle.digest("SHA-256", all)).slice(0, 16);
}

/** What {@link bundlePanels} did. */
export interface PanelBundles {
  /** Output path (`panel-walk.js`, …) → JavaScript. */
  files: Map<string, string>;
  /** True when the bundles came from the cache. */
  cached: boolean;
}

/** Bundles the panels (or reads them from the cache). */
export async function bundlePanels(root: string): Promise<PanelBundles> {
  const hash = await bundleInputHash(root);
  const cacheRoot = `${root}/.cache/panels`;
  const dir = `${cacheRoot}/${hash}`;
  const read = async () => {
    const files = new Map<string, string>();
    for (const name of PANEL_ENTRIES) {
      files.set(`panel-${name}.js`, await Deno.readTextFile(`${dir}/${name}.js`));
    }
    return files;
  };
  try {
    return { files: await read(), cached: true };
  } catch {
    // not cached yet
  }
  await Deno.mkdir(cacheRoot, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: cacheRoot, prefix: "tmp-" });
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--platform",
      "browser",
      "--minify",
      "--outdir",
      tmp,
      ...PANEL_ENTRIES.map((n) => `site/panels/${n}.ts`),
    ],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    await Deno.remove(tmp, { recursive: true });
    throw new Error(`deno bundle failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  // Keep only the newest bundle: older hashes are stale inputs.
  for await (const e of Deno.readDir(cacheRoot)) {
    if (e.isDirectory && !e.name.startsWith("tmp-")) {
      await Deno.remove(`${cacheRoot}/${e.name}`, { recursive: true });
    }
  }
  await Deno.rename(tmp, dir).catch(async () => await Deno.remove(tmp, { recursive: true }));
  return { files: await read(), cached: false };
}
