/**
 * The uAPI console of spec/12-userspace.md: the model's iommufd, bundled for the browser, driven
 * through the handle API (by way of uapi_adapter.ts). Run the hwpt-alloc example's session step by
 * step, or type an ioctl; each call shows its strace line, a failure its errno and the check that
 * failed (linked to the step of the chapter that explains it), and the object table and the
 * cgroup's memory.current / memory.stat follow.
 *
 * @module
 */
import { openSession, SCRIPTED_STEPS, STAT_KEYS, type StepOutcome } from "./uapi_adapter.ts";

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Where each check id of the book is explained: id → `page.html#id` (panel-checks.json). */
type CheckIndex = Record<string, string>;

type Memory = ReturnType<ReturnType<typeof openSession>["memory"]>;

function checkLink(check: string, checks: CheckIndex): string {
  const href = checks[check];
  return href
    ? `<a class="check-id" href="${esc(href)}">${esc(check)}</a>`
    : `<code>${esc(check)}</code>`;
}

/** Turns the panel's element into the console; `checks` maps check ids to their steps. */
export function mount(el: HTMLElement, checks: CheckIndex = {}): void {
  el.innerHTML = `<div class="console-controls">
  <button type="button" name="next">Run next step</button>
  <button type="button" name="restart">Restart</button>
  <span class="console-next" aria-live="polite"></span>
</div>
<form class="console-typed"><label>ioctl <input name="cmd" list="console-ioctls" spellcheck="false" autocomplete="off" placeholder="IOMMU_IOAS_ALLOC flags=0"></label>
<datalist id="console-ioctls"></datalist> <button type="submit">Run</button></form>
<div class="console-cols">
  <div class="console-log-wrap"><ol class="console-log" aria-live="polite"></ol></div>
  <div class="console-state">
    <table class="console-memory"><tbody></tbody></table>
    <table class="console-objects"><thead><tr><th>ID</th><th>type</th><th>users</th></tr></thead><tbody></tbody></table>
  </div>
</div>`;
  const log = el.querySelector(".console-log")!;
  const next = el.querySelector<HTMLButtonElement>("button[name=next]")!;
  const nextLabel = el.querySelector(".console-next")!;
  const form = el.querySelector<HTMLFormElement>("form.console-typed")!;
  const input = form.querySelector("input")!;
  let session = openSession();
  let k = 0;
  el.querySelector("datalist")!.innerHTML = session.ioctlNames().map((n) => `<option value="${n}">`)
    .join("");

  const state = () => {
    const mem = session.memory();
    el.querySelector(".console-memory tbody")!.innerHTML =
      `<tr><th>memory.current</th><td data-key="memory.current">${mem.current}</td></tr>` +
      STAT_KEYS.filter((key) => key in mem.stat).map((key) =>
        `<tr><th>memory.stat ${key}</th><td data-key="${key}">${mem.stat[key]}</td></tr>`
      ).join("");
    el.querySelector(".console-objects tbody")!.innerHTML =
      session.objects().map((o) => `<tr><td>${o.id}</td><td>${o.type}</td><td>${o.users}</td></tr>`)
        .join("") || `<tr><td colspan="3">no objects</td></tr>`;
    nextLabel.textContent = k < SCRIPTED_STEPS.length
      ? `next: ${SCRIPTED_STEPS[k].title}`
      : "the session is over";
    next.disabled = k >= SCRIPTED_STEPS.length;
    el.dataset.steps = String(k);
  };
  const show = (title: string, out: StepOutcome, before: Memory) => {
    const after = session.memory();
    const delta = (a: number, b: number) => (a - b >= 0 ? `+${a - b}` : `${a - b}`);
    const li = document.createElement("li");
    li.className = out.error ? "console-step failed" : "console-step";
    li.innerHTML = `<div class="console-title">${esc(title)}</div>` +
      out.lines.map((l) => `<pre class="console-strace">${esc(l)}</pre>`).join("") +
      (out.error
        ? `<div class="console-error"><code>${out.error.errno}</code> ${
          esc(out.error.reason)
        } — check ${checkLink(out.error.check, checks)}</div>`
        : "") +
      `<div class="console-mem">memory.current ${after.current} (${
        delta(after.current, before.current)
      })${
        STAT_KEYS.filter((key) => key in after.stat).map((key) =>
          ` · ${key} ${delta(after.stat[key], before.stat[key] ?? 0)}`
        ).join("")
      }</div>`;
    log.append(li);
    li.scrollIntoView({ block: "nearest" });
  };
  next.addEventListener("click", () => {
    if (k >= SCRIPTED_STEPS.length) return;
    const title = SCRIPTED_STEPS[k].title;
    const before = session.memory();
    const out = session.step(k++);
    show(title, out, before);
    state();
  });
  el.querySelector("button[name=restart]")!.addEventListener("click", () => {
    session = openSession();
    k = 0;
    log.innerHTML = "";
    state();
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const cmd = input.value.trim();
    if (!cmd) return;
    const before = session.memory();
    let out: StepOutcome;
    try {
      out = session.typed(cmd);
    } catch (err) {
      out = { lines: [`${(err as Error).message}`], error: null };
    }
    show(cmd, out, before);
    state();
  });
  state();
  el.classList.add("panel-live");
}
