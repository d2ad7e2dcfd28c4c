import assert from "node:assert/strict";
import { loadSpec } from "../../tools/literate/spec.ts";
import { tangle } from "../../tools/literate/tangle.ts";
import { buildXref } from "../../tools/site/xref.ts";
import { collectLedger, ledgerBody } from "../../tools/site/ledger.ts";
import { md, tangleOf } from "./fixture.ts";

const repo = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

async function realLedger() {
  const spec = await loadSpec(repo);
  return { spec, ...collectLedger(spec.chapters, buildXref(tangle(spec))) };
}

/** The lines of lib/ that carry a NON-KERNEL marker (lib/ is the tangled model blocks). */
async function libMarkers(): Promise<number> {
  let n = 0;
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts") && e.name !== "internal.ts") {
        n += (await Deno.readTextFile(path)).split("\n").filter((l) => l.includes("NON-KERNEL"))
          .length;
      }
    }
  };
  await walk(`${repo}/lib`);
  return n;
}

Deno.test("ledger: every NON-KERNEL marker of the model is an entry, linked to its block and line", async () => {
  const { entries, problems } = await realLedger();
  assert.deepEqual(problems, []);
  const nonKernel = entries.filter((e) => e.kind === "non-kernel");
  assert.equal(nonKernel.length, await libMarkers(), "one entry per NON-KERNEL line of lib/");
  // A known entry: the model's storage for Process::objcg (chapter 4, issue 14 L).
  const objcg = nonKernel.find((e) => e.subject === "taskObjcg");
  assert.ok(objcg, "taskObjcg is listed");
  assert.equal(objcg.chapter.path, "spec/04-memory-cgroups.md");
  assert.match(objcg.href, /^memory-cgroups\.html#current-obj-cgroup$/);
  assert.match(objcg.sourceHref, /^source\/04-memory-cgroups\.md\.html#L\d+$/);
  assert.match(objcg.text, /CURRENT_OBJCG_UPDATE_FLAG/);
  const line = objcg.chapter.text.split("\n")[objcg.line - 1];
  assert.match(line, /NON-KERNEL/, "the line number points at the marker");
});

Deno.test("ledger: @divergence tags and prose markers are entries of their kind", async () => {
  const { entries } = await realLedger();
  const charge = entries.find((e) => e.subject === "try_charge_memcg");
  assert.equal(charge?.kind, "simplification");
  assert.match(charge!.text, /per-CPU charge stock/);
  const hz = entries.find((e) => e.subject === "HZ");
  assert.equal(hz?.kind, "config");
  const kvzalloc = entries.find((e) => e.href === "access.html#div-no-kvzalloc-fallback");
  assert.equal(kvzalloc?.kind, "simplification");
  assert.match(kvzalloc!.text, /vmalloc/);
  const piotlb = entries.find((e) => e.href.endsWith("#div-vtd-piotlb-pasid-selective"));
  assert.equal(piotlb?.kind, "inferred");
  assert.match(piotlb!.text, /table 21/);
  const { html, toc } = ledgerBody(entries);
  assert.ok(html.includes('href="access.html#div-no-kvzalloc-fallback"'));
  assert.ok(html.includes("<code>taskObjcg</code>"));
  assert.deepEqual(toc.map((t) => t.id), [
    "kind-non-kernel",
    "kind-simplification",
    "kind-omitted",
    "kind-inferred",
    "kind-config",
  ]);
});

Deno.test("ledger: an unknown kind is a problem at its line; a marker in prose outside fences only", () => {
  const t = tangleOf({
    "spec/01-a.md": md(
      "# A",
      "",
      "**Divergence (whatever).** {#div-x} text",
      "",
      "```ts {#a file=lib/a.ts}",
      "/** @divergence nonsense text */",
      "export const a = 1;",
      "```",
      "",
      "```ts",
      "// **Divergence (omitted).** {#div-in-fence} not prose",
      "```",
    ),
  });
  const { entries, problems } = collectLedger(t.chapters, buildXref(t));
  assert.deepEqual(entries, []);
  assert.deepEqual(problems.map((p) => `${p.path}:${p.line}`), [
    "spec/01-a.md:6",
    "spec/01-a.md:3",
  ]);
});
