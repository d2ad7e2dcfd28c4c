/**
 * Issue 10: the Intel driver's iova_to_phys remembers the superpage its last fast walk ended at
 * (spec/19-vtd-driver.md, #iova-to-phys-leaf-memo) and answers from it while physical memory's
 * `writes` count and the domain's top table are unchanged. Between two calls in the same superpage
 * the tables are mutated — a bit of an entry at any level flipped through each writing method of
 * `PhysMem` (`write8`, `write16`, `write32`, `writeBytes`), a table frame discarded, the mapping
 * unmapped or mapped anew, or nothing — and every answer must equal the kernel's walk with the
 * fast path (and so the memo) off. The memo must answer (no entry read) when nothing changed, and
 * the mutations must often change the answer, so that a memo kept past a write would be caught.
 * Seeded: the same cases on every run.
 */
import assert from "node:assert/strict";
import {
  type dmar_domain,
  GFP_KERNEL,
  intel_iommu_ops,
  type iommu_domain,
  iommu_iova_to_phys,
  iommu_map,
  iommu_paging_domain_alloc,
  IOMMU_READ,
  iommu_unmap,
  IOMMU_WRITE,
  Machine,
  type PhysMem,
  runAs,
  to_dmar_domain,
} from "../../lib/internal.ts";
import { generalIovaToPhys as general } from "./iova_to_phys_general.ts";
import { rng } from "../rng.ts";

const K4 = 2 ** 12, M2 = 2 ** 21, G1 = 2 ** 30;
const RAM = 8 * G1;

/** The kernel's walk: the fast path, and with it the memo, switched off. */
/** The addresses of the entries the general walk reads for `a`, top table first. */
function pathEntries(d: dmar_domain, mem: PhysMem, a: number): number[] {
  const out: number[] = [];
  let table = d.pgd!.pfn * K4;
  for (let level = d.agaw + 2; level >= 1; level--) {
    const index = Math.floor(a / 2 ** (12 + 9 * (level - 1))) % 512;
    const pa = table + 8 * index;
    if (pa >= mem.size) break;
    out.push(pa);
    const lo = mem.read32(pa), hi = mem.read32(pa + 4);
    if ((lo & 3) === 0 || lo & 0x80 || level === 1) break;
    table = (hi & 0xfffff) * 2 ** 32 + ((lo & ~0xfff) >>> 0);
  }
  return out;
}

type Mutation =
  | "none"
  | "write8"
  | "write16"
  | "write32"
  | "writeBytes"
  | "discard"
  | "unmap"
  | "remap";
const MUTATIONS: Mutation[] = [
  "none",
  "write8",
  "write16",
  "write32",
  "writeBytes",
  "discard",
  "unmap",
  "remap",
];

/** Changes the tables behind `a` (in the superpage at `base`, `size` bytes) by `how`. */
function mutate(
  how: Mutation,
  m: Machine,
  domain: iommu_domain,
  a: number,
  base: number,
  size: number,
  rand: (n: number) => number,
): void {
  const mem = m.physmem;
  const path = pathEntries(to_dmar_domain(domain), mem, a);
  const pa = path[rand(path.length)];
  // a bit of the entry: present, superpage, or an address bit (low or high word)
  const bit = [0, 1, 7, 12, 21, 30, 32, 33, 40][rand(9)];
  const at = pa + (bit >= 32 ? 4 : 0), b = bit % 32;
  switch (how) {
    case "none":
      return;
    case "write8":
      return mem.write8(at + (b >> 3), mem.read8(at + (b >> 3)) ^ (1 << (b & 7)));
    case "write16":
      return mem.write16(at + (b >> 4) * 2, mem.read16(at + (b >> 4) * 2) ^ (1 << (b & 15)));
    case "write32":
      return mem.write32(at, (mem.read32(at) ^ (1 << b)) >>> 0);
    case "writeBytes": {
      const bytes = mem.readBytes(at, 4);
      bytes[b >> 3] ^= 1 << (b & 7);
      return mem.writeBytes(at, bytes);
    }
    case "discard":
      return mem.discard(Math.floor(pa / K4), 1);
    case "unmap":
      iommu_unmap(domain, BigInt(base), BigInt(size));
      return;
    case "remap": {
      iommu_unmap(domain, BigInt(base), BigInt(size));
      const pa2 = G1 + Math.floor(rand(RAM - 2 * G1) / size) * size;
      iommu_map(domain, BigInt(base), pa2, BigInt(size), IOMMU_READ | IOMMU_WRITE, GFP_KERNEL);
      return;
    }
  }
}

for (const stage of ["second", "first"] as const) {
  Deno.test(`iova_to_phys leaf memo ≡ the kernel's walk under mutations: ${stage}-stage`, () => {
    const hits: Record<string, number> = {};
    let changed = 0, noneCases = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const rand = rng(Math.imul(seed, 0x2545f491) + (stage === "first" ? 7 : 0));
      const m = new Machine({ memory: RAM });
      m.addIommu({ kind: "vtd" });
      const vmm = m.spawn({ comm: "vmm" });
      const dev = m.addDevice({ iommu: "dmar0" });
      const mem = m.physmem;
      runAs(vmm.task, () => {
        for (let k = 0; k < 150; k++) {
          // a fresh domain each time (the mutations may leave tables the driver cannot unmap)
          const domain = stage === "first"
            ? iommu_paging_domain_alloc(dev)
            : intel_iommu_ops.domain_alloc_user!(dev, 0, null, null);
          if (!("type" in domain)) throw domain;
          // a fresh superpage (2 MiB or 1 GiB), mapped; sometimes a 4 KiB page beside it
          const size = rand(4) === 0 ? G1 : M2;
          const base = Math.floor(rand(2 ** 32) * (2 ** 39 / 2 ** 32) / size) * size;
          const pa = G1 + Math.floor(rand(RAM - 2 * G1) / size) * size;
          const rc = iommu_map(
            domain,
            BigInt(base),
            pa,
            BigInt(size),
            IOMMU_READ | IOMMU_WRITE,
            GFP_KERNEL,
          );
          assert.equal(rc, 0);
          if (rand(3) === 0) {
            iommu_map(domain, BigInt(base + size), G1, BigInt(K4), IOMMU_READ, GFP_KERNEL);
          }
          // the first call walks and remembers the superpage
          const a1 = base + rand(size);
          assert.equal(iommu_iova_to_phys(domain, a1), general(domain, a1));
          const before = general(domain, a1);
          const how = MUTATIONS[rand(MUTATIONS.length)];
          mutate(how, m, domain, a1, base, size, rand);
          // the second, in the same superpage (or at its edges and beyond): the walk's answer
          const a2 = [base + rand(size), a1, base, base + size - 1, base + size][rand(5)];
          let reads = 0;
          const slotAt = mem.slotAt;
          mem.slotAt = (hi, lo) => (reads++, slotAt.call(mem, hi, lo));
          let got: number | "throws";
          try {
            got = iommu_iova_to_phys(domain, a2);
          } catch {
            got = "throws";
          } finally {
            mem.slotAt = slotAt;
          }
          const want = general(domain, a2);
          assert.equal(
            got,
            want,
            `seed ${seed} step ${k}: ${how} then 0x${a2.toString(16)}: ${got} ≠ the walk's ${want}`,
          );
          if (reads === 0) hits[how] = (hits[how] ?? 0) + 1;
          if (how !== "none" && general(domain, a1) !== before) changed++;
          if (how === "none" && a2 < base + size) noneCases++;
        }
      });
    }
    // Nothing changed: the memo answered without reading an entry, every time.
    assert.equal(hits.none, noneCases, "the memo answers when memory is unchanged");
    // After any write it walks again.
    for (const how of MUTATIONS) if (how !== "none") assert.equal(hits[how] ?? 0, 0, how);
    // The mutations have teeth: many change the answer the memo would have kept.
    assert.ok(changed > 200, `${changed} mutations changed the answer`);
  });
}
