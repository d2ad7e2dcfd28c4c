/**
 * The one-way house: `lib/` is built in layers and imports run down the stack (DESIGN.md §2).
 * This test reads the import lines the tangler wrote, and fails on a value import from a lower
 * layer to a higher one, or on a value-import cycle that crosses a subsystem, naming the edge.
 * Type-only imports are free: they vanish at run time.
 *
 * @module
 */
import assert from "node:assert/strict";

const LIB = new URL("../lib/", import.meta.url);

/** The layers, bottom first; a file belongs to the first prefix it starts with. */
export const LAYERS: [prefix: string, layer: string][] = [
  ["errno.ts", "errno"],
  ["uapi/", "uapi"],
  ["hw/", "hw"],
  ["kernel/", "kernel/mm"],
  ["mm/", "kernel/mm"],
  ["fs/", "kernel/mm"],
  ["lib/", "lib"],
  ["iommu/", "iommu"],
  ["drivers/", "drivers"],
  ["iommufd/", "iommufd"],
  ["vfio/", "vfio"],
  ["user/", "user"],
  ["machine.ts", "machine"],
  ["figures/", "figures"],
];

const ORDER = [...new Set(LAYERS.map(([, l]) => l))];

/**
 * Subsystems whose files may import each other both ways, as the kernel's own files do; each
 * with the reason the chapters give.
 */
const CYCLES_ALLOWED: Record<string, string> = {
  "mm/": "charging, the page allocator and the OOM killer call each other (mm/memcontrol.c, " +
    "mm/page_alloc.c, mm/oom_kill.c), as in Linux",
  "iommufd/": "one subsystem: the object handlers call each other through iommufd_private.h, " +
    "and the selftest build's hooks sit inside ioas.c and the core (drivers/iommu/iommufd/)",
  "drivers/intel/": "the VT-d driver's files share dmar_domain and call each other " +
    "(drivers/iommu/intel/iommu.c, pasid.c, cache.c, nested.c)",
};

function layerOf(path: string): string {
  const hit = LAYERS.find(([prefix]) => path.startsWith(prefix));
  if (!hit) throw new Error(`lib/${path} is in no layer: add its directory to LAYERS`);
  return hit[1];
}

/** Value-import edges of lib/, as paths relative to lib/. */
async function valueEdges(): Promise<[string, string][]> {
  const files: string[] = [];
  const walk = async (dir: URL, rel: string) => {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) await walk(new URL(`${e.name}/`, dir), `${rel}${e.name}/`);
      else if (e.name.endsWith(".ts") && `${rel}${e.name}` !== "internal.ts") {
        files.push(`${rel}${e.name}`);
      }
    }
  };
  await walk(LIB, "");
  const edges: [string, string][] = [];
  const IMPORT = /^import (type )?\{([^}]*)\} from "([^"]+)";/gm;
  for (const file of files.sort()) {
    const text = await Deno.readTextFile(new URL(file, LIB));
    for (const m of text.matchAll(IMPORT)) {
      const names = m[2].split(",").map((s) => s.trim()).filter(Boolean);
      if (m[1] || names.every((n) => n.startsWith("type "))) continue;
      const target = new URL(m[3], new URL(file, LIB)).href.slice(LIB.href.length);
      edges.push([file, target]);
    }
  }
  return edges;
}

/** Strongly connected components of more than one file (Tarjan). */
function cycles(edges: [string, string][]): string[][] {
  const next = new Map<string, string[]>();
  for (const [a, b] of edges) next.set(a, [...next.get(a) ?? [], b]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    on.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of new Set(edges.flat())) if (!index.has(v)) visit(v);
  return out;
}

Deno.test("layers: no value import runs up the stack", async () => {
  const edges = await valueEdges();
  const upward = edges.filter(([a, b]) => ORDER.indexOf(layerOf(a)) < ORDER.indexOf(layerOf(b)))
    .map(([a, b]) => `lib/${a} (${layerOf(a)}) imports lib/${b} (${layerOf(b)})`);
  assert.deepEqual(upward, [], "value imports from a lower layer to a higher one");
  const counts = new Map<string, number>();
  for (const [a, b] of edges) {
    const key = `${layerOf(a)} → ${layerOf(b)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  console.log(
    `lib/: ${edges.length} value imports, none upward; by layer: ` +
      [...counts].map(([k, n]) => `${k} ${n}`).join(", "),
  );
});

Deno.test("layers: value-import cycles stay inside one subsystem, for the reason given", async () => {
  const found = cycles(await valueEdges());
  const crossing = found.filter((scc) => {
    const dir = Object.keys(CYCLES_ALLOWED).find((d) => scc.every((f) => f.startsWith(d)));
    return dir === undefined;
  });
  assert.deepEqual(crossing.map((scc) => scc.map((f) => `lib/${f}`).join(" ⇄ ")), []);
  for (const scc of found) console.log(`allowed cycle: ${scc.map((f) => `lib/${f}`).join(" ⇄ ")}`);
});

Deno.test("layers: the check sees an upward import when there is one", () => {
  // The table itself: the user layer sits above iommufd, hardware below the kernel.
  assert.ok(ORDER.indexOf(layerOf("kernel/task.ts")) < ORDER.indexOf(layerOf("user/process.ts")));
  assert.ok(ORDER.indexOf(layerOf("hw/vtd/unit.ts")) < ORDER.indexOf(layerOf("machine.ts")));
  assert.deepEqual(
    cycles([["a.ts", "b.ts"], ["b.ts", "c.ts"], ["c.ts", "a.ts"], ["c.ts", "d.ts"]]),
    [["a.ts", "b.ts", "c.ts"]],
  );
});
