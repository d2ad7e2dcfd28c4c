/**
 * The model's figures in a real browser (Debian's chromium): each of chapter 17's figures is an SVG
 * with its accessible name and description, painted by the theme (the light and the dark scheme
 * give the same element different colours), and scaled down to a phone's width. Screenshots of each
 * figure in both schemes are written to `.cache/screenshots/figures/` as artifacts.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { realSite } from "../tools/real_site.ts";

const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"];
const repo = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const SHOTS = `${repo}/.cache/screenshots/figures`;
const FIGURES = ["fig-iova-split", "fig-entry-bits", "fig-nested-walk", "fig-nested-fault"];

Deno.test("browser: chapter 17's figures follow the light and dark theme and fit a phone", async () => {
  const { outDir, ...built } = await realSite();
  assert.deepEqual(built.problems, []);
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    try {
      const body = await Deno.readFile(`${outDir}${path}`);
      const type = path.endsWith(".css")
        ? "text/css"
        : path.endsWith(".js")
        ? "text/javascript"
        : path.endsWith(".svg")
        ? "image/svg+xml"
        : path.endsWith(".json")
        ? "application/json"
        : "text/html; charset=utf-8";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  await Deno.mkdir(SHOTS, { recursive: true });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/vtd-page-walk.html`;
    const colours: Record<string, { box: string; text: string; fault: string; page: string }> = {};
    for (const scheme of ["light", "dark"] as const) {
      const page = await browser.newPage({
        viewport: { width: 1280, height: 900 },
        colorScheme: scheme,
      });
      await page.goto(url);
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
      await page.close();
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
    const phone = await browser.newPage({ viewport: { width: 390, height: 800 } });
    await phone.goto(url);
    for (const id of FIGURES) {
      const box = (await phone.locator(`#${id} svg`).boundingBox())!;
      assert.ok(box.x >= 0 && box.x + box.width <= 390, `${id} fits: ${JSON.stringify(box)}`);
    }
    await phone.close();
  } finally {
    await browser.close();
    await server.shutdown();
  }
});
