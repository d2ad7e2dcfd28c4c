/**
 * Chapter 17's figures are drawn from the walker: these tests hold each picture to the model's own
 * trace and arithmetic, so a change to the walker that changes the walk changes (and fails) here.
 */
import assert from "node:assert/strict";
import {
  entryBitsFigure,
  iovaSplitFigure,
  nestedFaultFigure,
  nestedWalkFigure,
  VTD_DMA_READ,
  vtdExampleN1,
  vtdIovaFields,
  vtdLevelIndex,
  vtdNestedGrid,
  vtdNestedWalkRefs,
  VtdWalk,
  vtdWalkNested,
} from "../../lib/internal.ts";

const IOVA_N = 0x80_8060_4567;

/** The read numbers drawn in the cells (the large numerals), in order. */
function cellNumbers(body: string): number[] {
  return [...body.matchAll(/font-size="14"[^>]*>(\d+)</g)].map((m) => Number(m[1]));
}

Deno.test("figures: N1's grid is the walker's trace, 4 rows of 5 reads and 4 for the final GPA", () => {
  const { mem, fs, ss } = vtdExampleN1();
  const out = vtdWalkNested(mem, fs, ss, IOVA_N, VTD_DMA_READ, new VtdWalk({ trace: true }));
  const rows = vtdNestedGrid(mem, fs, ss, out);
  assert.deepEqual(rows.map((r) => r.reads.length), [5, 5, 5, 5, 4]);
  assert.deepEqual(rows.flatMap((r) => r.reads), out.trace);
  assert.equal(out.trace!.length, vtdNestedWalkRefs(4, 4));
  // The rows translate the GPAs the chapter names, and end with the entry at its host address.
  assert.deepEqual(rows.map((r) => r.gpa), [0x1008, 0x2010, 0x3018, 0x4020, 0x5567]);
  assert.deepEqual(rows.slice(0, 4).map((r) => r.reads[4]), [
    0x8000_1008,
    0x8000_2010,
    0x8000_3018,
    0x8000_4020,
  ]);
  const fig = nestedWalkFigure();
  assert.deepEqual(cellNumbers(fig.body), Array.from({ length: 24 }, (_, k) => k + 1));
  assert.match(fig.desc, /HPA 0x8000_5567 after 24 reads/);
  assert.match(fig.desc, /24: 0x10_3028/);
  assert.ok(!fig.body.includes("fig-fault"));
});

Deno.test("figures: the faulting walk marks its last read, the 14th, with the fault reason", () => {
  const fig = nestedFaultFigure();
  assert.deepEqual(cellNumbers(fig.body), Array.from({ length: 14 }, (_, k) => k + 1));
  assert.equal(fig.body.match(/class="fig-fault"/g)?.length, 1);
  // The marked cell is the second-stage leaf for guest page 3.
  assert.match(fig.body, /class="fig-fault"[^]*?>14<[^]*?>0x10_3018</);
  assert.match(fig.desc, /14: 0x10_3018 \(faults\)/);
  assert.match(fig.desc, /fault 0x76 VTD_FR_NESTED_FS_SS_READ/i);
  // Reads the walk never made are drawn empty: 24 cells in all.
  assert.equal(fig.body.match(/class="fig-empty"/g)?.length, 24 - 14);
});

Deno.test("figures: the IOVA split follows the level arithmetic for each format", () => {
  assert.deepEqual(
    vtdIovaFields(4, false).map((f) => `${f.name} ${f.hi}:${f.lo}`),
    ["offset 11:0", "L1 20:12", "L2 29:21", "L3 38:30", "L4 47:39", "zero 63:48"],
  );
  assert.deepEqual(vtdIovaFields(5, true).at(-1), { name: "sign", lo: 57, hi: 63 });
  const fig = iovaSplitFigure();
  // IOVA-N's indices, as the walker extracts them, under the 4-level second stage's fields.
  const hi = Math.floor(IOVA_N / 2 ** 32), lo = IOVA_N >>> 0;
  const idx = [4, 3, 2, 1].map((l) => vtdLevelIndex(hi, lo, l));
  assert.deepEqual(idx, [1, 2, 3, 4]);
  assert.match(
    fig.desc,
    /second stage, AW=2: 4 levels, 48-bit input: must be 0 in bits 63:48, L4 in bits 47:39 \(IOVA-N: 1\), L3 in bits 38:30 \(IOVA-N: 2\), L2 in bits 29:21 \(IOVA-N: 3\), L1 in bits 20:12 \(IOVA-N: 4\), offset in bits 11:0 \(IOVA-N: 0x567\)/,
  );
  assert.match(
    fig.desc,
    /first stage, FLPM=1: 5 levels, 57-bit canonical input: sign in bits 63:57/,
  );
});

Deno.test("figures: entry formats are drawn from the stages' reserved masks", () => {
  const fig = entryBitsFigure();
  // Each row's reserved bits are the masks' bits (chapter 17's tables): 0x880 for a level-4
  // second-stage table entry, 0x1ff000 for a scalable 2 MiB leaf, 0x1fe000 for a first-stage one.
  assert.match(fig.desc, /second stage, level-4 table entry: [^.]*11 reserved, [^.]*7 reserved/);
  assert.match(fig.desc, /second stage, 2 MiB leaf \(scalable mode\): [^.]*20:12 reserved, 11 SNP/);
  assert.match(fig.desc, /first stage, 2 MiB leaf: [^.]*47:21 address, 20:13 reserved, 12 PAT/);
  // HAW 48: bits 51:48 are reserved in every row.
  assert.equal(fig.desc.match(/51:48 reserved/g)?.length, 6);
});
