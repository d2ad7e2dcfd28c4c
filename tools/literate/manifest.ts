/**
 * The tangler's manifest: what the last successful tangle read and what it left in `lib/`, by
 * content hash, in `.cache/tangle-manifest.json`.
 *
 * A tangle is a function of the chapters' bytes, the tangler's own source, `deno.json` and
 * `deno.lock` (the Markdown and TypeScript parsers' versions, compiler options) and Deno's version
 * (its emit shapes the source maps).
 * When all of those hash as the manifest says and `lib/` — every file under it, names and bytes —
 * hashes as the manifest says too, a fresh tangle would write nothing and `--check` would pass, so
 * `deno task tangle` stops after hashing: it loads neither the Markdown parser nor TypeScript and
 * starts no Deno child. Anything else (an edited chapter, a hand edit or a stray file in `lib/`, a
 * missing source map, no manifest) takes the whole tangle, which reports exactly what differs.
 *
 * This module imports nothing, so the quick path costs what it hashes.
 *
 * @module
 */

/** Where the manifest is kept, relative to the project root. */
export const MANIFEST = ".cache/tangle-manifest.json";

/** Where the composed source maps are kept (`emit_map.ts` writes them). */
const MAP_DIR = ".cache/srcmap";

/** The manifest's contents. */
export interface Manifest {
  /** Hash of everything a tangle reads (see {@link inputKey}). */
  inputs: string;
  /** Hash of `lib/`: every file's path and bytes. */
  lib: string;
  /** Hash of the source maps of `lib/`'s files; null when a `--check` run wrote the manifest. */
  maps: string | null;
  /** For the summary line: how many files from how many chapters. */
  files: number;
  chapters: number;
}

const encoder = new TextEncoder();

async function hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** One hash over named byte strings (the name, its length and its bytes each, so none can alias). */
async function hashAll(parts: [string, Uint8Array | null][]): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (const [name, bytes] of parts) {
    const head = encoder.encode(`${name}\0${bytes === null ? -1 : bytes.length}\0`);
    chunks.push(head);
    size += head.length;
    if (bytes) {
      chunks.push(bytes);
      size += bytes.length;
    }
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return await hex(all);
}

async function readOrNull(path: string | URL): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** Files directly in `dir` (sorted), or none when it does not exist. */
async function listDir(dir: string | URL, keep: (name: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile && keep(e.name)) out.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/** Every path under `root/dir`, recursively, sorted; symlinks and the like count as files. */
async function listTree(root: string, dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(`${root}/${dir}`)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) out.push(...await listTree(root, path));
      else out.push(path);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/**
 * The hash of everything a tangle of `root` depends on: every `spec/*.md` (name and bytes), the
 * tangler's source (`tools/tangle.ts` and `tools/literate/*.ts`), `deno.json`, `deno.lock` and
 * Deno's version.
 */
export async function inputKey(root: string): Promise<string> {
  const literate = new URL("./", import.meta.url);
  const tools: [string, URL][] = (await listDir(literate, (n) => n.endsWith(".ts"))).map((n) => [
    `tools/literate/${n}`,
    new URL(n, literate),
  ]);
  tools.push(["tools/tangle.ts", new URL("../tangle.ts", import.meta.url)]);
  const chapters = (await listDir(`${root}/spec`, (n) => n.endsWith(".md"))).map((n) =>
    `spec/${n}`
  );
  const parts = await Promise.all([
    ...tools.map(async ([name, u]) => [name, await readOrNull(u)] as [string, Uint8Array | null]),
    ...chapters.map(async (p) =>
      [p, await readOrNull(`${root}/${p}`)] as [string, Uint8Array | null]
    ),
    ...["deno.json", "deno.lock"].map((p) =>
      readOrNull(`${root}/${p}`).then((b) => [p, b] as [string, Uint8Array | null])
    ),
  ]);
  parts.push(["deno", encoder.encode(`${Deno.version.deno} ${Deno.version.v8}`)]);
  return await hashAll(parts);
}

/** The hash of `lib/` and, with `maps`, the source maps its files name. */
async function outputHashes(
  root: string,
  maps: boolean,
): Promise<{ lib: string; maps: string | null }> {
  const paths = await listTree(root, "lib");
  const read = (p: string) =>
    readOrNull(`${root}/${p}`).then((b) => [p, b] as [string, Uint8Array | null]);
  const [lib, mapParts] = await Promise.all([
    Promise.all(paths.map(read)),
    maps ? Promise.all(paths.map((p) => read(`${MAP_DIR}/${p}.map`))) : null,
  ]);
  return { lib: await hashAll(lib), maps: mapParts ? await hashAll(mapParts) : null };
}

/** The hash of every file under `root/dir` (paths and bytes), for records like the manifest's. */
export async function treeHash(root: string, dir: string): Promise<string> {
  const paths = await listTree(root, dir);
  return await hashAll(
    await Promise.all(
      paths.map((p) =>
        readOrNull(`${root}/${p}`).then((b) => [p, b] as [string, Uint8Array | null])
      ),
    ),
  );
}

async function readManifest(root: string): Promise<Manifest | null> {
  const bytes = await readOrNull(`${root}/${MANIFEST}`);
  if (!bytes) return null;
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/**
 * Whether a tangle of `root` in this mode would do nothing and succeed, by the manifest: the
 * inputs and `lib/` hash as recorded (and, unless checking, the source maps too). Returns the
 * manifest when so, null when a whole tangle is needed.
 */
export async function upToDate(
  root: string,
  mode: "write" | "check" | "prune",
): Promise<Manifest | null> {
  const [manifest, inputs, outputs] = await Promise.all([
    readManifest(root),
    inputKey(root),
    outputHashes(root, mode !== "check"),
  ]);
  if (!manifest || manifest.inputs !== inputs || manifest.lib !== outputs.lib) return null;
  if (mode !== "check" && (manifest.maps === null || manifest.maps !== outputs.maps)) return null;
  return manifest;
}

/**
 * Records a successful tangle: `inputs` is the {@link inputKey} taken before it read anything
 * (so an edit made while it ran makes the next run a whole one); `lib/` and, after a run that
 * wrote them, the source maps are hashed as they are now.
 */
export async function recordManifest(
  root: string,
  inputs: string,
  wroteMaps: boolean,
  counts: { files: number; chapters: number },
): Promise<void> {
  const outputs = await outputHashes(root, wroteMaps);
  const manifest: Manifest = { inputs, ...outputs, ...counts };
  await Deno.mkdir(`${root}/.cache`, { recursive: true });
  const tmp = await Deno.makeTempFile({ dir: `${root}/.cache`, suffix: ".tmp" });
  await Deno.writeTextFile(tmp, JSON.stringify(manifest) + "\n");
  await Deno.rename(tmp, `${root}/${MANIFEST}`);
}
