/**
 * The real site in a real browser (Debian's chromium driven by playwright-core), built once from
 * this repository's spec: every page loads without a console error and without sideways scrolling
 * at a desktop's 1280 px and a phone's 390 px; the sidebar follows the section in view; a
 * declaration's pop-up lists the blocks that use it; search puts a name's definition first and
 * shows no hit that matches only in a title; each of chapter 17's figures is an SVG with its
 * accessible name and description, painted by the theme (the light and the dark scheme give the
 * same element different colours), and scaled down to a phone's width. Screenshots of each figure
 * in both schemes are written to `.cache/screenshots/figures/` as artifacts.
 * Every wait is for an event or a selector, never a fixed time, so CPU load only slows it down.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { type Browser, errorsOf, launch, serveSite } from "./chromium.ts";
import { realSite } from "../tools/real_site.ts";

const repo = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const SHOTS = `${repo}/.cache/screenshots/figures`;
const FIGURES = ["fig-iova-split", "fig-entry-bits", "fig-nested-walk", "fig-nested-fault"];

/** Serves the shared build of the site; `run` gets its URL, a browser and the built pages. */
async function withSite(
  run: (url: string, browser: Browser, pages: string[]) => Promise<void>,
) {
  const { outDir, ...built } = await realSite();
  assert.deepEqual(built.problems, []);
  const server = serveSite(outDir);
  const browser = await launch();
  try {
    const pages = built.pages.filter((p) => p.endsWith(".html"));
    await run(server.url, browser, pages);
  } finally {
    await browser.close();
    await server.shutdown();
  }
}

// One build and one browser for every check: building the real site takes seconds, and launching
// a browser a good part of one.
Deno.test("browser: the real site", async (t) => {
  await withSite(async (url, browser, pages) => {
    await t.step(
      "every page loads without errors or sideways scrolling at 1280 and 390 px",
      () => everyPage(url, browser, pages),
    );
    await t.step(
      "sidebar, scroll-spy, references pop-up, / and search",
      (t) => navigation(url, browser, t),
    );
    await t.step(
      "chapter 17's figures follow the light and dark theme and fit a phone",
      () => figures(url, browser),
    );
  });
});

/** A desktop's width and a phone's; the site's layout switches at 60rem (960 px). */
const WIDTHS = [1280, 390] as const;

/**
 * Every page, loaded once and laid out at both widths: each page is loaded at one width (the two
 * alternate from page to page, so the scripts of every kind of page start at both) and its scroll
 * width measured, then the window is resized to the other width — which lays the page out afresh
 * there — and measured again. Errors are collected across the whole life of each page, the resize
 * included. A page loaded on a desktop has its contents open and one loaded on a phone has them
 * closed; each is measured with its contents open, as a phone's reader who opens them sees it.
 */
async function everyPage(url: string, browser: Browser, paths: string[]) {
  const chapters = paths.filter((p) =>
    !p.includes("/") && !/^(index|identifiers(-[a-z-]+)?)\.html$/.test(p)
  );
  assert.ok(chapters.length >= 20, `${chapters.length} chapters`);
  assert.ok(paths.filter((p) => p.startsWith("source/")).length >= 20, "source pages");
  const page = await browser.newPage({ viewport: { width: WIDTHS[0], height: 800 } });
  // Nothing here looks at pixels, so nothing is painted: `visibility: hidden` on the root leaves
  // every box where it was (it changes painting and hit-testing, not layout, so scroll widths are
  // the same) and the scripts run as before, but the browser no longer paints and rasterizes
  // each page twice (about a quarter of this walk's processor time).
  await page.addInitScript(() => {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(":root { visibility: hidden !important }");
    document.adoptedStyleSheets = [sheet];
  });
  const log = errorsOf(page);
  const errors: string[] = [];
  const wide: string[] = [];
  const contents: string[] = [];
  let seen = 0;
  let loadWidth: number = WIDTHS[0];
  for (const path of paths) {
    await page.goto(url + path, { waitUntil: "load" });
    for (const width of [loadWidth, ...WIDTHS.filter((w) => w !== loadWidth)]) {
      if (width !== loadWidth) await page.setViewportSize({ width, height: 800 });
      const m = await measure(page);
      assert.equal(m.innerWidth, width, `${path}: the window is ${width} px wide`);
      if (m.scrollWidth > width) wide.push(`${path}: ${m.scrollWidth} px at ${width} px`);
      // The contents are open on a desktop and closed on a phone, as the page was loaded.
      if (width === loadWidth && chapters.includes(path) && m.open !== width > 900) {
        contents.push(`${path}: contents ${m.open ? "open" : "closed"} at ${width} px`);
      }
    }
    errors.push(...log.slice(seen).map((e) => `${path} at ${loadWidth} px: ${e}`));
    seen = log.length;
    loadWidth = WIDTHS.find((w) => w !== loadWidth)!;
  }
  // The measure sees through the hidden root: a box wider than the window, added to the last page,
  // makes it scroll sideways.
  await page.evaluate(() => {
    const wider = document.createElement("div");
    wider.style.width = `${innerWidth + 100}px`;
    wider.style.height = "1px"; // a box of no height does not overflow
    document.body.append(wider);
  });
  const m = await measure(page);
  assert.ok(m.scrollWidth > m.innerWidth, `a box too wide for the window: ${JSON.stringify(m)}`);
  await page.close();
  errors.push(...log.slice(seen));
  assert.deepEqual(errors, [], "errors");
  assert.deepEqual(wide, [], "pages wider than the window");
  assert.deepEqual(contents, [], "contents open on a desktop, closed on a phone");
}

/** The window's width, whether the contents are open (which then opens them), the scroll width. */
function measure(page: Page) {
  return page.evaluate(() => {
    const toc = document.querySelector<HTMLDetailsElement>("details.toc");
    const open = toc?.open ?? null;
    if (toc) toc.open = true;
    return { innerWidth, open, scrollWidth: document.documentElement.scrollWidth };
  });
}

async function navigation(url: string, browser: Browser, t: Deno.TestContext) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = errorsOf(page);

  await t.step("the sidebar lists every chapter and opens the current one", async () => {
    await page.goto(`${url}vtd-page-walk.html`);
    const book = await page.locator(".toc ol.book > li > a").count();
    assert.ok(book >= 20, `${book} chapters in the sidebar`);
    assert.equal(
      await page.locator(".toc li.current > a").getAttribute("href"),
      "vtd-page-walk.html",
    );
    assert.match((await page.locator(".toc .sections a").first().textContent())!, /^17\.1 /);
    assert.match((await page.locator("article h2").first().textContent())!, /^17\.1 /);
  });

  await t.step("scroll-spy marks the section in view", async () => {
    const ids = await page.locator("article h2[id]").evaluateAll((hs) => hs.map((h) => h.id));
    for (const id of [ids[4], ids[1], ids.at(-1)!]) {
      await page.locator(`[id="${id}"]`).evaluate((h) => h.scrollIntoView({ block: "start" }));
      await page.waitForSelector(`.toc a.active[href="#${id}"]`);
      assert.equal(await page.locator(".toc a.active").count(), 1);
    }
    // At the foot of the page, the last section is the one in view.
    const last = await page.locator("article :is(h2, h3)[id]").last().getAttribute("id");
    await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
    await page.waitForSelector(`.toc a.active[href="#${last}"]`);
  });

  await t.step("a declaration's pop-up lists the blocks that use it", async () => {
    await page.goto(`${url}iommufd-uapi.html`);
    await page.locator('a.def[data-def="IOMMU_HWPT_ALLOC"]').click();
    const popup = page.locator(".refs-popup");
    await popup.waitFor();
    const links = await popup.locator("li a").evaluateAll((as) =>
      as.map((a) => (a as HTMLAnchorElement).href)
    );
    assert.ok(
      links.some((h) => h.endsWith("/hw-pagetables.html#iommufd-hwpt-alloc")),
      links.join("\n"),
    );
    await page.keyboard.press("Escape");
    await popup.waitFor({ state: "detached" });
  });

  await t.step("/ focuses the search box", async () => {
    await page.locator(".pagefind-ui__search-input").waitFor();
    await page.locator("article p").first().click();
    await page.keyboard.press("/");
    assert.equal(
      await page.evaluate(() =>
        document.activeElement?.classList.contains("pagefind-ui__search-input")
      ),
      true,
    );
  });

  await t.step("search: a name's definition first, numbered titles, no stray §", async () => {
    for (
      const [query, href] of [
        ["IOMMU_HWPT_ALLOC", /iommufd-uapi\.html#/],
        ["iopt_map_pages", /mapping\.html#/],
      ] as const
    ) {
      const results = await search(page, `${url}index.html`, query);
      assert.match(
        results[0][0],
        new RegExp(`^${query} \\(`),
        JSON.stringify(results.slice(0, 3)),
      );
      assert.match(results[0][1], href);
      assert.ok(results.every(([title]) => !title.includes("§")), JSON.stringify(results));
    }
    // Not a definition: every hit shown matches in its text, none only in a title (definitions
    // used to carry their chapter's title, so each of chapter 1's was a hit), and page titles
    // carry their chapter's number.
    const results = await search(page, `${url}index.html`, "domain_alloc_user");
    assert.ok(results.every(([, , marked]) => marked), JSON.stringify(results));
    assert.match(results[0][0], /^1 The domain_alloc_user operation$/);
  });

  await t.step(
    "an old link to an anchor of a split chapter's later page is forwarded",
    async () => {
      // Chapter 19 is on two pages (tools/site/pages.ts); #domain-mapping moved to the second.
      await page.goto(`${url}vtd-driver.html#domain-mapping`);
      await page.waitForURL(/\/vtd-driver-domains\.html#domain-mapping$/);
      await page.locator('[id="domain-mapping"]').waitFor();
      // A later page's sidebar sends the sections of the first page back there.
      assert.equal(
        await page.locator(".toc .sections a").first().getAttribute("href"),
        "vtd-driver.html#intel-iommu",
      );
      // An anchor that stayed is not forwarded: the page is there already.
      await page.goto(`${url}vtd-driver.html#devices`);
      await page.locator('[id="devices"]').waitFor();
      assert.match(page.url(), /\/vtd-driver\.html#devices$/);
    },
  );
  assert.deepEqual(errors, []);
  await page.close();
}

/**
 * Searches from a freshly loaded page (so no earlier list can be mistaken for this one's) and
 * returns each result's [title, href] once every result's title has loaded.
 */
async function search(
  page: Page,
  from: string,
  query: string,
): Promise<[string, string, boolean][]> {
  await page.goto(from);
  await page.fill(".pagefind-ui__search-input", query);
  await page.waitForFunction((q) => {
    const message = document.querySelector(".pagefind-ui__message")?.textContent ?? "";
    const n = /^(\d+) results? for/.exec(message);
    const titles = document.querySelectorAll(
      ".pagefind-ui__result-inner > .pagefind-ui__result-title > .pagefind-ui__result-link",
    );
    return message.includes(q) && n !== null && titles.length === Math.min(Number(n[1]), 5);
  }, query);
  // Each result: its title, its link and whether its excerpt marks a match.
  return await page.locator(".pagefind-ui__result").evaluateAll((rs) =>
    rs.map((r) => {
      const a = r.querySelector(".pagefind-ui__result-inner > .pagefind-ui__result-title > a")!;
      // The page's excerpt, or its sections' when pagefind shows those instead.
      const marked = r.querySelector(".pagefind-ui__result-excerpt mark") != null;
      return [a.textContent!.trim(), a.getAttribute("href")!, marked];
    })
  );
}

// One page, loaded once: the scheme is switched as a reader's system switches it (the page's
// styles follow `prefers-color-scheme` without a reload), then the window is narrowed to a phone's.
async function figures(url: string, browser: Browser) {
  await Deno.mkdir(SHOTS, { recursive: true });
  const page = await browser.newPage({
    viewport: { width: 1280, height: 900 },
    colorScheme: "light",
  });
  const errors = errorsOf(page);
  await page.goto(`${url}vtd-page-walk.html`);
  const colours: Record<string, { box: string; text: string; fault: string; page: string }> = {};
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    assert.equal(
      await page.evaluate(() => matchMedia("(prefers-color-scheme: dark)").matches),
      scheme === "dark",
    );
    for (const id of FIGURES) {
      const svg = page.locator(`#${id} svg`);
      assert.equal(await svg.getAttribute("role"), "img");
      const label = await svg.evaluate((e) =>
        e.getAttribute("aria-labelledby")!.split(" ").map((i) =>
          document.getElementById(i)!.textContent
        )
      );
      assert.match(label[0]!, /^Figure 17\.\d: /);
      assert.ok(label[1]!.length > 40, `${id} has a text alternative`);
      await page.locator(`#${id}`).screenshot({ path: `${SHOTS}/${id}-${scheme}.png` });
    }
    colours[scheme] = await page.evaluate(() => {
      const fill = (sel: string) => getComputedStyle(document.querySelector(sel)!).fill;
      return {
        box: fill("#fig-nested-walk rect.fig-box"),
        text: fill("#fig-nested-walk text.fig-text"),
        fault: fill("#fig-nested-fault rect.fig-fault"),
        page: getComputedStyle(document.body).color,
      };
    });
  }
  // The theme paints the figure: its text is the page's text colour, and every fill changes
  // with the scheme.
  for (const scheme of ["light", "dark"]) {
    assert.equal(colours[scheme].text, colours[scheme].page, scheme);
  }
  for (const key of ["box", "text", "fault"] as const) {
    assert.notEqual(colours.light[key], colours.dark[key], key);
  }
  // On a phone the figures scale down to the text's width: nothing scrolls sideways.
  await page.setViewportSize({ width: 390, height: 800 });
  assert.equal(await page.evaluate(() => innerWidth), 390);
  for (const id of FIGURES) {
    const box = (await page.locator(`#${id} svg`).boundingBox())!;
    assert.ok(box.x >= 0 && box.x + box.width <= 390, `${id} fits: ${JSON.stringify(box)}`);
  }
  assert.deepEqual(errors, []);
  await page.close();
}
