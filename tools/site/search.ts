/**
 * Full-text search for the site with pagefind: after the pages are written, pagefind indexes the
 * chapters' text (the `data-pagefind-body` parts) into `_site/pagefind/`, and the browser searches
 * that index without a server. On top of the prose, every name the model exports gets a record of
 * its own pointing at the block that defines it, so that searching for `iopt_map_pages` lands on
 * its definition first — what a kernel developer looking up a symbol wants. The pages' own titles
 * carry their section numbers (`17.3.1 …`), which the results show.
 *
 * @module
 */
import { sha256 } from "../literate/hash_store.ts";
import type { Definition } from "./xref.ts";

/** Where a finished index is kept, under a hash of what it indexed. */
const CACHE_DIR = ".cache/pagefind";

/** The last indexing started, per output directory: they run one after another. */
const queue = new Map<string, { last: Promise<void>; generation: number }>();

/**
 * Writes `outDir/pagefind/` for the site's `files` (path → text, as written) and the definitions.
 * The same pages and definitions as an earlier build reuse its index from `.cache/pagefind/`
 * (pagefind takes seconds); otherwise pagefind indexes into a directory of its own, which then
 * replaces the old index, so the pages can search all the while. Calls for one `outDir` run in
 * turn, and one superseded by a later call before it started is skipped.
 */
export function searchIndex(
  root: string,
  outDir: string,
  files: Map<string, string>,
  definitions: Definition[],
  options: { background?: boolean } = {},
): Promise<void> {
  const q = queue.get(outDir) ?? { last: Promise.resolve(), generation: 0 };
  queue.set(outDir, q);
  const generation = ++q.generation;
  const run = q.last.then(async () => {
    if (generation !== q.generation) return; // a newer build's index comes next
    const pages = [...files].filter(([path]) => path.endsWith(".html")).sort(([a], [b]) =>
      a < b ? -1 : 1
    );
    const lock = await Deno.readTextFile(`${root}/deno.lock`).catch(() => "");
    const key = (await sha256(JSON.stringify([lock, pages, definitions]))).slice(0, 20);
    const cached = `${root}/${CACHE_DIR}/${key}`;
    const target = `${outDir}/pagefind`;
    if (await wholeIndex(cached)) return await replaceDir(target, (dir) => linkTree(cached, dir));
    await replaceDir(target, async (dir) => {
      if (options.background) await writeInBackground(outDir, definitions, dir);
      else await writeSearchIndex(outDir, definitions, dir);
      // Keep one generation in the cache.
      await Deno.remove(`${root}/${CACHE_DIR}`, { recursive: true }).catch(() => {});
      await linkTree(dir, cached).catch(() => {});
    });
  });
  q.last = run.catch(() => {});
  return run;
}

/**
 * {@link writeSearchIndex} in a process of its own at the lowest CPU priority (`nice -n 19`, with
 * pagefind's indexer under it): pagefind keeps both cores busy for seconds, and a rebuild that
 * follows the next save must not wait for it. Without `nice`, the same process at normal priority.
 */
async function writeInBackground(
  outDir: string,
  definitions: Definition[],
  outputPath: string,
): Promise<void> {
  const worker = new URL("./search_worker.ts", import.meta.url).pathname;
  const args = ["run", "--quiet", "--no-check", "-A", worker, outDir, outputPath];
  const spawn = (cmd: string, a: string[]) =>
    new Deno.Command(cmd, { args: a, stdin: "piped", stdout: "null", stderr: "piped" }).spawn();
  let child: Deno.ChildProcess;
  try {
    child = spawn("nice", ["-n", "19", Deno.execPath(), ...args]);
  } catch {
    child = spawn(Deno.execPath(), args);
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(definitions)));
  await writer.close();
  const { success, stderr } = await child.output();
  if (!success) throw new Error(`pagefind: ${new TextDecoder().decode(stderr).trim()}`);
}

/**
 * Whether `dir` holds an index a page can load: its entry file parses and names at least one
 * language (a cache written before writeSearchIndex() wrote the files itself may hold an empty one).
 */
export async function wholeIndex(dir: string): Promise<boolean> {
  try {
    const entry = JSON.parse(await Deno.readTextFile(`${dir}/pagefind-entry.json`));
    return Object.keys(entry?.languages ?? {}).length > 0;
  } catch {
    return false;
  }
}

/**
 * Fills a fresh directory with `fill`, then moves its files into `target` one by one (a rename over
 * a file is atomic) — the content-named fragments first, the entry points last — and removes the
 * files of the old index. A page never finds the index missing: pagefind's search box imports
 * `pagefind.js` once, and a failed import leaves it waiting for good.
 */
async function replaceDir(target: string, fill: (dir: string) => Promise<void>): Promise<void> {
  const next = `${target}.next`;
  await Deno.remove(next, { recursive: true }).catch(() => {});
  await Deno.mkdir(next, { recursive: true });
  await fill(next);
  const fresh = await filesUnder(next);
  const entry = (f: string) => /^pagefind[^/]*\.(js|css|json)$/.test(f) ? 1 : 0;
  fresh.sort((a, b) => entry(a) - entry(b) || (a.endsWith("pagefind.js") ? 1 : 0));
  const old = new Set(await filesUnder(target));
  for (const f of fresh) {
    const dir = `${target}/${f}`.replace(/\/[^/]*$/, "");
    await Deno.mkdir(dir, { recursive: true });
    await Deno.rename(`${next}/${f}`, `${target}/${f}`);
    old.delete(f);
  }
  for (const f of old) await Deno.remove(`${target}/${f}`).catch(() => {});
  await Deno.remove(next, { recursive: true }).catch(() => {});
}

/** The files under `dir`, relative to it (none when it does not exist). */
async function filesUnder(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(`${dir}/${prefix}`)) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory) out.push(...await filesUnder(dir, rel));
      else out.push(rel);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

/** Hard-links (or copies) every file under `from` to the same path under `to`. */
async function linkTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    const a = `${from}/${e.name}`, b = `${to}/${e.name}`;
    if (e.isDirectory) await linkTree(a, b);
    else await Deno.link(a, b).catch(() => Deno.copyFile(a, b));
  }
}

/**
 * Indexes `outDir`'s pages and the definitions into `outputPath` (default `outDir/pagefind/`);
 * returns the counts.
 */
export async function writeSearchIndex(
  outDir: string,
  definitions: Definition[],
  outputPath = `${outDir}/pagefind`,
): Promise<{ pages: number; records: number }> {
  // Imported here: a build whose pages were indexed before does not load pagefind.
  const { close, createIndex } = await import("pagefind");
  const { index, errors } = await createIndex({});
  if (!index) throw new Error(`pagefind: ${errors.join("; ")}`);
  try {
    const added = await index.addDirectory({ path: outDir });
    if (added.errors.length) throw new Error(`pagefind: ${added.errors.join("; ")}`);
    for (const d of definitions) {
      const record = await index.addCustomRecord({
        url: d.href,
        content: `${d.name} ${d.line}`,
        language: "en",
        // Only the name in the title: pagefind searches titles too, and a chapter's title there
        // made every definition of that chapter a hit for its words.
        // `definition` holds the bare name; the pages' search box weighs a match there above
        // any other (`ranking.metaWeights` in site/layout.tsx), so the definition of a name
        // comes before the pages that mention it.
        meta: { title: `${d.name} (${d.kind})`, definition: d.name },
      });
      if (record.errors.length) throw new Error(`pagefind: ${record.errors.join("; ")}`);
    }
    // The files come back in memory and are written here. With pagefind's own writeFiles(), whose
    // backend close() kills right after it answers, pagefind-entry.json was now and then left
    // empty under load (about one dev-server start in twenty on two busy cores): a search box
    // that never answers, and kept in the cache.
    const got = await index.getFiles();
    if (got.errors.length) throw new Error(`pagefind: ${got.errors.join("; ")}`);
    for (const { path, content } of got.files) {
      const file = `${outputPath}/${path}`;
      await Deno.mkdir(file.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeFile(file, content);
    }
    if (!await wholeIndex(outputPath)) throw new Error(`pagefind: no index in ${outputPath}`);
    return { pages: added.page_count, records: definitions.length };
  } finally {
    await close();
  }
}
