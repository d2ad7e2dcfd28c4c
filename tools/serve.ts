/**
 * `deno task serve [--port N]`: build the site, serve it on localhost and rebuild, re-tangle and
 * reload open pages whenever a file under `spec/` or `site/` changes. Type errors in the model
 * show in the terminal and in an overlay on the page, at their `spec/…md:line:col`.
 *
 * A busy port is skipped for the next of 20; a bad `--port` (or `PORT`) or 20 busy ports is one
 * line on stderr and exit status 1.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startDevServer } from "./site/dev_server.ts";

const TRIES = 20;

function fail(message: string): never {
  console.error(`serve: ${message}`);
  Deno.exit(1);
}

/** Whether 127.0.0.1:port can be bound now (the dev server builds the site before it listens). */
function free(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) return false;
    fail(`port ${port}: ${e instanceof Error ? e.message : e}`); // e.g. below 1024 without privilege
  }
}

let values;
try {
  ({ values } = parseArgs({
    args: Deno.args,
    options: { port: { type: "string", default: Deno.env.get("PORT") ?? "8000" } },
  }));
} catch (e) {
  fail((e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, " "));
}
if (!/^\d{1,5}$/.test(values.port) || Number(values.port) > 65535) {
  fail(
    `bad port ${JSON.stringify(values.port)}: a port is a number from 0 (any free port) to 65535`,
  );
}
const first = Number(values.port);
const last = first === 0 ? 0 : Math.min(first + TRIES - 1, 65535);
let server;
for (let port = first; port <= last && !server; port++) {
  if (port !== 0 && !free(port)) continue;
  try {
    server = await startDevServer({ root: Deno.cwd(), port });
  } catch (e) {
    if (!(e instanceof Deno.errors.AddrInUse)) throw e;
  }
}
const range = first === last ? `port ${first} is` : `ports ${first}–${last} are all`;
if (!server) fail(`${range} busy; choose another with --port N (or PORT=N)`);
const busy = first !== 0 && !server.url.endsWith(`:${first}/`) ? ` (port ${first} is busy)` : "";
console.log(`Serving ${server.url}${busy} — live reload on; Ctrl-C to stop`);
