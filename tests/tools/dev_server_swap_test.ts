/**
 * The edit loop's quick path: a prose edit's `reload` event names the pages it changed and those
 * that changed only inside `<main>` (which the pages' client updates in place), lib/ is not
 * re-tangled before the event, and the pages written equal a fresh build's; the figures' keys,
 * read from lib/ once while the model stays the same, follow an edit of the model's code.
 */
import assert from "node:assert/strict";
import { startDevServer } from "../../tools/site/dev_server.ts";
import { buildSite, differsOnlyInMain } from "../../tools/site/build.ts";
import { eventsOf, md, tempProject } from "./fixture.ts";

Deno.test("differsOnlyInMain: the same page outside <main>, or not", () => {
  const page = (head: string, main: string, foot = "") =>
    `<html><head>${head}</head><body><main id="_text">${main}</main>${foot}</body></html>`;
  assert.equal(differsOnlyInMain(page("t", "<p>a</p>"), page("t", "<p>b</p><p>c</p>")), true);
  assert.equal(differsOnlyInMain(page("t", "<p>a</p>"), page("u", "<p>b</p>")), false);
  assert.equal(differsOnlyInMain(page("t", "a"), page("t", "b", "<nav></nav>")), false);
  assert.equal(differsOnlyInMain("<p>no main</p>", "<p>no main either</p>"), false);
  assert.equal(
    differsOnlyInMain(page("t", "a"), page("t", "a").replace('<main id="_text">', "<main>")),
    false,
    "the <main> tag itself is outside",
  );
});

const FIG = (width: number) => [
  "export function boxFigure() {",
  `  return { width: ${width}, height: 20, body: '<rect x="0" y="0" width="${width}" height="20"/>', title: "A box", desc: "One box." };`,
  "}",
];

const chapterA = (width: number, prose = "Apples.") =>
  md(
    "# A",
    "",
    prose,
    "",
    "See [](#fig-box).",
    "",
    "```ts {#fig}",
    ...FIG(width),
    "```",
    "",
    "```ts {file=lib/fig.ts}",
    "<<fig>>",
    "```",
    "",
    "```figure {#fig-box fn=boxFigure}",
    "A box.",
    "```",
  );

Deno.test("serve: a prose edit's reload names the pages changed only in <main>, before lib/ is re-tangled; the pages equal a fresh build's", async () => {
  const root = await tempProject({
    "site/style.css": "",
    "spec/01-a.md": chapterA(40),
    "spec/02-b.md": md("# B", "", "Bananas."),
  });
  // lib/fig.ts as it is when the server logs a rebuild, just before it sends the reload.
  const libAtReload: string[] = [];
  const log = (line: string) => {
    if (line.startsWith("rebuilt in")) {
      libAtReload.push(Deno.readTextFileSync(`${root}/lib/fig.ts`));
    }
  };
  const server = await startDevServer({ root, port: 0, typecheck: false, log });
  const fresh = await Deno.makeTempDir({ prefix: "fresh-site-" });
  try {
    const events = eventsOf((await fetch(`${server.url}_live/events`)).body!);
    await events.next("search");
    assert.match(await Deno.readTextFile(`${root}/lib/fig.ts`), /spec\/01-a\.md:7/);
    // Two lines of prose above the block: its line moves from 7 to 9.
    await Deno.writeTextFile(`${root}/spec/01-a.md`, chapterA(40, "Apples.\n\nRipe ones."));
    const reload = await events.next("reload") as {
      changed: string[];
      mainOnly: string[];
      searching: boolean;
    };
    assert.ok(reload.changed.includes("a.html"), JSON.stringify(reload));
    assert.ok(reload.mainOnly.includes("a.html"), "the chapter page changed only in <main>");
    assert.ok(!reload.changed.includes("b.html"), "the other chapter's page is the same");
    assert.equal(reload.searching, true, "a new search index is coming");
    assert.match(
      libAtReload.at(-1)!,
      /spec\/01-a\.md:7/,
      "lib/ is not re-tangled before the reload",
    );
    await server.rebuild(); // and lib/'s line maps follow
    assert.match(await Deno.readTextFile(`${root}/lib/fig.ts`), /spec\/01-a\.md:9/);

    // The pages served equal those of a fresh build of the same spec.
    const built = await buildSite({ root, outDir: fresh, search: false });
    assert.deepEqual(built.problems, []);
    for (const page of ["a.html", "b.html", "index.html", "source/01-a.md.html"]) {
      assert.equal(
        await Deno.readTextFile(`${root}/_site/${page}`),
        await Deno.readTextFile(`${fresh}/${page}`),
        page,
      );
    }

    // An edit of the model's code draws the figure again (the memo of lib/ is dropped).
    assert.match(await Deno.readTextFile(`${root}/_site/a.html`), /width="40"/);
    await Deno.writeTextFile(`${root}/spec/01-a.md`, chapterA(64, "Apples.\n\nRipe ones."));
    await server.rebuild(); // after any the watcher started: it reads the saved chapter
    assert.match(await Deno.readTextFile(`${root}/_site/a.html`), /width="64"/);
    assert.doesNotMatch(await Deno.readTextFile(`${root}/_site/a.html`), /width="40"/);
    await events.cancel();
  } finally {
    await server.close();
    await Deno.remove(root, { recursive: true });
    await Deno.remove(fresh, { recursive: true });
  }
});
