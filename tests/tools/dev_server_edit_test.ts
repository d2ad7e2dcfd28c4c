/**
 * The edit loop of `deno task serve` (issue 10, item 5): a prose edit re-renders only its chapter,
 * reloads the page before `lib/` is rewritten (lib/ then follows with its line maps), and the
 * search index follows in the background; a moved line does not make the figures or the panels'
 * bundles stale.
 */
import assert from "node:assert/strict";
import { startDevServer } from "../../tools/site/dev_server.ts";
import { bundleInputHash } from "../../tools/site/bundle.ts";
import { withoutSpecLines } from "../../tools/site/figures.ts";
import { eventsOf, md, tempProject } from "./fixture.ts";

Deno.test("serve: a prose edit renders one chapter, reloads, then lib/ follows with its line maps", async () => {
  const a = md(
    "# A",
    "",
    "Apples.",
    "",
    "```ts {#one}",
    "export const a = 1;",
    "```",
    "",
    "```ts {file=lib/a.ts}",
    "<<one>>",
    "```",
  );
  const b = md("# B", "", "Bananas.");
  const root = await tempProject({ "site/style.css": "", "spec/01-a.md": a, "spec/02-b.md": b });
  const lines: string[] = [];
  const server = await startDevServer({
    root,
    port: 0,
    typecheck: false,
    log: (l) => lines.push(l),
  });
  try {
    assert.match(await Deno.readTextFile(`${root}/lib/a.ts`), /spec\/01-a\.md:5/);
    const events = eventsOf((await fetch(`${server.url}_live/events`)).body!);
    // The index of the first build is in place: a page that connects is told so.
    await events.next("search");
    lines.length = 0;
    // Two lines of prose above the block: its line moves from 5 to 7.
    await Deno.writeTextFile(`${root}/spec/01-a.md`, a.replace("Apples.", "Apples.\n\nRipe."));
    await events.next("reload");
    assert.match(await (await fetch(`${server.url}a.html`)).text(), /Ripe\./);
    await events.next("search");
    await server.rebuild(); // waits for the edit's rebuild, lib/ included, to finish
    assert.match(await Deno.readTextFile(`${root}/lib/a.ts`), /spec\/01-a\.md:7/);
    const log = lines.join("\n");
    assert.match(log, /^rebuilt in \d+ ms$/m, "no lib/ before the reload");
    assert.match(
      log,
      /^ {2}1 chapters rendered afresh; \d+ ms of CPU$/m,
      "only the edited chapter",
    );
    assert.match(log, /^lib\/: lib\/a\.ts \(line maps\)$/m);
    await events.cancel();
  } finally {
    await server.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("serve: figures and panel bundles are keyed on lib/ without its spec line numbers", async () => {
  assert.equal(
    withoutSpecLines("// ⟨one⟩ spec/01-a.md:5\nexport const a = 1; // see spec/17-x.md:12"),
    "// ⟨one⟩ spec/01-a.md\nexport const a = 1; // see spec/17-x.md",
  );
  const root = await tempProject({ "lib/a.ts": "// ⟨one⟩ spec/01-a.md:5\nexport const a = 1;\n" });
  const before = await bundleInputHash(root);
  await Deno.writeTextFile(`${root}/lib/a.ts`, "// ⟨one⟩ spec/01-a.md:7\nexport const a = 1;\n");
  assert.equal(await bundleInputHash(root), before, "a moved line is no new model");
  await Deno.writeTextFile(`${root}/lib/a.ts`, "// ⟨one⟩ spec/01-a.md:7\nexport const a = 2;\n");
  assert.notEqual(await bundleInputHash(root), before, "new code is");
  await Deno.remove(root, { recursive: true });
});
