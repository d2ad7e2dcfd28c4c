/**
 * The model running in the page (tools/site/panels.ts), in Debian's chromium driven by
 * playwright-core: the page-walk explorer of chapter 17 gives a public vector's PA, a bad request's
 * fault reason and check, and lists exactly the reads the walker makes, for VT-d and (through its
 * format selector) for RISC-V's two-stage walk, Arm SMMUv3's nested walk and an event, and AMD v1's
 * level-skipping walk — compared with the model run here in Deno; the uAPI console of chapter 6 runs the scripted session and shows its strace
 * lines, errno links and memory.current as the model in Deno computes them. Screenshots of both
 * panels go to `_site-artifacts/screenshots/`.
 * Every wait is for an event or a selector, never a fixed time.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  amdV1Translate,
  amdVectorSetup,
  amdWorkedVectors,
  armVectorSetup,
  armWorkedVectors,
  riscvTranslate,
  riscvVectorSetup,
  riscvWorkedVectors,
  smmuTranslate,
  VTD_DMA_READ,
  VtdWalk,
  vtdWalkNested,
  vtdWalkSecondStage,
} from "../../lib/internal.ts";
import { realSite } from "../tools/real_site.ts";
import { errorsOf, launch, serveSite } from "./chromium.ts";
import { setupScenario, WALK_SCENARIOS } from "../../site/panels/walk_scenarios.ts";
import { WALK_FAMILIES } from "../../site/panels/walk_formats.ts";
import { openSession, SCRIPTED_STEPS } from "../../site/panels/uapi_adapter.ts";

const repo = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const SHOTS = `${repo}/_site-artifacts/screenshots`;

/** The walker's trace for a scenario, run here in Deno. */
function denoTrace(id: string): number[] {
  const s = WALK_SCENARIOS.find((x) => x.id === id)!;
  const { mem, ss, fs } = setupScenario(s);
  const out = new VtdWalk({ trace: true });
  if (s.kind === "nested") vtdWalkNested(mem, fs!, ss!, s.iova, VTD_DMA_READ, out);
  else vtdWalkSecondStage(mem, ss!, s.iova, { write: s.write }, out);
  return out.trace!;
}

/** A RISC-V worked vector run here in Deno: its reads and outcome. */
function riscvModel(id: string) {
  const file = riscvWorkedVectors();
  const { mem, cfg, iova, access } = riscvVectorSetup(file, file.vectors.find((v) => v.id === id)!);
  return riscvTranslate(mem, cfg, iova, access);
}

/** An AMD v1 worked vector run here in Deno: its reads and outcome. */
function amdModel(id: string) {
  const file = amdWorkedVectors();
  const { mem, dte, iova, access } = amdVectorSetup(file, file.vectors.find((v) => v.id === id)!);
  return amdV1Translate(mem, dte, iova, access);
}

/** An Arm SMMUv3 worked vector run here in Deno: its reads and outcome. */
function armModel(id: string) {
  const file = armWorkedVectors();
  const v = file.vectors.find((x) => x.id === id)!;
  const { mem, cfg, iova, access, priv } = armVectorSetup(file, v);
  return smmuTranslate(mem, cfg, iova, access, { priv });
}

async function readsShown(page: Page): Promise<number[]> {
  return (await page.locator(".panel-walk .panel-live-area .walk-reads tr[data-pa]").evaluateAll((
    rs,
  ) => rs.map((r) => r.getAttribute("data-pa")!))).map((h) => Number(h));
}

/** Chooses a scenario and waits until its walk is drawn. */
async function choose(page: Page, id: string): Promise<void> {
  const live = page.locator(".panel-walk .panel-live-area");
  await live.locator("select[name=scenario]").selectOption(id);
  await page.waitForFunction(
    (id) => {
      const el = document.querySelector<HTMLElement>(".panel-walk .panel-live-area")!;
      const sel = el.querySelector<HTMLSelectElement>("select[name=scenario]")!;
      return sel.value === id && el.dataset.state === "done";
    },
    id,
  );
}

/**
 * The steps share one tab (a tab of its own for each would cost a renderer process each): a step
 * loads its page afresh at its width, and checks the errors of that page.
 */
interface Tab {
  page: Page;
  /** Every error in the tab so far. */
  log: string[];
}

/** Loads `url` in the tab at `width` px; returns where its errors start in the tab's log. */
async function load(tab: Tab, url: string, width: number): Promise<number> {
  await tab.page.setViewportSize({ width, height: 900 });
  const from = tab.log.length;
  await tab.page.goto(url);
  return from;
}

async function explorer(url: string, tab: Tab, width: number) {
  const { page } = tab;
  const from = await load(tab, `${url}vtd-page-walk.html`, width);
  // Without scrolling to it the panel stays static: the model is not loaded with the text.
  assert.equal(await page.locator("figure.panel-walk.panel-started").count(), 0);
  assert.ok(
    await page.locator(".panel-walk .panel-static .walk-grid td[data-step]").count() === 24,
  );
  await page.locator("figure.panel-walk").scrollIntoViewIfNeeded();
  await page.waitForSelector("figure.panel-walk.panel-started .panel-live-area[data-state=done]");

  // V1: the public vector's PA, and exactly the walker's reads, with their levels.
  await choose(page, "V1");
  assert.match(
    (await page.locator(".panel-walk .walk-result").textContent())!,
    /^PA 0x1234567456 \(4 KiB page, rw, 4 reads\)$/,
  );
  assert.deepEqual(await readsShown(page), denoTrace("V1"));
  assert.deepEqual(await readsShown(page), [0x100558, 0x101e68, 0x102778, 0x103918]);
  const levels = await page.locator(
    ".panel-walk .panel-live-area .walk-reads tbody tr td:nth-child(3)",
  )
    .allTextContents();
  assert.deepEqual(levels, ["4", "3", "2", "1"]);

  // V2: a write to a read-only leaf faults 0x05, with the check linked to its step.
  await choose(page, "V2");
  const result = page.locator(".panel-walk .walk-result");
  assert.match((await result.textContent())!, /^fault 0x5 VTD_FR_WRITE .* at SS level 1/);
  assert.equal(await result.locator("a.walk-check").getAttribute("href"), "#vtd-ss-check-perm");
  assert.ok(await page.locator('[id="vtd-ss-check-perm"]').count() === 1, "the check's step");

  // An edited IOVA beyond V1's 48 bits: 0x04, nothing read.
  await choose(page, "V1");
  await page.locator(".panel-walk input[name=iova]").fill("0x1000000000000");
  await page.locator(".panel-walk input[name=iova]").dispatchEvent("change");
  await page.waitForSelector(".panel-walk .walk-result .walk-fault");
  assert.match((await result.textContent())!, /^fault 0x4 VTD_FR_ADDR_BEYOND_MGAW /);
  assert.deepEqual(await readsShown(page), []);

  // N1: the 24 reads of the nested walk, in the grid too; Step walks them one by one.
  await choose(page, "N1");
  assert.deepEqual(await readsShown(page), denoTrace("N1"));
  assert.equal(
    await page.locator(".panel-walk .panel-live-area .walk-grid td[data-step]").count(),
    24,
  );
  assert.match((await result.textContent())!, /^PA 0x80005567 /);
  await page.locator(".panel-walk button[name=step]").click();
  await page.waitForSelector(".panel-walk .panel-live-area[data-state=stepping]");
  assert.equal(
    await page.locator(".panel-walk .walk-progress").textContent(),
    "1 / 24 reads",
  );
  assert.equal(
    await page.locator(".panel-walk .panel-live-area .walk-grid td.current").getAttribute(
      "data-step",
    ),
    "1",
  );
  // A click on a cell of the grid steps to that read.
  await page.locator('.panel-walk .panel-live-area .walk-grid td[data-step="10"]').click();
  await page.waitForFunction(() =>
    document.querySelector(".panel-walk .walk-progress")?.textContent === "10 / 24 reads"
  );
  assert.equal(
    await page.locator(".panel-walk .panel-live-area .walk-reads tr.current").getAttribute(
      "data-pa",
    ),
    "0x80002010",
  );
  await page.locator(".panel-walk button[name=all]").click();
  await page.waitForSelector(".panel-walk .panel-live-area[data-state=done]");

  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= width, `${scrollWidth} px wide at ${width}`);
  await page.locator("figure.panel-walk").screenshot({
    path: `${SHOTS}/walk-explorer-${width}.png`,
  });
  await page.locator(".panel-walk .panel-live-area .walk-grid").screenshot({
    path: `${SHOTS}/nested-walk-grid-${width}.png`,
  });

  // The format selector offers every family of the registry; RISC-V's R15 (Sv39 over Sv39x4)
  // shows exactly the model's reads, its grid and its result.
  assert.deepEqual(
    await page.locator(".panel-walk select[name=format] option").evaluateAll((os) =>
      os.map((o) => (o as HTMLOptionElement).value)
    ),
    WALK_FAMILIES.map((f) => f.id),
  );
  await page.locator(".panel-walk select[name=format]").selectOption("riscv");
  await page.waitForFunction(() =>
    document.querySelector<HTMLSelectElement>(".panel-walk select[name=scenario]")?.value === "R1"
  );
  assert.equal(await page.locator(".panel-walk .walk-mode").isHidden(), true);
  await choose(page, "R15");
  const r15 = riscvModel("R15");
  assert.ok(r15.ok);
  assert.deepEqual(await readsShown(page), r15.reads.map(Number));
  assert.equal(
    (await result.textContent())!,
    `PA 0x${r15.pa.toString(16)} (4 KiB translation, GPA 0x${r15.gpa.toString(16)}, 15 reads)`,
  );
  assert.equal(
    await page.locator(".panel-walk .panel-live-area .walk-grid td[data-step]").count(),
    15,
  );
  assert.deepEqual(
    await page.locator(".panel-walk .panel-live-area .walk-reads tbody tr td:nth-child(2)")
      .allTextContents(),
    ["G", "G", "G", "VS", "G", "G", "G", "VS", "G", "G", "G", "VS", "G", "G", "G"],
  );
  // R16: the G stage cannot map the table GPA 0x3000: a guest-page fault with iotval2.
  await choose(page, "R16");
  const r16 = riscvModel("R16");
  assert.ok(!r16.ok);
  assert.match(
    (await result.textContent())!,
    new RegExp(
      `^fault: cause ${r16.cause} READ_GUEST_PAGE_FAULT, iotval2 0x${r16.iotval2.toString(16)}, `,
    ),
  );
  assert.deepEqual(await readsShown(page), r16.reads.map(Number));
  await page.locator("figure.panel-walk").screenshot({
    path: `${SHOTS}/walk-explorer-riscv-${width}.png`,
  });

  // Arm SMMUv3: N1, stage 1 over stage 2, shows the model's 24 reads in its grid; A6, a stage-1
  // fault, shows the event the model reports.
  await page.locator(".panel-walk select[name=format]").selectOption("arm");
  await page.waitForFunction(() =>
    document.querySelector<HTMLSelectElement>(".panel-walk select[name=scenario]")?.value === "A1"
  );
  await choose(page, "N1");
  const n1 = armModel("N1");
  assert.ok(n1.ok);
  assert.deepEqual(await readsShown(page), n1.reads.map(Number));
  assert.equal(
    (await result.textContent())!,
    `PA 0x${n1.pa.toString(16)} (4 KiB translation, IPA 0x${n1.ipa.toString(16)}, 24 reads)`,
  );
  assert.equal(
    await page.locator(".panel-walk .panel-live-area .walk-grid td[data-step]").count(),
    24,
  );
  await choose(page, "A6");
  const a6 = armModel("A6");
  assert.ok(!a6.ok);
  assert.match(
    (await result.textContent())!,
    new RegExp(`^event 0x${a6.event.id.toString(16)} F_[A-Z_]+, S2=0, CLASS=IN, `),
  );
  assert.deepEqual(await readsShown(page), a6.reads.map(Number));

  // AMD v1: M2 skips a level (mode 4, a NextLevel-2 pointer at the top) and shows the model's reads.
  await page.locator(".panel-walk select[name=format]").selectOption("amd");
  await page.waitForFunction(() =>
    document.querySelector<HTMLSelectElement>(".panel-walk select[name=scenario]")?.value === "M1"
  );
  await choose(page, "M2");
  const m2 = amdModel("M2");
  assert.ok(m2.ok);
  assert.deepEqual(await readsShown(page), m2.reads.map(Number));
  assert.match((await result.textContent())!, new RegExp(`^PA 0x${m2.pa.toString(16)} \\(`));
  assert.deepEqual(tab.log.slice(from), []);
}

async function uapiConsole(url: string, tab: Tab, width: number) {
  const { page } = tab;
  const from = await load(tab, `${url}iommufd-uapi.html`, width);
  await page.locator("figure.panel-console").scrollIntoViewIfNeeded();
  const live = page.locator("figure.panel-console.panel-started .panel-live-area");
  await live.waitFor();

  // The same session in Deno, for what memory.current should read after each step.
  const model = openSession();
  const steps = 8; // through the first mistake
  for (let k = 0; k < steps; k++) {
    model.step(k);
    await live.locator("button[name=next]").click();
    await page.waitForSelector(
      `.panel-console .panel-live-area[data-steps="${k + 1}"]`,
    );
    assert.equal(
      await live.locator('td[data-key="memory.current"]').textContent(),
      String(model.memory().current),
      `memory.current after “${SCRIPTED_STEPS[k].title}”`,
    );
  }
  const strace = await live.locator(".console-strace").allTextContents();
  assert.ok(
    strace.includes("ioctl(3, IOMMU_IOAS_ALLOC, {size=12, flags=0} => {out_ioas_id=2}) = 0"),
    strace.join("\n"),
  );
  assert.ok(
    strace.some((l) => /^ioctl\(4, VFIO_DEVICE_ATTACH_IOMMUFD_PT, .*pt_id=4\}\) = 0$/.test(l)),
  );
  const failed = live.locator(".console-step.failed").last();
  assert.match((await failed.textContent())!, /EINVAL/);
  assert.match(
    (await failed.locator("a.check-id").getAttribute("href"))!,
    /^[a-z-]+\.html#copy-user-len$/,
  );
  assert.deepEqual(
    await live.locator(".console-objects tbody tr td:nth-child(2)").allTextContents(),
    ["DEVICE", "IOAS", "HWPT_PAGING", "HWPT_NESTED", "HWPT_PAGING"],
  );
  assert.ok(Number(await live.locator('td[data-key="memory.current"]').textContent()) > 0);

  // A typed ioctl: an ID that does not exist.
  await live.locator("input[name=cmd]").fill("IOMMU_DESTROY id=99");
  await live.locator("input[name=cmd]").press("Enter");
  await page.waitForSelector(".panel-console .console-step.failed >> text=destroy-missing");
  const last = await live.locator(".console-strace").last().textContent();
  assert.match(last!, /^ioctl\(3, IOMMU_DESTROY, \{size=8, id=99\}\) = -1 ENOENT /);

  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= width, `${scrollWidth} px wide at ${width}`);
  await page.locator("figure.panel-console").screenshot({
    path: `${SHOTS}/uapi-console-${width}.png`,
  });
  assert.deepEqual(tab.log.slice(from), []);
}

Deno.test("browser: the model's panels", async (t) => {
  const { outDir, ...built } = await realSite();
  assert.deepEqual(built.problems, []);
  for (const f of ["panel-walk.js", "panel-console.js", "panel-loader.js", "panel-checks.json"]) {
    assert.ok(built.pages.includes(f), f);
  }
  // Only pages with a panel load the model.
  const withLoader = [];
  for (const p of built.pages.filter((p) => p.endsWith(".html") && !p.includes("/"))) {
    if ((await Deno.readTextFile(`${outDir}/${p}`)).includes("panel-loader.js")) withLoader.push(p);
  }
  assert.deepEqual(withLoader.sort(), ["iommufd-uapi.html", "vtd-page-walk.html"]);
  await Deno.mkdir(SHOTS, { recursive: true });
  // Search is site_test's: an empty script stands for pagefind's here.
  const server = serveSite(
    outDir,
    (path) =>
      path.startsWith("/pagefind/")
        ? new Response("", { headers: { "content-type": "text/javascript" } })
        : undefined,
  );
  const browser = await launch();
  const url = server.url;
  try {
    const page = await browser.newPage();
    const tab = { page, log: errorsOf(page) };
    for (const width of [1280, 390]) {
      await t.step(`page-walk explorer at ${width} px`, () => explorer(url, tab, width));
      await t.step(`uAPI console at ${width} px`, () => uapiConsole(url, tab, width));
    }
  } finally {
    await browser.close();
    await server.shutdown();
  }
});
