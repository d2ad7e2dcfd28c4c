/**
 * The uAPI console's static figure: the hwpt-alloc session run to its end at build time, each step
 * with its strace lines, its errno and check, and memory.current after it.
 *
 * @module
 */
import { openSession, SCRIPTED_STEPS } from "./uapi_adapter.ts";

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The transcript of the scripted session, as HTML. */
export function staticHtml(): string {
  const session = openSession();
  const items = SCRIPTED_STEPS.map((step, k) => {
    const out = session.step(k);
    const error = out.error
      ? `<div class="console-error"><code>${out.error.errno}</code> ${
        esc(out.error.reason)
      } — check <code>${esc(out.error.check)}</code></div>`
      : "";
    return `<li><div class="console-title">${esc(step.title)}</div>${
      out.lines.map((l) => `<pre class="console-strace">${esc(l)}</pre>`).join("")
    }${error}<div class="console-mem">memory.current ${session.memory().current}</div></li>`;
  });
  return `<ol class="console-log">${items.join("")}</ol>`;
}
