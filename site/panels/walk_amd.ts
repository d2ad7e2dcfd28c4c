/**
 * The page-walk explorer's AMD family: the worked AMD IOMMU v1 vectors of
 * spec/23-amd-iommu-v1.md#amd-worked (M1–M13: the walk, a skipped level, NextLevel-7 pages and the
 * faults), walked by the model's `amdV1Translate()` from the vector's DTE.
 *
 * @module
 */
import {
  amdV1Translate,
  type AmdVector,
  type AmdVectorFile,
  amdVectorSetup,
  amdWorkedVectors,
  type PtDecoded,
} from "../../lib/internal.ts";
import { esc, hex, type WalkCase, type WalkFamily, type WalkRead } from "./walk_types.ts";

/** The requests: [name, access]. */
const ACCESS = [["read", "r"], ["write", "w"]] as const;

/** AMD IOMMU event types by number (amd_iommu_types.h EVENT_TYPE_*). */
const EVENT_NAMES = new Map<number, string>([
  [0x1, "ILLEGAL_DEV_TABLE_ENTRY"],
  [0x2, "IO_PAGE_FAULT"],
]);

/** The worked file, built once. */
let worked: AmdVectorFile | null = null;
const file = () => (worked ??= amdWorkedVectors());

/** An entry in words: what the walker made of it, and its NextLevel and permission bits. */
function decodeAmd(value: bigint, d: PtDecoded): string {
  const flags = [];
  if (value & 1n) flags.push("PR");
  flags.push(`NL=${(value >> 9n) & 7n}`);
  if ((value >> 60n) & 1n) flags.push("FC");
  if ((value >> 61n) & 1n) flags.push("IR");
  if ((value >> 62n) & 1n) flags.push("IW");
  const what = d.kind === "table"
    ? `table → ${hex(d.next)}${d.level === undefined ? "" : ` (skips to level ${d.level})`}`
    : d.kind === "leaf"
    ? `page 2^${d.sizeShift} at ${hex(d.oa)}`
    : `fault (${d.why})`;
  return `${what} · ${(value & 1n) ? flags.join(" ") : "not present"}`;
}

const kb = (n: bigint) =>
  n >= 1n << 30n ? `${n >> 30n} GiB` : n >= 1n << 20n ? `${n >> 20n} MiB` : `${n >> 10n} KiB`;

/** AMD IOMMU v1 host page tables. */
export const amdWalkFamily: WalkFamily = {
  id: "amd",
  label: "AMD IOMMU v1 (host page table, level skipping)",
  accesses: ACCESS.map(([n]) => n),
  cases: () =>
    file().vectors.map((v) => ({
      id: v.id,
      title: `${v.id}: mode ${v.dte.mode}, ${v.cat}`,
      iova: BigInt(v.request.iova_hex),
      access: ACCESS.findIndex(([, a]) => a === v.request.access),
      entries: (file().tables[v.table] ?? []).map(([pa, val]) => [BigInt(pa), BigInt(val)]),
    })),
  run(c: WalkCase) {
    const v = file().vectors.find((x) => x.id === c.id)!;
    const edited: AmdVector = {
      ...v,
      table: 0,
      request: { iova_hex: hex(c.iova), access: ACCESS[c.access][1] },
    };
    const one: AmdVectorFile = {
      ...file(),
      tables: [c.entries.map(([pa, val]) => [hex(pa), hex(val)])],
    };
    const { mem, dte, iova, access } = amdVectorSetup(one, edited);
    const reads: WalkRead[] = [];
    const t = amdV1Translate(mem, dte, iova, access, {
      trace(level, pa, value, d) {
        reads.push({ stage: "v1", inner: false, level, pa, value, decoded: decodeAmd(value, d) });
      },
    });
    const resultHtml = t.ok
      ? `<span class="walk-ok">PA ${hex(t.pa)} (${
        kb(t.size)
      } translation, ${t.reads.length} reads)</span>`
      : `<span class="walk-fault">event ${t.event.type} <code>${
        EVENT_NAMES.get(t.event.type) ?? "?"
      }</code>, flags 0x${t.event.flags.toString(16).padStart(3, "0")}: ${
        esc(t.event.why)
      }, ${t.reads.length} reads, see <a class="walk-check" href="amd-iommu-v1.html#amd-translate">amd-translate</a></span>`;
    return { ok: t.ok, resultHtml, reads };
  },
};
