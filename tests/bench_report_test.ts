/**
 * bench/report.json and the README's performance table (nothing here is timed): the report has the
 * shape `deno task bench` promises, every figure issue 10 names, and the README's table between
 * its markers is the one `bench/readme.ts` renders from the committed report.
 */
import assert from "node:assert/strict";
import { normalize, readmeSection, renderSection, type Report } from "../bench/readme.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const report = JSON.parse(await Deno.readTextFile(`${ROOT}bench/report.json`)) as Report;

const REQUIRED = [
  "walk_ss4_ns",
  "walk_nested_ns",
  "iotlb_hit_ns",
  "ioas_map_1g_4k_ms",
  "ioas_unmap_64g_2m_ms",
  "site_build_warm_ms",
  "site_edit_reload_ms",
  "tangle_noop_ms",
];
const REQUIRED_C = [
  "walk_ss4_c_ns",
  "walk_nested_c_ns",
  "walk_ss4_c_dep_ns",
  "walk_nested_c_dep_ns",
  "walk_ss4_model_over_c",
  "walk_nested_model_over_c",
];

Deno.test("bench report: machine, and one well-formed row per figure", () => {
  for (const k of ["cpu", "cores", "deno", "v8", "date", "commit"]) {
    assert.ok(report.machine[k] !== undefined && report.machine[k] !== "", `machine.${k}`);
  }
  const names = report.results.map((r) => r.name);
  assert.equal(new Set(names).size, names.length, "figure names are unique");
  for (const r of report.results) {
    assert.match(r.name, /^[a-z0-9_]+$/, r.name);
    assert.ok(["ns", "ms", "MiB", "pages", "x"].includes(r.unit), `${r.name}: unit ${r.unit}`);
    assert.ok(Number.isInteger(r.runs) && r.runs >= 1, `${r.name}: runs ${r.runs}`);
    assert.ok(r.min <= r.median && r.median <= r.max, `${r.name}: min ≤ median ≤ max`);
  }
  const cSkipped = report.notes.some((n) => n.startsWith("C walker skipped"));
  for (const n of [...REQUIRED, ...(cSkipped ? [] : REQUIRED_C)]) {
    assert.ok(names.includes(n), `the report has ${n}`);
  }
});

Deno.test("bench report: the README's performance table is the committed report's", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  assert.deepEqual(
    normalize(readmeSection(readme)),
    normalize(renderSection(report)),
    "README.md and bench/report.json disagree: run `deno task bench:readme`",
  );
});

Deno.test("bench report: the comparison notices a changed figure", () => {
  const changed: Report = structuredClone(report);
  changed.results[0] = { ...changed.results[0], median: changed.results[0].median + 1 };
  assert.notDeepEqual(normalize(renderSection(changed)), normalize(renderSection(report)));
});
