/**
 * `deno task bench`: runs every benchmark, writes `bench/report.json`, prints a table, and writes
 * the README's performance table from the report (`bench/readme.ts`).
 *
 *   {"machine": {cpu, cores, deno, v8, date, …}, "notes": […],
 *    "results": [{"name", "unit", "median", "min", "max", "runs", "note"?}]}
 *
 * Every figure is a median over an explicit number of runs (CONFIG below); a micro-benchmark's run
 * repeats its operation for at least `minMs` and divides. What runs:
 *
 * - the micro-benchmarks registered by `bench/*_bench.ts` (also runnable with `deno bench`):
 *   physical memory reads, the VT-d walker on hot tables, the generic walker of chapter 21 and its
 *   fast path on hot tables (Sv48, Arm LPAE, AMD v1, VT-d as a format: `ptwalk_*_ns` beside
 *   `ptwalk_*_general_ns`), the VT-d unit (IOTLB hit, miss + walk),
 *   the literate tools at design scale;
 * - `bench/walk_c.ts`: the model's walker and a C walker (`cc -O2`) on the same 1 GiB tables;
 * - `bench/ioas_scale.ts` in a process of its own: IOAS_MAP/UNMAP at scale and memory held;
 * - `bench/site.ts`: `deno task tangle` with nothing changed, a warm `deno task build`, and the
 *   edit loop (`deno task serve` + chromium).
 *
 * `deno task bench --only micro,walk` runs a subset and prints it, without writing anything.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { cases } from "./cases.ts";
import "./physmem_bench.ts";
import "./vtd_walk_bench.ts";
import "./pt_walk_bench.ts";
import "./vtd_unit_bench.ts";
import "./literate_bench.ts";
import { type Result, summarize, timeRuns } from "./harness.ts";
import { walkVsC } from "./walk_c.ts";
import { buildWarm, editReload, tangleNoop } from "./site.ts";
import { type Report, writeReadme } from "./readme.ts";

/** Run counts, explicit. About four minutes in all on a 2-core machine. */
export const CONFIG = {
  micro: { runs: 11, minMs: 40 },
  walk: { runs: 11, best: 3, minMs: 50, niovas: 1 << 16, nsample: 4096 },
  ioas: { runs: 3 },
  tangle: { runs: 5 },
  build: { runs: 3 },
  edit: { runs: 5 },
};

const ROOT = new URL("../", import.meta.url).pathname;
const PARTS = ["micro", "walk", "ioas", "site"] as const;
const { values } = parseArgs({ args: Deno.args, options: { only: { type: "string" } } });
const only = values.only?.split(",") ?? [...PARTS];
for (const p of only) {
  if (!(PARTS as readonly string[]).includes(p)) throw new Error(`--only: unknown part ${p}`);
}
const log = (s: string) => console.error(`[bench] ${s}`);

function micro(): Result[] {
  const out: Result[] = [];
  for (const c of cases) {
    const ns = timeRuns(c.fn, c.ops, CONFIG.micro.runs, CONFIG.micro.minMs);
    const ms = c.report.endsWith("_ms");
    out.push(summarize(c.report, ms ? "ms" : "ns", ms ? ns.map((x) => x / 1e6) : ns, c.name));
    log(`${c.report}: ${out.at(-1)!.median} ${out.at(-1)!.unit}`);
  }
  return out;
}

interface IoasStat {
  median: number;
  min: number;
  max: number;
}
interface IoasLine {
  scenario: string;
  runs: number;
  map_ms: IoasStat;
  unmap_ms: IoasStat;
  map_cpu_ms: IoasStat;
  unmap_cpu_ms: IoasStat;
  external_mapped_mib: IoasStat;
  heap_mapped_mib: IoasStat;
  iommu_pages: IoasStat;
}

/** Runs bench/ioas_scale.ts in a process of its own and turns its JSON lines into rows. */
async function ioas(): Promise<Result[]> {
  const out = await new Deno.Command("deno", {
    args: ["run", "--allow-all", "--v8-flags=--expose-gc", `${ROOT}bench/ioas_scale.ts`],
    env: { RUNS: String(CONFIG.ioas.runs), NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`ioas_scale.ts: ${new TextDecoder().decode(out.stderr)}`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) =>
    JSON.parse(l) as IoasLine
  );
  const names: Record<string, string> = {
    "1GiB-4K-mock": "1g_4k",
    "1GiB-4K-mock-prefaulted": "1g_4k_prefaulted",
    "64GiB-2M-dmar0": "64g_2m",
  };
  const what: Record<string, string> = {
    "1GiB-4K-mock": "1 GiB in 4 KiB pages, one mock domain, faulted in by the pin",
    "1GiB-4K-mock-prefaulted": "1 GiB in 4 KiB pages, one mock domain, memory already faulted in",
    "64GiB-2M-dmar0": "64 GiB in 2 MiB huge pages, a VT-d domain on dmar0",
  };
  const rows: Result[] = [];
  for (const l of lines) {
    const n = names[l.scenario];
    if (!n) throw new Error(`ioas_scale.ts: unknown scenario ${l.scenario}`);
    const row = (name: string, unit: Result["unit"], s: IoasStat, note: string): Result => ({
      name,
      unit,
      ...s,
      runs: l.runs,
      note,
    });
    rows.push(row(`ioas_map_${n}_ms`, "ms", l.map_ms, `IOMMU_IOAS_MAP, ${what[l.scenario]}`));
    rows.push(row(`ioas_unmap_${n}_ms`, "ms", l.unmap_ms, `IOMMU_IOAS_UNMAP of the same`));
    rows.push(row(`ioas_map_${n}_cpu_ms`, "ms", l.map_cpu_ms, "the map in process CPU time"));
    rows.push(
      row(`ioas_unmap_${n}_cpu_ms`, "ms", l.unmap_cpu_ms, "the unmap in process CPU time"),
    );
    rows.push(
      row(`ioas_heap_${n}_mib`, "MiB", l.heap_mapped_mib, "JavaScript heap held while mapped"),
    );
    rows.push(
      row(
        `ioas_external_${n}_mib`,
        "MiB",
        l.external_mapped_mib,
        "memory outside the heap (ArrayBuffers) held while mapped",
      ),
    );
    rows.push(
      row(`ioas_iommu_pages_${n}`, "pages", l.iommu_pages, "NR_IOMMU_PAGES while mapped"),
    );
  }
  return rows;
}

async function git(...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd: ROOT, stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

async function machine(): Promise<Record<string, string | number>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const cpu = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  // Changes to the two files this writes do not make the measured code dirty.
  const dirty = (await git(
    "status",
    "--porcelain",
    "--untracked-files=no",
    "--",
    ".",
    ":!bench/report.json",
    ":!README.md",
  )) !== "";
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    memory_gib: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
    os: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    loadavg_at_start: Deno.loadavg().map((x) => x.toFixed(2)).join(" "),
    commit: (await git("rev-parse", "--short", "HEAD")) + (dirty ? "+changes" : ""),
    date: new Date().toISOString(),
  };
}

const report: Report = { machine: await machine(), notes: [], results: [] };
const t0 = performance.now();
if (only.includes("micro")) {
  log("micro-benchmarks");
  report.results.push(...micro());
}
if (only.includes("walk")) {
  log("the model's walker and the C walker on the same tables");
  const w = await walkVsC(
    { ...CONFIG.walk, cc: Deno.env.get("CC") ?? "cc" },
    log,
  );
  report.results.push(...w.results);
  report.notes.push(...w.notes);
  Object.assign(report.machine, w.machine);
}
if (only.includes("ioas")) {
  log(`IOAS map/unmap at scale (${CONFIG.ioas.runs} runs per scenario)`);
  report.results.push(...await ioas());
}
if (only.includes("site")) {
  log("tangle, build, edit loop");
  report.results.push(...await tangleNoop(CONFIG.tangle.runs));
  report.results.push(...await buildWarm(CONFIG.build.runs));
  report.results.push(...await editReload(CONFIG.edit.runs));
}
report.machine.loadavg_at_end = Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

const w = Math.max(...report.results.map((r) => r.name.length));
const num = (x: number) => String(x).padStart(9);
console.log(`${"name".padEnd(w)}  unit     median       min       max  runs`);
for (const r of report.results) {
  console.log(
    `${r.name.padEnd(w)}  ${r.unit.padEnd(5)}${num(r.median)} ${num(r.min)} ${num(r.max)}  ${
      String(r.runs).padStart(4)
    }`,
  );
}
for (const n of report.notes) console.log(`note: ${n}`);

if (values.only === undefined) {
  await Deno.writeTextFile(`${ROOT}bench/report.json`, JSON.stringify(report, null, 2) + "\n");
  await writeReadme(report);
  log("wrote bench/report.json and the README's performance table");
}
