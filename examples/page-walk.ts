/**
 * What the VT-d hardware does with a nested page table: a guest's 4-level first stage over the
 * host's 4-level second stage (vector N1 of spec/17-vtd-page-walk.md). The walk is traced: every
 * 8-byte entry the unit reads, in order — 24 of them for one DMA when nothing is cached. Then three
 * walks that fault, each with its VT-d fault reason and the check that produced it.
 *
 *   deno run examples/page-walk.ts
 */
import {
  PhysMem,
  VTD_DMA_WRITE,
  VtdFirstStage,
  vtdMapFirstStage,
  vtdMapSecondStage,
  VtdSecondStage,
  VtdTableArena,
  VtdWalk,
  vtdWalkNested,
} from "../mod.ts";

const hex = (n: number) => `0x${n.toString(16)}`;
const mem = new PhysMem(2 ** 40);

// The host: a second stage mapping guest physical pages 1..5 to host 0x80001000..0x80005fff.
const hostTables = new VtdTableArena(0x100000);
const ss = new VtdSecondStage({ root: hostTables.alloc(), mode: "scalable" });
for (let p = 1; p <= 5; p++) {
  vtdMapSecondStage(
    mem,
    ss,
    p * 0x1000,
    0x8000_0000 + p * 0x1000,
    0x1000,
    { write: true },
    hostTables.alloc,
  );
}

// The guest: a first stage rooted at GPA 0x1000, its tables at GPAs 0x2000.., written through the
// host mapping, mapping IOVA 0x8080604000 to guest page 5.
const gpaToHpa = (gpa: number) => 0x8000_0000 + gpa;
const fs = new VtdFirstStage({ root: 0x1000 });
const guestTables = new VtdTableArena(0x2000);
const iova = 0x80_8060_4567;
vtdMapFirstStage(
  mem,
  fs,
  iova - 0x567,
  0x5000,
  0x1000,
  { write: true },
  guestTables.alloc,
  gpaToHpa,
);

const out = vtdWalkNested(mem, fs, ss, iova, {}, new VtdWalk({ trace: true }));
console.log(`DMA read of IOVA ${hex(iova)}: ${out.describe()}`);
const trace = out.trace!;
for (let i = 0; i < trace.length; i++) {
  const fsLevel = 4 - Math.floor(i / 5);
  const what = i >= 20
    ? `second stage, level ${4 - (i - 20)}, for the final GPA ${hex(out.gpa)}`
    : i % 5 === 4
    ? `first stage, level ${fsLevel} (the guest's entry, at its host address)`
    : `second stage, level ${4 - (i % 5)}, to find the guest's level-${fsLevel} table`;
  console.log(`  ${String(i + 1).padStart(2)}. ${hex(trace[i]).padEnd(11)} ${what}`);
}

console.log("\nThree mistakes:");
// 1. The guest points a table at memory the host never gave it.
mem.write64(gpaToHpa(0x3018), 0x9000_0027n);
console.log(`  guest table at GPA 0x90000000: ${vtdWalkNested(mem, fs, ss, iova).describe()}`);
mem.write64(gpaToHpa(0x3018), 0x4027n);
// 2. The host maps the data page read-only; the device writes.
vtdMapSecondStage(mem, ss, 0x6000, 0x8000_6000, 0x1000, { write: false }, hostTables.alloc);
vtdMapFirstStage(
  mem,
  fs,
  iova + 0x1000 - 0x567,
  0x6000,
  0x1000,
  { write: true },
  guestTables.alloc,
  gpaToHpa,
);
console.log(
  `  write to a read-only host page: ${
    vtdWalkNested(mem, fs, ss, iova + 0x1000, VTD_DMA_WRITE).describe()
  }`,
);
// 3. A guest entry with a reserved bit.
mem.write64(gpaToHpa(0x4020), 0x5067n | (1n << 50n));
console.log(
  `  reserved bit 50 in the guest's PTE: ${vtdWalkNested(mem, fs, ss, iova).describe()}`,
);
