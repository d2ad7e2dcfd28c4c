/**
 * Starts the model's panels (the page-walk explorer, the uAPI console) when they come near the
 * screen: each panel's module is fetched only then, so the text never waits for the model. Until a
 * panel starts — or without JavaScript — the panel shows its static figure.
 *
 * @module
 */
const here = new URL(".", import.meta.url);

async function start(el: HTMLElement): Promise<void> {
  const name = el.dataset.panel;
  if (!name || el.dataset.started) return;
  el.dataset.started = "1";
  try {
    const mod = await import(new URL(`panel-${name}.js`, here).href);
    const checks = name === "console"
      ? await fetch(new URL("panel-checks.json", here)).then((r) => r.json())
      : {};
    const live = el.querySelector<HTMLElement>(".panel-live-area")!;
    mod.mount(live, checks);
    el.classList.add("panel-started");
    el.dispatchEvent(new CustomEvent("panel-ready", { bubbles: true }));
  } catch (e) {
    el.dataset.started = "";
    console.warn(`panel ${name}:`, e);
  }
}

const panels = [...document.querySelectorAll<HTMLElement>("[data-panel]")];
if ("IntersectionObserver" in globalThis) {
  const io = new IntersectionObserver((seen) => {
    for (const e of seen) {
      if (!e.isIntersecting) continue;
      io.unobserve(e.target);
      start(e.target as HTMLElement);
    }
  }, { rootMargin: "400px 0px" });
  for (const p of panels) io.observe(p);
} else {
  for (const p of panels) start(p);
}
