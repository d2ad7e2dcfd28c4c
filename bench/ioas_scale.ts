/**
 * Scale of IOMMU_IOAS_MAP and IOMMU_IOAS_UNMAP (spec chapters 13 and 14): how long mapping and
 * unmapping guest memory takes, and how much memory the process holds meanwhile.
 *
 *   deno task bench:ioas            (or: deno run -A --v8-flags=--expose-gc bench/ioas_scale.ts)
 *
 * Scenarios, each run `RUNS` times on a fresh machine (medians reported):
 *
 * - `1GiB-4K-mock`: 1 GiB of user memory in 4 KiB pages into an IOAS with one attached mock domain
 *   (the selftest's driver, 2 KiB IO pages: 512 Ki IOPTEs). Memory is faulted in by the pin, as
 *   when a VMM maps guest RAM it has not touched; `1GiB-4K-mock-prefaulted` touches it first.
 * - `64GiB-2M-dmar0`: 64 GiB of 2 MiB-aligned transparent huge pages into a VT-d domain on dmar0
 *   (spec chapter 19): the Intel driver writes 2 MiB second-stage leaves into the machine's
 *   physical memory, and reads them back with iova_to_phys, once per 4 KiB, when iommufd unmaps.
 *
 * Output: one JSON object per scenario on stdout — median, minimum and maximum of the map and unmap
 * times in ms (wall, and the process's CPU time: the machine may be shared), and of the memory the
 * process holds above what it held before the map, while the mapping exists: JavaScript heap
 * (heapUsed) and memory outside the heap (external: the ArrayBuffers of typed arrays, among them
 * the frames of the machine's physical memory), in MiB, after a garbage collection when --expose-gc
 * allows one. (Not the resident set size: the allocator returns the garbage of the set-up to the
 * system at its own pace, so the difference came out 580 MiB below zero.) Also the IOMMU
 * page-table pages the domain holds (NR_IOMMU_PAGES) while mapped.
 *
 * @module
 */
import process from "node:process";
import { CAP_IPC_LOCK, Machine, MADV_HUGEPAGE, PAGE_SIZE } from "./model.ts";

const RUNS = Number(Deno.env.get("RUNS") ?? 5);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const MiB = 2 ** 20;
/** Process CPU time (user + system) of a `process.cpuUsage()` difference, in ms. */
const cpuMs = (c: { user: number; system: number }) => (c.user + c.system) / 1000;

interface Scenario {
  name: string;
  length: bigint;
  memory: number;
  iommu: string;
  huge: boolean;
  prefault: boolean;
}

const G = 1n << 30n;
const scenarios: Scenario[] = [
  {
    name: "1GiB-4K-mock",
    length: G,
    memory: 4 * 2 ** 30,
    iommu: "mock0",
    huge: false,
    prefault: false,
  },
  {
    name: "1GiB-4K-mock-prefaulted",
    length: G,
    memory: 4 * 2 ** 30,
    iommu: "mock0",
    huge: false,
    prefault: true,
  },
  {
    name: "64GiB-2M-dmar0",
    length: 64n * G,
    memory: 80 * 2 ** 30,
    iommu: "dmar0",
    huge: true,
    prefault: false,
  },
];

/**
 * A full garbage collection, then a moment for V8 to free the ArrayBuffers it found dead: their
 * memory is returned by a sweeper that runs after the collection, so `external` read at once still
 * counted the previous run's machine.
 */
async function settle(): Promise<void> {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function run(s: Scenario) {
  const m = new Machine({ memory: s.memory });
  if (s.iommu === "dmar0") m.addIommu({ kind: "vtd" });
  const vmm = m.spawn({ capabilities: [CAP_IPC_LOCK], comm: "vmm" });
  const ram = vmm.mmap(s.length);
  if (s.huge) vmm.madvise(ram, s.length, MADV_HUGEPAGE);
  if (s.prefault) {
    for (let off = 0n; off < s.length; off += BigInt(PAGE_SIZE)) {
      vmm.write(ram + off, new Uint8Array([1]));
    }
  }
  const fd = vmm.openIommufd();
  const ioas_id = fd.ioasAlloc();
  fd.attach(fd.bind(m.addDevice({ iommu: s.iommu })), ioas_id);
  await settle();
  const before = Deno.memoryUsage();
  let t = performance.now();
  let cpu = process.cpuUsage();
  const iova = fd.ioasMap({ ioas_id, user_va: ram, length: s.length });
  const map_ms = performance.now() - t;
  const map_cpu_ms = cpuMs(process.cpuUsage(cpu));
  await settle();
  const mapped = Deno.memoryUsage();
  const iommu_pages = m.pgdat.vm_stat.NR_IOMMU_PAGES;
  t = performance.now();
  cpu = process.cpuUsage();
  fd.ioasUnmap(ioas_id, iova, s.length);
  const unmap_ms = performance.now() - t;
  const unmap_cpu_ms = cpuMs(process.cpuUsage(cpu));
  fd.close();
  return {
    map_ms,
    unmap_ms,
    map_cpu_ms,
    unmap_cpu_ms,
    external_mapped: mapped.external - before.external,
    heap_mapped: mapped.heapUsed - before.heapUsed,
    iommu_pages,
  };
}

for (const s of scenarios) {
  const runs: Awaited<ReturnType<typeof run>>[] = [];
  for (let r = 0; r < RUNS; r++) runs.push(await run(s));
  const stat = (k: keyof Awaited<ReturnType<typeof run>>, scale = 1) => {
    const xs = runs.map((r) => r[k] / scale);
    return {
      median: +median(xs).toFixed(1),
      min: +Math.min(...xs).toFixed(1),
      max: +Math.max(...xs).toFixed(1),
    };
  };
  console.log(JSON.stringify({
    scenario: s.name,
    runs: RUNS,
    map_ms: stat("map_ms"),
    unmap_ms: stat("unmap_ms"),
    map_cpu_ms: stat("map_cpu_ms"),
    unmap_cpu_ms: stat("unmap_cpu_ms"),
    external_mapped_mib: stat("external_mapped", MiB),
    heap_mapped_mib: stat("heap_mapped", MiB),
    iommu_pages: stat("iommu_pages"),
  }));
}
