/**
 * The site in a real browser (Debian's chromium driven by playwright-core): a page served by
 * `deno task serve` reloads when its chapter is saved, and shows the tangler's problem in an
 * overlay when the chapter is broken; the search box finds prose and the model's definitions, and
 * after a save, once the server says the index (rebuilt in the background) is in place, the new
 * words.
 *
 * Every wait is for an event — a page's text, a selector, the server's `search` event — never for
 * a fixed time. The one time here, {@link LIMIT}, only bounds how long a broken build may hang
 * the test: it is far above any wait on a loaded machine (playwright's default of 30 s is not, and
 * made these tests flaky when nine processes shared two cores).
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { type Browser, launch } from "./chromium.ts";
import { startDevServer } from "../../tools/site/dev_server.ts";
import { md, tempProject } from "../tools/fixture.ts";

const LIMIT = 3 * 60_000;

/**
 * Waits until the page has imported pagefind's search module. The search box imports it once, when
 * first used, and never again if that import fails — then every later query waits for ever (what
 * made the search test hang under load); imported here first, the box's import is the same module.
 */
async function pagefindLoaded(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const url = new URL("/pagefind/pagefind.js", location.href).href;
    for (;;) {
      try {
        await import(url);
        return;
      } catch {
        // Not there (yet): try again once the next frame is drawn.
        await new Promise((r) => requestAnimationFrame(r));
      }
    }
  });
}

// One browser for both checks, each with a dev server and a page of its own.
Deno.test("browser: the dev server's pages", async (t) => {
  const browser = await launch();
  try {
    await t.step(
      "saving a chapter reloads the open page; a broken chapter shows an overlay",
      () => reloads(browser),
    );
    await t.step(
      "search finds a word of the prose, and an exported name at its definition",
      () => searches(browser),
    );
  } finally {
    await browser.close();
  }
});

async function reloads(browser: Browser) {
  const chapter = md(
    "# A",
    "",
    "Before the edit.",
    "",
    "```ts {file=lib/a.ts}",
    "export const a = 1;",
    "```",
  );
  const root = await tempProject({ "site/style.css": "", "spec/01-a.md": chapter });
  const server = await startDevServer({ root, port: 0, typecheck: false, log: () => {} });
  const page = await browser.newPage();
  try {
    page.setDefaultTimeout(LIMIT);
    await page.goto(`${server.url}a.html`);
    assert.equal(await page.locator("article p").first().textContent(), "Before the edit.");
    // Wait until the page's event stream is connected before editing.
    await page.waitForSelector("html[data-live-reload=connected]");
    await Deno.writeTextFile(`${root}/spec/01-a.md`, chapter.replace("Before", "After"));
    await page.waitForFunction(() =>
      document.querySelector("article p")?.textContent === "After the edit."
    );
    // The search index follows in the background; the server says when it is in place, and then
    // it has the new word.
    await page.waitForSelector("html[data-search-index=ready]");
    await pagefindLoaded(page);
    await page.fill(".pagefind-ui__search-input", "After");
    await page.waitForFunction(() =>
      /^1 result for After/.test(
        document.querySelector(".pagefind-ui__message")?.textContent ?? "",
      )
    );

    await Deno.writeTextFile(
      `${root}/spec/01-a.md`,
      chapter.replace("export const a = 1;", "<<missing>>"),
    );
    const overlay = page.locator("#live-reload-error");
    await overlay.waitFor();
    assert.match(
      (await overlay.textContent())!,
      /spec\/01-a\.md:6:1: undefined fragment <<missing>>/,
    );
  } finally {
    await page.close();
    await server.close();
    await Deno.remove(root, { recursive: true });
  }
}

async function searches(browser: Browser) {
  const root = await tempProject({
    "site/style.css": "",
    "spec/01-a.md": md("# Apples", "", "The quokka eats apples.", ""),
    "spec/02-b.md": md(
      "# Bananas",
      "",
      "Bananas have no marsupials.",
      "",
      "```ts {#peel file=lib/b.ts}",
      "export function peel_banana(): number {",
      "  return 1;",
      "}",
      "```",
    ),
  });
  const server = await startDevServer({ root, port: 0, typecheck: false, log: () => {} });
  const page = await browser.newPage();
  try {
    page.setDefaultTimeout(LIMIT);
    // Each query starts from a freshly loaded page: the list of an earlier query, still on screen
    // with as many results, can no longer pass for this one's (the test was flaky under load).
    const results = async (query: string) => {
      await page.goto(`${server.url}b.html`);
      // The server tells each page that connects whether the index matches the pages.
      await page.waitForSelector("html[data-search-index=ready]");
      await pagefindLoaded(page);
      await page.fill(".pagefind-ui__search-input", query);
      // Wait for this query's answer and for every result's title to have loaded (pagefind
      // fetches each result's page data after the count).
      await page.waitForFunction((q) => {
        const message = document.querySelector(".pagefind-ui__message")?.textContent ?? "";
        const n = /^(\d+) results? for/.exec(message);
        const titles = document.querySelectorAll(
          ".pagefind-ui__result-inner > .pagefind-ui__result-title > .pagefind-ui__result-link",
        );
        return message.includes(q) && n !== null && titles.length === Math.min(Number(n[1]), 5);
      }, query);
      return await page.locator(
        ".pagefind-ui__result-inner > .pagefind-ui__result-title > .pagefind-ui__result-link",
      ).evaluateAll((links) =>
        links.map((a) => [a.textContent, (a as HTMLAnchorElement).getAttribute("href")])
      );
    };
    const quokka = await results("quokka");
    assert.ok(quokka.length > 0, "the prose is indexed");
    assert.ok(quokka.every(([, href]) => /^\/a\.html(#|$)/.test(href!)), JSON.stringify(quokka));
    const peel = await results("peel_banana");
    assert.equal(peel[0][0], "peel_banana (function)");
    assert.match(peel[0][1]!, /b\.html#peel$/);
  } finally {
    await page.close();
    await server.close();
    await Deno.remove(root, { recursive: true });
  }
}
