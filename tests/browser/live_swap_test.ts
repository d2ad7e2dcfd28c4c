/**
 * The pages' live-reload client in a real browser: a prose edit updates the open page in place —
 * no navigation, the same document — and the article then equals the page as served afresh; an
 * edit that changes more than `<main>` (here a new heading, which the contents list) reloads.
 *
 * Every wait is for an event (a page's text, a selector), never for a fixed time; {@link LIMIT}
 * only bounds how long a broken build may hang the test.
 */
import assert from "node:assert/strict";
import { launch } from "./chromium.ts";
import { startDevServer } from "../../tools/site/dev_server.ts";
import { md, tempProject } from "../tools/fixture.ts";

const LIMIT = 3 * 60_000;

Deno.test("browser: a prose edit updates the page in place, as served afresh; a new heading reloads it", async () => {
  const chapter = md(
    "# A",
    "",
    "## First {#first}",
    "",
    "Before the edit.",
    "",
    "Unchanged below.",
    "",
    "```ts {file=lib/a.ts}",
    "export const a = 1;",
    "```",
  );
  const root = await tempProject({ "site/style.css": "", "spec/01-a.md": chapter });
  const server = await startDevServer({ root, port: 0, typecheck: false, log: () => {} });
  const browser = await launch();
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(LIMIT);
    await page.goto(`${server.url}a.html`);
    await page.waitForSelector("html[data-live-reload=connected]");
    // A mark on this document: a reload would lose it.
    await page.evaluate(() => (window as unknown as { mark: number }).mark = 1);
    const marked = () => page.evaluate(() => (window as unknown as { mark?: number }).mark === 1);

    await Deno.writeTextFile(
      `${root}/spec/01-a.md`,
      chapter.replace("Before the edit.", "After the edit.\n\nA new paragraph."),
    );
    await page.waitForFunction(() =>
      document.querySelector("article")?.textContent?.includes("A new paragraph.")
    );
    assert.equal(await marked(), true, "no reload: the same document");
    assert.equal(await page.locator("html").getAttribute("data-live-swaps"), "1");
    const [now, served] = await page.evaluate(async () => {
      const text = await (await fetch(location.pathname, { cache: "no-store" })).text();
      const fresh = new DOMParser().parseFromString(text, "text/html");
      return [document.querySelector("main")!.innerHTML, fresh.querySelector("main")!.innerHTML];
    });
    assert.equal(now, served, "the article is the page as served");
    assert.doesNotMatch(now, /Before the edit/);

    await Deno.writeTextFile(
      `${root}/spec/01-a.md`,
      chapter.replace("Unchanged below.", "## Second {#second}\n\nUnder a new heading."),
    );
    await page.waitForFunction(() =>
      document.querySelector("article")?.textContent?.includes("Under a new heading.")
    );
    assert.equal(await marked(), false, "a new heading reloads the page");
    assert.equal(await page.locator(".toc a[href='#second']").count(), 1);
  } finally {
    await browser.close();
    await server.close();
    await Deno.remove(root, { recursive: true });
  }
});
