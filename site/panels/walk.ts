/**
 * The page-walk explorer: every page-table format the model has, walked by the model in the page.
 * Choose a format (the registry of walk_formats.ts: VT-d's second stage, first stage and nested
 * walks; RISC-V's Sv39/48/57, their x4 G stages and two-stage walks; a new architecture adds one
 * entry) and one of its worked vectors, edit the address, the request and the entries, and step
 * through the reads the walker made — each with its stage, level, address and the entry it read,
 * decoded — to the translation or the fault, with the check that faulted linked to its step. A
 * two-dimensional walk (VT-d nested, RISC-V two-stage) is also drawn as its grid: a row per
 * outer-stage level, a column per inner-stage level.
 *
 * Nothing here walks a table: the families run the model's walkers and report their traces.
 *
 * @module
 */
import { WALK_FAMILIES } from "./walk_formats.ts";
import { esc, hex, type WalkCase, type WalkFamily, type WalkRun } from "./walk_types.ts";

export type { WalkRead, WalkRun } from "./walk_types.ts";

/** A read's class: done or still to do, and `current` for the last one shown while stepping. */
function stepClass(k: number, shown: number, total: number): string {
  if (k >= shown) return "todo";
  return k === shown - 1 && shown < total ? "done current" : "done";
}

/** The list of reads, the first `shown` of them marked as done. */
export function readsHtml(run: WalkRun, shown = run.reads.length): string {
  const rows = run.reads.map((r, k) =>
    `<tr data-step="${k + 1}" data-pa="${hex(r.pa)}" class="${
      stepClass(k, shown, run.reads.length)
    }"><td>${k + 1}</td><td>${esc(r.stage)}</td><td>${r.level}</td><td><code>${
      hex(r.pa)
    }</code></td><td><code>${hex(r.value)}</code></td><td>${esc(r.decoded)}</td></tr>`
  );
  return `<table class="walk-reads"><thead><tr><th>#</th><th>stage</th><th>level</th>` +
    `<th>address</th><th>entry</th><th>decoded</th></tr></thead><tbody>${
      rows.join("")
    }</tbody></table>`;
}

/**
 * A two-dimensional walk as a grid: a row per outer-stage level (and one for the final GPA), a
 * column per inner-stage level and one for the outer entry itself; each cell is one read.
 */
export function gridHtml(run: WalkRun, shown = run.reads.length): string {
  const g = run.grid;
  if (!g) return "";
  const cols = g.innerLevels.length;
  const rows: string[][] = [];
  const blank = () => Array.from({ length: cols + 1 }, () => "<td></td>");
  let row = blank();
  run.reads.forEach((r, k) => {
    const col = r.inner ? g.innerLevels.indexOf(r.level) : cols;
    const state = stepClass(k, shown, run.reads.length);
    const last = k === run.reads.length - 1 && !run.ok ? " faulted" : "";
    row[col < 0 ? cols : col] = `<td class="${state}${last}" data-step="${k + 1}" title="read ${
      k + 1
    }: ${esc(r.stage)} level ${r.level}"><code>${hex(r.pa)}</code></td>`;
    if (!r.inner) {
      rows.push(row);
      row = blank();
    }
  });
  if (row.some((c) => c !== "<td></td>")) rows.push(row);
  const head = g.innerLevels.map((l) => `<th>${esc(g.inner)} L${l}</th>`).join("");
  const body = rows.map((cells, i) =>
    `<tr><th>${
      i < g.outerLevels.length ? `${esc(g.outer)} L${g.outerLevels[i]}` : esc(g.finalRow)
    }</th>${cells.join("")}</tr>`
  ).join("");
  return `<table class="walk-grid" aria-label="The walk's reads: a row per ${
    esc(g.outer)
  } level, a column per ${esc(g.inner)} level"><thead><tr><th></th>${head}<th>${
    esc(g.outer)
  } entry</th></tr></thead><tbody>${body}</tbody></table>`;
}

/** The family registered as `id`. */
function family(id: string): WalkFamily {
  const f = WALK_FAMILIES.find((x) => x.id === id);
  if (!f) throw new Error(`no walk format family "${id}"`);
  return f;
}

/** What the page shows without JavaScript: VT-d N1's reads, grid and result, computed at build time. */
export function staticHtml(): string {
  const vtd = family("vtd");
  const c = vtd.cases().find((x) => x.id === "N1")!;
  const run = vtd.run(c);
  return `<p class="walk-static-note">${esc(c.title)}, IOVA <code>${hex(c.iova)}</code>: ` +
    `${run.resultHtml}</p>${gridHtml(run)}${readsHtml(run)}`;
}

function parseEntries(text: string): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  for (const line of text.split("\n")) {
    const t = line.replace(/#.*/, "").trim();
    if (!t) continue;
    const m = /^(0x[0-9a-f_]+|\d+)\s*[=:\s]\s*(0x[0-9a-f_]+|\d+)$/i.exec(t);
    if (!m) throw new Error(`not "address value": ${line}`);
    out.push([BigInt(m[1].replace(/_/g, "")), BigInt(m[2].replace(/_/g, ""))]);
  }
  return out;
}

const options = (xs: readonly { value: string; label: string }[]) =>
  xs.map((x) => `<option value="${esc(x.value)}">${esc(x.label)}</option>`).join("");

/** Turns the panel's element into the explorer. */
export function mount(el: HTMLElement): void {
  el.innerHTML = `<form class="walk-form" onsubmit="return false">
  <label>Format <select name="format">${
    options(WALK_FAMILIES.map((f) => ({ value: f.id, label: f.label })))
  }</select></label>
  <label>Scenario <select name="scenario"></select></label>
  <label>IOVA <input name="iova" spellcheck="false" autocomplete="off"></label>
  <label>Access <select name="access"></select></label>
  <label class="walk-mode"><span class="walk-option-label"></span> <select name="mode"></select></label>
  <label class="walk-entries">Entries (address value, one a line)<textarea name="entries" rows="6" spellcheck="false"></textarea></label>
  <div class="walk-buttons"><button type="button" name="step">Step</button> <button type="button" name="all">Show all reads</button> <span class="walk-progress" aria-live="polite"></span></div>
</form>
<p class="walk-result" aria-live="polite"></p>
<div class="walk-grid-wrap"></div>
<div class="walk-reads-wrap"></div>`;
  const form = el.querySelector("form")!;
  const field = <T extends Element>(n: string) => form.elements.namedItem(n) as unknown as T;
  const format = field<HTMLSelectElement>("format");
  const scenario = field<HTMLSelectElement>("scenario");
  const iova = field<HTMLInputElement>("iova");
  const access = field<HTMLSelectElement>("access");
  const mode = field<HTMLSelectElement>("mode");
  const entries = field<HTMLTextAreaElement>("entries");
  const modeLabel = el.querySelector<HTMLElement>(".walk-mode")!;
  let fam: WalkFamily = WALK_FAMILIES[0];
  let cases: readonly WalkCase[] = [];
  let run: WalkRun | null = null;
  let shown = 0;

  const useFamily = (f: WalkFamily) => {
    fam = f;
    format.value = f.id;
    cases = f.cases();
    scenario.innerHTML = options(cases.map((c) => ({ value: c.id, label: c.title })));
    access.innerHTML = options(f.accesses.map((a, i) => ({ value: String(i), label: a })));
    modeLabel.hidden = !f.option;
    modeLabel.querySelector(".walk-option-label")!.textContent = f.option?.label ?? "";
    mode.innerHTML = options((f.option?.values ?? []).map((v) => ({ value: v, label: v })));
  };
  const load = (c: WalkCase) => {
    scenario.value = c.id;
    iova.value = hex(c.iova);
    access.value = String(c.access);
    mode.disabled = c.option === undefined;
    if (c.option !== undefined) mode.value = c.option;
    entries.value = c.entries.map(([pa, v]) => `${hex(pa)} ${hex(v)}`).join("\n");
  };
  const draw = () => {
    const result = el.querySelector(".walk-result")!;
    if (!run) return;
    const total = run.reads.length;
    result.innerHTML = shown >= total ? run.resultHtml : `read ${shown} of ${total}…`;
    el.querySelector(".walk-progress")!.textContent = `${shown} / ${total} reads`;
    el.querySelector(".walk-grid-wrap")!.innerHTML = gridHtml(run, shown);
    el.querySelector(".walk-reads-wrap")!.innerHTML = readsHtml(run, shown);
    el.dataset.state = shown >= total ? "done" : "stepping";
  };
  const walk = () => {
    const base = cases.find((c) => c.id === scenario.value)!;
    try {
      run = fam.run({
        ...base,
        iova: BigInt(iova.value.trim().replace(/_/g, "")),
        access: Number(access.value),
        option: base.option === undefined ? undefined : mode.value,
        entries: parseEntries(entries.value),
      });
    } catch (e) {
      run = null;
      el.querySelector(".walk-result")!.innerHTML = `<span class="walk-error">${
        esc(String((e as Error).message))
      }</span>`;
      el.dataset.state = "error";
      return;
    }
    shown = run.reads.length;
    draw();
  };
  format.addEventListener("change", () => {
    useFamily(family(format.value));
    load(cases[0]);
    walk();
  });
  scenario.addEventListener("change", () => {
    load(cases.find((c) => c.id === scenario.value)!);
    walk();
  });
  for (const input of [iova, access, mode, entries]) input.addEventListener("change", walk);
  field<HTMLButtonElement>("step").addEventListener("click", () => {
    if (!run) return;
    shown = shown >= run.reads.length ? 1 : shown + 1;
    draw();
  });
  // A click on a read (in the list or the grid) steps to it.
  el.addEventListener("click", (e) => {
    const cell = (e.target as Element).closest<HTMLElement>("[data-step]");
    if (!run || !cell || !el.contains(cell)) return;
    shown = Number(cell.dataset.step);
    draw();
  });
  field<HTMLButtonElement>("all").addEventListener("click", () => {
    if (!run) return;
    shown = run.reads.length;
    draw();
  });
  useFamily(family(el.dataset.format ?? "vtd"));
  const initial = el.dataset.scenario ?? "N1";
  load(cases.find((c) => c.id === initial) ?? cases[0]);
  walk();
  el.classList.add("panel-live");
}
