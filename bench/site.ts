/**
 * The literate toolchain's wall times, as a person at the terminal sees them:
 *
 * - `tangle_noop_ms`: `deno task tangle` when nothing changed;
 * - `site_build_warm_ms`: `deno task build` with `.cache/` already filled by a previous build;
 * - `site_edit_reload_ms`: with `deno task serve` running and a chapter open in chromium
 *   (playwright-core, /usr/bin/chromium), the time from saving a prose edit to the page showing it.
 *
 * The edit loop runs in a temporary copy of the project (the files git tracks, plus `.cache/`), so
 * the working tree is never edited. `bench/report.ts` calls these.
 *
 * @module
 */
import { type Browser, chromium } from "playwright-core";
import { type Result, summarize, timeCommand } from "./harness.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"];
const env = { NO_COLOR: "1" };

/** Runs `deno task <task>` once to warm up, then `runs` times: wall time, and CPU time if known. */
async function timeTask(
  task: string,
  runs: number,
  name: string,
  what: string,
): Promise<Result[]> {
  await timeCommand("deno", ["task", task], { cwd: ROOT, env });
  const wall: number[] = [], cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = await timeCommand("deno", ["task", task], { cwd: ROOT, env });
    wall.push(t.wall);
    if (t.cpu !== undefined) cpu.push(t.cpu);
  }
  const rows = [summarize(`${name}_ms`, "ms", wall, `wall time of ${what}`)];
  if (cpu.length) {
    rows.push(summarize(`${name}_cpu_ms`, "ms", cpu, `the same in CPU time (with children)`));
  }
  return rows;
}

/** `deno task tangle` with nothing to do. */
export function tangleNoop(runs: number): Promise<Result[]> {
  return timeTask("tangle", runs, "tangle_noop", "`deno task tangle`, nothing changed");
}

/** `deno task build` after a build that filled the cache. */
export function buildWarm(runs: number): Promise<Result[]> {
  return timeTask("build", runs, "site_build_warm", "`deno task build`, cache warm");
}

/** A copy of the files git tracks, and the build cache, in a temporary directory. */
async function copyProject(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "bench-site-" });
  const ls = await new Deno.Command("git", { args: ["ls-files", "-z"], cwd: ROOT, stdout: "piped" })
    .output();
  const files = new TextDecoder().decode(ls.stdout).split("\0").filter((f) => f !== "");
  for (const f of files) {
    const slash = f.lastIndexOf("/");
    if (slash > 0) await Deno.mkdir(`${dir}/${f.slice(0, slash)}`, { recursive: true });
    await Deno.copyFile(`${ROOT}${f}`, `${dir}/${f}`);
  }
  const cp = await new Deno.Command("cp", { args: ["-r", `${ROOT}.cache`, `${dir}/.cache`] })
    .output();
  if (!cp.success) throw new Error("copying .cache failed (run a build first)");
  return dir;
}

/**
 * Reads `stream` until its text matches `re`; returns the match, and keeps draining the stream in
 * the background (so the server never blocks on a full pipe) into `seen`.
 */
async function waitForText(
  stream: ReadableStream<Uint8Array>,
  re: RegExp,
  seen: string[],
): Promise<RegExpMatchArray> {
  const reader = stream.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`serve exited before printing ${re}:\n${seen.join("")}`);
    const text = dec.decode(value, { stream: true });
    buf += text;
    seen.push(text);
    const m = buf.match(re);
    if (m) {
      (async () => {
        for (let r = await reader.read(); !r.done; r = await reader.read()) {
          seen.push(dec.decode(r.value, { stream: true }));
        }
      })().catch(() => {});
      return m;
    }
  }
}

/**
 * `deno task serve` on a copy of the project; chapter 0 open in chromium; `runs` prose edits, each
 * timed from the save to the page showing the new word.
 */
export async function editReload(runs: number): Promise<Result[]> {
  const chapter = `${ROOT}spec/00-introduction.md`;
  const original = await Deno.readTextFile(chapter);
  const anchor = "host keeps.";
  if (!original.includes(anchor)) throw new Error(`spec/00-introduction.md lost "${anchor}"`);
  const dir = await copyProject();
  const copy = `${dir}/spec/00-introduction.md`;
  // In a session of its own, so that stopping it stops the `deno run` that `deno task` starts.
  const server = new Deno.Command("setsid", {
    args: ["deno", "task", "serve", "--port", "0"],
    cwd: dir,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const seen: string[] = [];
  const stderr = server.stderr.pipeTo(
    new WritableStream({ write: (s) => void seen.push(new TextDecoder().decode(s)) }),
  );
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    const [, url] = await waitForText(server.stdout, /Serving (http:\S+)/, seen);
    const page = await browser.newPage();
    await page.goto(`${url}introduction.html`);
    const xs: number[] = [], rebuilds: number[] = [];
    const rebuilt = () => [...seen.join("").matchAll(/rebuilt in (\d+) ms/g)].map((m) => +m[1]);
    for (let i = 0; i < runs; i++) {
      const before = rebuilt().length;
      await page.waitForSelector("html[data-live-reload=connected]");
      const word = `benchedit${i}x${Date.now()}`;
      const t = performance.now();
      await Deno.writeTextFile(copy, original.replace(anchor, `${anchor} ${word}`));
      await page.waitForFunction(
        (w) => document.querySelector("article")?.textContent?.includes(w) === true,
        word,
        { timeout: 60_000 },
      );
      xs.push(performance.now() - t);
      // The server's own figure for this edit's rebuild (it logs before it tells the page).
      for (let wait = 0; rebuilt().length === before && wait < 50; wait++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const r = rebuilt();
      if (r.length > before) rebuilds.push(r[r.length - 1]);
    }
    const rows = [summarize(
      "site_edit_reload_ms",
      "ms",
      xs,
      "`deno task serve` + chromium: save of a prose edit until the page shows it",
    )];
    if (rebuilds.length) {
      rows.push(summarize(
        "site_edit_rebuild_ms",
        "ms",
        rebuilds,
        "of which the server's rebuild (its `rebuilt in N ms` log)",
      ));
    }
    return rows;
  } finally {
    await browser?.close();
    Deno.kill(-server.pid, "SIGTERM");
    await server.status;
    await stderr.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await editReload(3)));
}
