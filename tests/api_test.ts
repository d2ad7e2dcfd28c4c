/**
 * The public API: mod.ts is a curated surface, and the examples — what a newcomer copies — use
 * nothing else.
 */
import assert from "node:assert/strict";
import * as api from "../mod.ts";

const ROOT = new URL("../", import.meta.url);

Deno.test("api: mod.ts exports a small surface, the uAPI as namespaces", () => {
  const names = Object.keys(api);
  assert.ok(names.length >= 40 && names.length <= 100, `${names.length} runtime names`);
  for (const internal of ["kzalloc", "xa_load", "iopt_map_pages", "task_struct", "to_pci_dev"]) {
    assert.equal(internal in api, false, `${internal} is internal`);
  }
  assert.equal(typeof api.uapi.IOMMU_IOAS_ALLOC, "number");
  assert.equal(api.vfio.vfio_device_info.sizeof, 24);
  assert.equal(api.selftest.iommu_test_cmd.sizeof, 72);
  const readme = Deno.readTextFileSync(new URL("README.md", ROOT));
  const said = readme.match(/\(mod\.ts\) \((\d+) runtime names/)?.[1];
  assert.equal(Number(said), names.length, "the README's count of mod.ts's runtime names");
});

Deno.test("api: every example imports the model from mod.ts only", async () => {
  for await (const e of Deno.readDir(new URL("examples/", ROOT))) {
    if (!e.name.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(new URL(`examples/${e.name}`, ROOT));
    const from = [...text.matchAll(/from "([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(from.filter((f) => f !== "../mod.ts"), [], e.name);
  }
});

Deno.test("api: every export of mod.ts is documented", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", "mod.ts"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  const doc = JSON.parse(new TextDecoder().decode(out.stdout));
  const module = doc.nodes[new URL("mod.ts", ROOT).href];
  type Symbol = { name: string; declarations: { jsDoc?: { doc?: string } }[] };
  const symbols: Symbol[] = module.symbols;
  assert.ok(symbols.length >= 40, `${symbols.length} symbols`);
  const undocumented = symbols.filter((s) => !s.declarations.some((d) => d.jsDoc?.doc))
    .map((s) => s.name);
  assert.deepEqual([...new Set(undocumented)], []);
});
