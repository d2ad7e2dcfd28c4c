/**
 * `deno task serve [--port N]`: build the site, serve it on localhost and rebuild, re-tangle and
 * reload open pages whenever a file under `spec/` or `site/` changes. Type errors in the model
 * show in the terminal and in an overlay on the page, at their `spec/…md:line:col`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startDevServer } from "./site/dev_server.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string", default: Deno.env.get("PORT") ?? "8000" } },
});
const first = Number(values.port);
for (let port = first; port < first + 20; port++) {
  try {
    const server = await startDevServer({ root: Deno.cwd(), port });
    console.log(`Serving ${server.url} — live reload on; Ctrl-C to stop`);
    break;
  } catch (e) {
    if (!(e instanceof Deno.errors.AddrInUse)) throw e;
    console.log(`port ${port} is busy, trying ${port + 1}`);
  }
}
