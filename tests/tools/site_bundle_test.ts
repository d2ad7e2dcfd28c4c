/**
 * The panels' bundle cache (tools/site/bundle.ts): its key changes with the model, the panels and
 * the lock file, and with nothing else; a second bundle of unchanged inputs comes from the cache.
 */
import assert from "node:assert/strict";
import { bundleInputHash, bundlePanels } from "../../tools/site/bundle.ts";

Deno.test("panel bundles: the cache key follows lib/, site/panels/ and deno.lock only", async () => {
  const root = await Deno.makeTempDir({ prefix: "bundle-hash-" });
  try {
    await Deno.mkdir(`${root}/lib/hw`, { recursive: true });
    await Deno.mkdir(`${root}/site/panels`, { recursive: true });
    await Deno.mkdir(`${root}/spec`);
    await Deno.writeTextFile(`${root}/lib/hw/a.ts`, "export const a = 1;\n");
    await Deno.writeTextFile(`${root}/site/panels/walk.ts`, "export const w = 1;\n");
    await Deno.writeTextFile(`${root}/deno.json`, "{}\n");
    await Deno.writeTextFile(`${root}/deno.lock`, "{}\n");
    const h0 = await bundleInputHash(root);
    assert.match(h0, /^[0-9a-f]{16}$/);
    // Prose and other files do not change it.
    await Deno.writeTextFile(`${root}/spec/01-x.md`, "# x\n");
    await Deno.writeTextFile(`${root}/site/style.css`, "p {}\n");
    assert.equal(await bundleInputHash(root), h0);
    // The model, a panel and the lock file do.
    await Deno.writeTextFile(`${root}/lib/hw/a.ts`, "export const a = 2;\n");
    const h1 = await bundleInputHash(root);
    assert.notEqual(h1, h0);
    await Deno.writeTextFile(`${root}/site/panels/walk.ts`, "export const w = 2;\n");
    const h2 = await bundleInputHash(root);
    assert.notEqual(h2, h1);
    await Deno.writeTextFile(`${root}/deno.lock`, '{"version":"5"}\n');
    const h3 = await bundleInputHash(root);
    assert.notEqual(h3, h2);
    // A file moved to another path is a different input.
    await Deno.rename(`${root}/lib/hw/a.ts`, `${root}/lib/b.ts`);
    assert.notEqual(await bundleInputHash(root), h3);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("panel bundles: the real panels bundle once, then come from the cache", async () => {
  const root = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
  await bundlePanels(root); // cold or warm
  const warm = await bundlePanels(root);
  assert.equal(warm.cached, true);
  assert.deepEqual([...warm.files.keys()], [
    "panel-walk.js",
    "panel-console.js",
    "panel-loader.js",
  ]);
  // Each is a module exporting the panel's mount().
  assert.match(warm.files.get("panel-walk.js")!, /export\{[^}]*\bmount\b/);
  assert.match(warm.files.get("panel-console.js")!, /export\{[^}]*\bmount\b/);
  // The model is bundled, not re-implemented: the walker's check ids are in the walk bundle.
  assert.ok(warm.files.get("panel-walk.js")!.includes("vtd-ss-check-perm"));
});
