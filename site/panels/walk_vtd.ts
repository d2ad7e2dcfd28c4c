/**
 * The page-walk explorer's VT-d family: the worked vectors of spec/17-vtd-page-walk.md walked by the
 * model's own walker (`vtdWalkSecondStage`, `vtdWalkFirstStage`, `vtdWalkNested`) with its trace on; the values
 * read come from a PhysMem that records what the walker read.
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
  VTD_FS_PTE_RW,
  VTD_SS_PTE_ACCESSED,
  VTD_SS_PTE_EXEC,
  vtdFaultReasonText,
  VtdWalk,
  vtdWalkFirstStage,
  vtdWalkNested,
  vtdWalkSecondStage,
} from "../../lib/internal.ts";
import { setupScenario, WALK_SCENARIOS, type WalkScenario } from "./walk_scenarios.ts";
import { esc, hex, type WalkCase, type WalkFamily, type WalkRead } from "./walk_types.ts";

/** RAM that remembers every 64-bit entry the walker reads, in order. */
class RecordingMem extends PhysMem {
  readonly values: bigint[] = [];
  override read64Parts(pa: number, out: Uint32Array): void {
    super.read64Parts(pa, out);
    this.values.push((BigInt(out[1]) << 32n) | BigInt(out[0]));
  }
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

/** A VT-d entry in words: its address field and the flags set. */
export function decodeEntry(stage: "ss" | "fs", value: bigint): string {
  const lo = Number(value & 0xffff_ffffn);
  const bits = (stage === "ss" ? SS_BITS : FS_BITS).filter(([, m]) => (lo & m) !== 0);
  const flags = bits.map(([n]) => n);
  if (stage === "fs" && value >> 63n) flags.push("XD");
  const addr = value & 0x000f_ffff_ffff_f000n;
  return `addr ${hex(addr)}${flags.length ? " · " + flags.join(" ") : " · no flags"}`;
}

/** The result line: a translation, or the fault with its check linked to the chapter's step. */
export function resultHtml(out: VtdWalk): string {
  if (out.ok) return `<span class="walk-ok">${esc(out.describe())}</span>`;
  return `<span class="walk-fault">fault ${hex(out.fault)} <code>${out.faultName}</code> (${
    esc(vtdFaultReasonText(out.fault))
  }) at ${out.stage.toUpperCase()} level ${out.level}, check <a class="walk-check" href="#${out.check}">${out.check}</a></span>`;
}

/** The requests: [name, write, supervisor]. */
const ACCESS = [
  ["read", false, false],
  ["write", true, false],
  ["supervisor read", false, true],
  ["supervisor write", true, true],
] as const;

/** Walks a scenario with the model's walker, tracing: the walk and every entry read. */
export function runVtdScenario(s: WalkScenario): { out: VtdWalk; reads: WalkRead[] } {
  const { mem, ss, fs } = setupScenario(s, (size) => new RecordingMem(size));
  const access = { write: s.write, supervisor: s.supervisor };
  const out = new VtdWalk({ trace: true });
  if (s.kind === "ss") vtdWalkSecondStage(mem, ss!, s.iova, access, out);
  else if (s.kind === "fs") vtdWalkFirstStage(mem, fs!, s.iova, access, out);
  else vtdWalkNested(mem, fs!, ss!, s.iova, access, out);
  const reads = out.trace!.map((pa, k): WalkRead => {
    const level = out.levels![k];
    const stage = level < 0 ? "ss" : "fs";
    const value = mem.values[k];
    return {
      stage: stage.toUpperCase(),
      inner: s.kind === "nested" && stage === "ss",
      level: Math.abs(level),
      pa: BigInt(pa),
      value,
      decoded: decodeEntry(stage, value),
    };
  });
  return { out, reads };
}

/** The VT-d scenario a case stands for. */
function scenarioOf(c: WalkCase): WalkScenario {
  const base = WALK_SCENARIOS.find((s) => s.id === c.id)!;
  const [, write, supervisor] = ACCESS[c.access];
  return {
    ...base,
    iova: c.iova,
    write,
    supervisor,
    ss: base.ss ? { ...base.ss, mode: c.option as "legacy" | "scalable" } : undefined,
    entries: c.entries.map(([pa, v]) => [Number(pa), v]),
  };
}

/** VT-d: second stage, first stage and nested. */
export const vtdWalkFamily: WalkFamily = {
  id: "vtd",
  label: "Intel VT-d (second stage, first stage, nested)",
  accesses: ACCESS.map(([n]) => n),
  option: { label: "Second stage", values: ["legacy", "scalable"] },
  cases: () =>
    WALK_SCENARIOS.map((s) => ({
      id: s.id,
      title: s.title,
      iova: s.iova,
      access: ACCESS.findIndex(([, w, sup]) => w === s.write && sup === s.supervisor),
      option: s.ss ? (s.ss.mode ?? "legacy") : undefined,
      entries: s.entries.map(([pa, v]) => [BigInt(pa), v]),
    })),
  run(c) {
    const s = scenarioOf(c);
    const { out, reads } = runVtdScenario(s);
    const ssLevels = reads.filter((r) => r.inner).reduce((m, r) => Math.max(m, r.level), 4);
    const fsLevels = s.fs?.flpm ? 5 : 4;
    const down = (n: number) => Array.from({ length: n }, (_, i) => n - i);
    return {
      ok: out.ok,
      resultHtml: resultHtml(out),
      reads,
      grid: s.kind === "nested"
        ? {
          outer: "FS",
          inner: "SS",
          outerLevels: down(fsLevels),
          innerLevels: down(ssLevels),
          finalRow: "final GPA",
        }
        : undefined,
    };
  },
};
