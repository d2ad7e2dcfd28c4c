/**
 * One build of the real site per `deno test` run, shared by every test file that needs it.
 *
 * A build of the whole spec takes seconds, and several test files only read the pages. Test files
 * of one run share a process (with `--parallel` each runs in a worker of it), so the first file to
 * ask builds into a directory named after that process, with search, and the others wait for it
 * and read the same pages. The directory is never reused by another run: the name carries the
 * process's start time, and directories of processes that are gone are removed. A build that
 * fails fails every test that asked for it.
 *
 * The pages must only be read: copy them to change them.
 *
 * @module
 */
import { buildSite } from "../../tools/site/build.ts";
import type { Problem } from "../../tools/literate/spec.ts";

const repo = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const PREFIX = "iommufd-spec-real-site-";

/** A finished build of the real site. */
export interface RealSite {
  /** Where the pages are. */
  outDir: string;
  problems: Problem[];
  pages: string[];
}

/** This process's start time in clock ticks since boot (Linux), or null. */
function startTime(pid: number): string | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name may hold spaces and parentheses: fields are counted after the last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function tmpDir(): string {
  return Deno.env.get("TMPDIR") ?? "/tmp";
}

/** Removes the builds of runs whose process is gone. */
async function removeStale(): Promise<void> {
  for await (const e of Deno.readDir(tmpDir())) {
    const m = new RegExp(`^${PREFIX}(\\d+)-(\\d+)$`).exec(e.name);
    if (!m || startTime(Number(m[1])) === m[2]) continue;
    await Deno.remove(`${tmpDir()}/${e.name}`, { recursive: true }).catch(() => {});
  }
}

async function buildOnce(): Promise<RealSite> {
  const started = startTime(Deno.pid);
  if (started === null) {
    // No /proc: no way to tell runs apart, so this file builds its own.
    const outDir = await Deno.makeTempDir({ prefix: "site-" });
    return { outDir, ...await buildSite({ root: repo, outDir }) };
  }
  const dir = `${tmpDir()}/${PREFIX}${Deno.pid}-${started}`;
  const outDir = `${dir}/site`;
  const done = `${dir}/result.json`;
  let builder = true;
  try {
    await Deno.mkdir(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    builder = false;
  }
  if (builder) {
    await removeStale().catch(() => {});
    let result: { problems: Problem[]; pages: string[] } | { error: string };
    try {
      const built = await buildSite({ root: repo, outDir });
      result = { problems: built.problems, pages: built.pages };
    } catch (e) {
      result = { error: e instanceof Error ? e.stack ?? e.message : String(e) };
    }
    await Deno.writeTextFile(`${done}.tmp`, JSON.stringify(result));
    await Deno.rename(`${done}.tmp`, done);
  }
  for (;;) {
    const text = await Deno.readTextFile(done).catch(() => null);
    if (text !== null) {
      const result = JSON.parse(text);
      if ("error" in result) throw new Error(`the shared site build failed:\n${result.error}`);
      return { outDir, ...result };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

let shared: Promise<RealSite> | undefined;

/** The real site, built with search, once per test run. */
export function realSite(): Promise<RealSite> {
  return shared ??= buildOnce();
}
