/**
 * The page-walk explorer of spec/17-vtd-page-walk.md: the model's own walker
 * (`vtd_walk_ss`, `vtd_walk_fs`, `vtd_walk_nested`), bundled for the browser. Choose a worked
 * vector, edit its IOVA, access and entries, and step through the reads the walker made — each with
 * its stage, level, address and the entry it read, decoded — to the translation or the fault, with
 * the check that faulted linked to its step in the chapter. A nested walk is also drawn as its
 * two-dimensional grid: a row per first-stage level, a column per second-stage level.
 *
 * Nothing here walks a table: the reads come from the walker's `trace` and `levels`, the values from
 * a PhysMem that records what the walker read.
 *
 * @module
 */
import {
  DMA_FL_PTE_ACCESS,
  DMA_FL_PTE_DIRTY,
  DMA_FL_PTE_PRESENT,
  DMA_FL_PTE_US,
  DMA_PTE_LARGE_PAGE,
  DMA_PTE_READ,
  DMA_PTE_SNP,
  DMA_PTE_WRITE,
  DMA_SL_PTE_DIRTY,
  PhysMem,
  vtd_fault_reason_text,
  VTD_FS_PTE_RW,
  VTD_SS_PTE_ACCESSED,
  VTD_SS_PTE_EXEC,
  vtd_walk_fs,
  vtd_walk_nested,
  vtd_walk_ss,
  VtdWalk,
} from "../../lib/internal.ts";
import { setupScenario, WALK_SCENARIOS, type WalkScenario } from "./walk_scenarios.ts";

/** RAM that remembers every 64-bit entry the walker reads, in order. */
class RecordingMem extends PhysMem {
  readonly values: bigint[] = [];
  override read64Parts(pa: number, out: Uint32Array): void {
    super.read64Parts(pa, out);
    this.values.push((BigInt(out[1]) << 32n) | BigInt(out[0]));
  }
}

/** One entry the walker read. */
export interface WalkRead {
  stage: "ss" | "fs";
  level: number;
  pa: number;
  value: bigint;
}

/** A scenario walked: the walker's result and its reads. */
export interface WalkRun {
  out: VtdWalk;
  reads: WalkRead[];
}

/** Walks a scenario with the model's walker, tracing. */
export function runWalk(s: WalkScenario): WalkRun {
  const { mem, ss, fs } = setupScenario(s, (size) => new RecordingMem(size));
  const access = { write: s.write, supervisor: s.supervisor };
  const out = new VtdWalk({ trace: true });
  if (s.kind === "ss") vtd_walk_ss(mem, ss!, s.iova, access, out);
  else if (s.kind === "fs") vtd_walk_fs(mem, fs!, s.iova, access, out);
  else vtd_walk_nested(mem, fs!, ss!, s.iova, access, out);
  const reads = out.trace!.map((pa, k) => {
    const level = out.levels![k];
    return { stage: level < 0 ? "ss" : "fs", level: Math.abs(level), pa, value: mem.values[k] };
  }) as WalkRead[];
  return { out, reads };
}

const hex = (n: number | bigint) => `0x${n.toString(16)}`;

/** A read's class: done or still to do, and `current` for the last one shown while stepping. */
function stepClass(k: number, shown: number, total: number): string {
  if (k >= shown) return "todo";
  return k === shown - 1 && shown < total ? "done current" : "done";
}

/** The bits of an entry by name, from the model's masks. */
const SS_BITS: [string, number][] = [
  ["R", DMA_PTE_READ],
  ["W", DMA_PTE_WRITE],
  ["X", VTD_SS_PTE_EXEC],
  ["PS", DMA_PTE_LARGE_PAGE],
  ["A", VTD_SS_PTE_ACCESSED],
  ["D", DMA_SL_PTE_DIRTY],
  ["SNP", DMA_PTE_SNP],
];
const FS_BITS: [string, number][] = [
  ["P", DMA_FL_PTE_PRESENT],
  ["R/W", VTD_FS_PTE_RW],
  ["U/S", DMA_FL_PTE_US],
  ["A", DMA_FL_PTE_ACCESS],
  ["D", DMA_FL_PTE_DIRTY],
  ["PS", DMA_PTE_LARGE_PAGE],
];

/** An entry in words: its address field and the flags set. */
export function decodeEntry(stage: "ss" | "fs", value: bigint): string {
  const lo = Number(value & 0xffff_ffffn);
  const bits = (stage === "ss" ? SS_BITS : FS_BITS).filter(([, m]) => (lo & m) !== 0);
  const flags = bits.map(([n]) => n);
  if (stage === "fs" && value >> 63n) flags.push("XD");
  const addr = value & 0x000f_ffff_ffff_f000n;
  return `addr ${hex(addr)}${flags.length ? " · " + flags.join(" ") : " · no flags"}`;
}

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The result line: a translation, or the fault with its check linked to the chapter's step. */
export function resultHtml(out: VtdWalk): string {
  if (out.ok) return `<span class="walk-ok">${esc(out.describe())}</span>`;
  return `<span class="walk-fault">fault ${hex(out.fault)} <code>${out.faultName}</code> (${
    esc(vtd_fault_reason_text(out.fault))
  }) at ${out.stage.toUpperCase()} level ${out.level}, check <a class="walk-check" href="#${out.check}">${out.check}</a></span>`;
}

/** The list of reads, the first `shown` of them marked as done. */
export function readsHtml(run: WalkRun, shown = run.reads.length): string {
  const rows = run.reads.map((r, k) =>
    `<tr data-step="${k + 1}" data-pa="${hex(r.pa)}" class="${
      stepClass(k, shown, run.reads.length)
    }"><td>${k + 1}</td><td>${r.stage.toUpperCase()}</td><td>${r.level}</td><td><code>${
      hex(r.pa)
    }</code></td><td><code>${hex(r.value)}</code></td><td>${
      esc(decodeEntry(r.stage, r.value))
    }</td></tr>`
  );
  return `<table class="walk-reads"><thead><tr><th>#</th><th>stage</th><th>level</th>` +
    `<th>address</th><th>entry</th><th>decoded</th></tr></thead><tbody>${
      rows.join("")
    }</tbody></table>`;
}

/**
 * A nested walk as a grid: a row per first-stage level (and one for the final GPA), a column per
 * second-stage level and one for the first-stage entry itself; each cell is one read.
 */
export function gridHtml(run: WalkRun, s: WalkScenario, shown = run.reads.length): string {
  if (s.kind !== "nested") return "";
  const ssLevels = run.reads.filter((r) => r.stage === "ss").reduce(
    (m, r) => Math.max(m, r.level),
    4,
  );
  const fsLevels = s.fs?.flpm ? 5 : 4;
  const rows: string[][] = [];
  const blank = () => Array.from({ length: ssLevels + 1 }, () => "<td></td>");
  let row = blank();
  run.reads.forEach((r, k) => {
    const col = r.stage === "ss" ? ssLevels - r.level : ssLevels;
    const state = stepClass(k, shown, run.reads.length);
    const last = k === run.reads.length - 1 && !run.out.ok ? " faulted" : "";
    row[col] = `<td class="${state}${last}" data-step="${k + 1}" title="read ${
      k + 1
    }: ${r.stage.toUpperCase()} level ${r.level}"><code>${hex(r.pa)}</code></td>`;
    if (r.stage === "fs") {
      rows.push(row);
      row = blank();
    }
  });
  if (row.some((c) => c !== "<td></td>")) rows.push(row);
  const head = Array.from({ length: ssLevels }, (_, i) => `<th>SS L${ssLevels - i}</th>`).join("");
  const body = rows.map((cells, i) =>
    `<tr><th>${i < fsLevels ? `FS L${fsLevels - i}` : "final GPA"}</th>${cells.join("")}</tr>`
  ).join("");
  return `<table class="walk-grid" aria-label="The nested walk's reads: a row per first-stage level, a column per second-stage level"><thead><tr><th></th>${head}<th>FS entry</th></tr></thead><tbody>${body}</tbody></table>`;
}

/** What the page shows without JavaScript: N1's reads, grid and result, computed at build time. */
export function staticHtml(): string {
  const s = WALK_SCENARIOS.find((x) => x.id === "N1")!;
  const run = runWalk(s);
  return `<p class="walk-static-note">${esc(s.title)}, IOVA <code>${hex(s.iova)}</code>: ` +
    `${resultHtml(run.out)}</p>${gridHtml(run, s)}${readsHtml(run)}`;
}

function parseEntries(text: string): [number, bigint][] {
  const out: [number, bigint][] = [];
  for (const line of text.split("\n")) {
    const t = line.replace(/#.*/, "").trim();
    if (!t) continue;
    const m = /^(0x[0-9a-f_]+|\d+)\s*[=:\s]\s*(0x[0-9a-f_]+|\d+)$/i.exec(t);
    if (!m) throw new Error(`not "address value": ${line}`);
    out.push([Number(BigInt(m[1].replace(/_/g, ""))), BigInt(m[2].replace(/_/g, ""))]);
  }
  return out;
}

const ACCESS = [
  ["read", false, false],
  ["write", true, false],
  ["supervisor read", false, true],
  ["supervisor write", true, true],
] as const;

/** Turns the panel's element into the explorer. */
export function mount(el: HTMLElement): void {
  const options = WALK_SCENARIOS.map((s) => `<option value="${s.id}">${esc(s.title)}</option>`);
  el.innerHTML = `<form class="walk-form" onsubmit="return false">
  <label>Scenario <select name="scenario">${options.join("")}</select></label>
  <label>IOVA <input name="iova" spellcheck="false" autocomplete="off"></label>
  <label>Access <select name="access">${
    ACCESS.map(([n], i) => `<option value="${i}">${n}</option>`).join("")
  }</select></label>
  <label class="walk-mode">Second stage <select name="mode"><option>legacy</option><option>scalable</option></select></label>
  <label class="walk-entries">Entries (address value, one a line)<textarea name="entries" rows="6" spellcheck="false"></textarea></label>
  <div class="walk-buttons"><button type="button" name="step">Step</button> <button type="button" name="all">Show all reads</button> <span class="walk-progress" aria-live="polite"></span></div>
</form>
<p class="walk-result" aria-live="polite"></p>
<div class="walk-grid-wrap"></div>
<div class="walk-reads-wrap"></div>`;
  const form = el.querySelector("form")!;
  const field = <T extends Element>(n: string) => form.elements.namedItem(n) as unknown as T;
  const scenario = field<HTMLSelectElement>("scenario");
  const iova = field<HTMLInputElement>("iova");
  const access = field<HTMLSelectElement>("access");
  const mode = field<HTMLSelectElement>("mode");
  const entries = field<HTMLTextAreaElement>("entries");
  let run: WalkRun | null = null;
  let current: WalkScenario = WALK_SCENARIOS[0];
  let shown = 0;

  const load = (s: WalkScenario) => {
    iova.value = hex(s.iova);
    access.value = String(ACCESS.findIndex(([, w, sup]) => w === s.write && sup === s.supervisor));
    mode.value = s.ss?.mode ?? "legacy";
    mode.disabled = !s.ss;
    entries.value = s.entries.map(([pa, v]) => `${hex(pa)} ${hex(v)}`).join("\n");
  };
  const draw = () => {
    const result = el.querySelector(".walk-result")!;
    if (!run) return;
    const total = run.reads.length;
    result.innerHTML = shown >= total ? resultHtml(run.out) : `read ${shown} of ${total}…`;
    el.querySelector(".walk-progress")!.textContent = `${shown} / ${total} reads`;
    el.querySelector(".walk-grid-wrap")!.innerHTML = gridHtml(run, current, shown);
    el.querySelector(".walk-reads-wrap")!.innerHTML = readsHtml(run, shown);
    el.dataset.state = shown >= total ? "done" : "stepping";
  };
  const walk = () => {
    const base = WALK_SCENARIOS.find((s) => s.id === scenario.value)!;
    const [, write, supervisor] = ACCESS[Number(access.value)];
    try {
      current = {
        ...base,
        iova: BigInt(iova.value.trim().replace(/_/g, "")),
        write,
        supervisor,
        ss: base.ss ? { ...base.ss, mode: mode.value as "legacy" | "scalable" } : undefined,
        entries: parseEntries(entries.value),
      };
      run = runWalk(current);
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
  scenario.addEventListener("change", () => {
    load(WALK_SCENARIOS.find((s) => s.id === scenario.value)!);
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
  const initial = el.dataset.scenario ?? "N1";
  scenario.value = initial;
  load(WALK_SCENARIOS.find((s) => s.id === initial) ?? WALK_SCENARIOS[0]);
  walk();
  el.classList.add("panel-live");
}
