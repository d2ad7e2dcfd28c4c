/**
 * Runs figure functions of the model in a process of their own, so the site always draws from the
 * `lib/` on disk (a running `serve` re-tangles it) and never from a module cached by an earlier
 * build. Usage: `deno run --allow-read figures_worker.ts <root> <fn>...`; prints one JSON object:
 * `{ "<fn>": { "figure": Figure } | { "error": "…" } }`. A figure function may return a promise.
 *
 * @module
 */
import { pathToFileURL } from "node:url";

const [root, ...names] = Deno.args;
const lib = await import(pathToFileURL(`${root}/lib/internal.ts`).href) as Record<string, unknown>;
const out: Record<string, { figure: unknown } | { error: string }> = {};
for (const name of names) {
  const fn = lib[name];
  if (typeof fn !== "function") {
    out[name] = { error: `the model exports no function ${name} (lib/internal.ts)` };
    continue;
  }
  try {
    const figure = await fn() as Record<string, unknown>;
    const ok = figure && typeof figure.body === "string" && typeof figure.desc === "string" &&
      typeof figure.title === "string" && typeof figure.width === "number" &&
      typeof figure.height === "number";
    out[name] = ok
      ? { figure }
      : { error: `${name}() did not return a Figure {width, height, body, title, desc}` };
  } catch (e) {
    out[name] = { error: `${name}() threw: ${e instanceof Error ? e.message : String(e)}` };
  }
}
console.log(JSON.stringify(out));
