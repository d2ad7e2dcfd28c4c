/**
 * The model's figures in a real browser (Debian's chromium): each of chapter 17's figures is an SVG
 * with its accessible name and description, painted by the theme (the light and the dark scheme
 * give the same element different colours), and scaled down to a phone's width. Screenshots of each
 * figure in both schemes are written to `.cache/screenshots/figures/` as artifacts.
 */
import assert from "node:assert/strict";
import { errorsOf, launch, serveSite } from "./chromium.ts";
import { realSite } from "../tools/real_site.ts";

const repo = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const SHOTS = `${repo}/.cache/screenshots/figures`;
const FIGURES = ["fig-iova-split", "fig-entry-bits", "fig-nested-walk", "fig-nested-fault"];

// One page, loaded once: the scheme is switched as a reader's system switches it (the page's
// styles follow `prefers-color-scheme` without a reload), then the window is narrowed to a phone's.
Deno.test("browser: chapter 17's figures follow the light and dark theme and fit a phone", async () => {
  const { outDir, ...built } = await realSite();
  assert.deepEqual(built.problems, []);
  const server = serveSite(outDir);
  const browser = await launch();
  await Deno.mkdir(SHOTS, { recursive: true });
  try {
    const page = await browser.newPage({
      viewport: { width: 1280, height: 900 },
      colorScheme: "light",
    });
    const errors = errorsOf(page);
    await page.goto(`${server.url}vtd-page-walk.html`);
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
  } finally {
    await browser.close();
    await server.shutdown();
  }
});
