/**
 * Issue 10 item 2: the fast path of the Intel driver's iova_to_phys (spec/19-vtd-driver.md,
 * #iova-to-phys-fast) answers what the kernel's walk answers. On a second-stage and a first-stage
 * domain, random sequences of iommu_map()/iommu_unmap() in 4 KiB, 2 MiB and 1 GiB pages build the
 * tables; then, for IOVAs in and around every mapping and at random, `iovaToPhysFast()` — when it
 * answers (not -1) — gives the address the general path gives (the fast path switched off), and
 * reads the entries the general path reads, in the same order. Random bit flips in present
 * entries (present bits, the superpage bit, addresses pointing beyond RAM) must not make the two
 * disagree either: where the general path throws, the fast path leaves it the answer. Seeded: the
 * same cases on every run.
 */
import assert from "node:assert/strict";
import {
  type dmar_domain,
  GFP_KERNEL,
  intel_iommu_ops,
  type iommu_domain,
  iommu_map,
  iommu_paging_domain_alloc,
  IOMMU_READ,
  iommu_unmap,
  IOMMU_WRITE,
  iovaToPhysFast,
  Machine,
  runAs,
  to_dmar_domain,
} from "../../lib/internal.ts";
import { generalIovaToPhys as general } from "./iova_to_phys_general.ts";
import { rng } from "../rng.ts";

const K4 = 2 ** 12, M2 = 2 ** 21, G1 = 2 ** 30;
const RAM = 8 * G1;

interface Mapping {
  iova: number;
  size: number;
}

/** Builds random tables in `domain`; the mappings that exist at the end. */
function build(domain: iommu_domain, rand: (n: number) => number, ops: number): Mapping[] {
  const live: Mapping[] = [];
  for (let op = 0; op < ops; op++) {
    if (live.length && rand(4) === 0) {
      const [m] = live.splice(rand(live.length), 1);
      iommu_unmap(domain, BigInt(m.iova), BigInt(m.size));
      continue;
    }
    const pgsize = [K4, M2, G1][rand(3)];
    const size = pgsize * (1 + rand(pgsize === G1 ? 1 : 3));
    // IOVAs below 2^39 (so that some share every level), sometimes far up the 48-bit space
    const top = rand(4) === 0 ? 2 ** 47 : 2 ** 39;
    const iova = Math.floor(rand(2 ** 32) * (top / 2 ** 32) / pgsize) * pgsize;
    const pa = G1 + Math.floor(rand(RAM - 2 * G1) / pgsize) * pgsize;
    const rc = iommu_map(
      domain,
      BigInt(iova),
      pa,
      BigInt(size),
      IOMMU_READ | IOMMU_WRITE,
      GFP_KERNEL,
    );
    if (rc === 0) live.push({ iova, size });
  }
  return live;
}

/** IOVAs to ask about: ends and random pages of each mapping, their neighbours, random ones. */
function probes(live: Mapping[], rand: (n: number) => number): number[] {
  const out: number[] = [];
  for (const m of live) {
    out.push(m.iova, m.iova + m.size - 1, m.iova - K4, m.iova + m.size);
    for (let k = 0; k < 8; k++) out.push(m.iova + rand(m.size));
  }
  for (let k = 0; k < 200; k++) out.push(rand(2 ** 32) * 2 ** 16 + rand(2 ** 16));
  // beyond the domain's width, and beyond 2^53
  out.push(2 ** 48, 2 ** 52 + 4096, 2 ** 53 + 2 * 4096);
  return out.filter((a) => a >= 0);
}

/** The addresses of the domain's present entries, tables and leaves, from the top table down. */
function presentEntries(d: dmar_domain, read: (pa: number) => [number, number]): number[] {
  const entries: number[] = [];
  const visit = (table: number, level: number) => {
    for (let i = 0; i < 512; i++) {
      const [lo, hi] = read(table + 8 * i);
      if ((lo & 3) === 0) continue;
      entries.push(table + 8 * i);
      if (level === 1 || lo & 0x80) continue;
      visit((hi & 0xfffff) * 2 ** 32 + ((lo & ~0xfff) >>> 0), level - 1);
    }
  };
  visit(d.pgd!.pfn * K4, d.agaw + 2);
  return entries;
}

function compare(
  m: Machine,
  domain: iommu_domain,
  as: number[],
  flipped: boolean,
): { fast: number; fallback: number } {
  const d = to_dmar_domain(domain);
  const mem = m.physmem;
  let fast = 0, fallback = 0;
  // Record the frames each path reads: the fast path through slotAt(), the general one through
  // read64Parts() (whose own slotAt() is not recorded).
  const read: number[] = [];
  let inGeneral = false;
  const slotAt = mem.slotAt.bind(mem), read64Parts = mem.read64Parts.bind(mem);
  mem.slotAt = (hi, lo) => {
    if (!inGeneral) read.push(hi * 2 ** 32 + ((lo & ~0xfff) >>> 0));
    return slotAt(hi, lo);
  };
  mem.read64Parts = (pa, out) => {
    read.push(pa - (pa % K4));
    inGeneral = true;
    try {
      read64Parts(pa, out);
    } finally {
      inGeneral = false;
    }
  };
  try {
    for (const a of as) {
      read.length = 0;
      const f = iovaToPhysFast(d, a);
      const fastReads = [...read];
      read.length = 0;
      const g = general(domain, a);
      const generalReads = [...read];
      if (f === -1) {
        fallback++;
        continue;
      }
      fast++;
      assert.equal(f, g, `iova 0x${a.toString(16)}: fast 0x${f.toString(16)}, general ${g}`);
      // The general path reads the entry it stopped at once more, to translate it.
      assert.deepEqual(
        fastReads,
        generalReads.slice(0, fastReads.length),
        `iova 0x${a.toString(16)}: the same entries`,
      );
      assert.ok(
        generalReads.length - fastReads.length <= 1,
        `iova 0x${a.toString(16)}: fast ${fastReads.length} reads, general ${generalReads.length}`,
      );
    }
  } finally {
    mem.slotAt = slotAt;
    mem.read64Parts = read64Parts;
  }
  if (!flipped) assert.equal(fallback, 3, "only the three IOVAs beyond the width fall back");
  return { fast, fallback };
}

for (const stage of ["second", "first"] as const) {
  Deno.test(`iova_to_phys fast path ≡ the kernel's walk: ${stage}-stage tables`, () => {
    for (let seed = 1; seed <= 12; seed++) {
      const rand = rng(Math.imul(seed, 0x9e3779b1) + (stage === "first" ? 1 : 0));
      const m = new Machine({ memory: RAM });
      m.addIommu({ kind: "vtd" });
      const vmm = m.spawn({ comm: "vmm" });
      const dev = m.addDevice({ iommu: "dmar0" });
      runAs(vmm.task, () => {
        const domain = stage === "first"
          ? iommu_paging_domain_alloc(dev)
          : intel_iommu_ops.domain_alloc_user!(dev, 0, null, null);
        if (!("type" in domain)) throw domain;
        assert.equal(to_dmar_domain(domain).use_first_level, stage === "first");
        const live = build(domain, rand, 60);
        assert.ok(live.length > 3, `seed ${seed}: some mappings`);
        const as = probes(live, rand);
        const clean = compare(m, domain, as, false);
        assert.ok(clean.fast > as.length - 4);
        // Flip random bits of random entries in the tables, then compare again.
        const mem = m.physmem;
        const entries = presentEntries(to_dmar_domain(domain), (pa) => {
          const v = new Uint32Array(2);
          mem.read64Parts(pa, v);
          return [v[0], v[1]];
        });
        for (let k = 0; k < 24; k++) {
          const pa = entries[rand(entries.length)];
          const word = rand(2), bit = word ? rand(20) : [0, 1, 7, 12, 20, 31][rand(6)];
          const at = pa + 4 * word;
          mem.write32(at, (mem.read32(at) ^ (1 << bit)) >>> 0);
        }
        const flipped = compare(m, domain, as, true);
        assert.ok(flipped.fast > 0);
      });
    }
  });
}
