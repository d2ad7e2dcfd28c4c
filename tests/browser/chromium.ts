/**
 * What the browser tests share: which chromium to drive, how to launch it, a static server for a
 * built site, and a page's error log.
 *
 * The browser is `$CHROMIUM` if set, else Debian's headless shell (package
 * `chromium-headless-shell`, the build playwright itself drives for headless runs) when installed,
 * else Debian's full `/usr/bin/chromium` in headless mode. Both are the same Blink: the shell
 * leaves out the browser's windows and profile, and loads a page with about half the processor
 * time (it is what makes these tests quick on two shared cores), so nothing a test asserts about a
 * page changes with the choice.
 *
 * @module
 */
import { chromium, type Page } from "playwright-core";

const HEADLESS_SHELL = "/usr/lib/chromium/chromium-headless-shell";

function executable(): string {
  const chosen = Deno.env.get("CHROMIUM");
  if (chosen) return chosen;
  try {
    Deno.statSync(HEADLESS_SHELL);
    return HEADLESS_SHELL;
  } catch {
    return "/usr/bin/chromium";
  }
}

/** The chromium the tests drive. */
export const CHROMIUM: string = executable();

/** Switches on top of playwright's own (which already turn off updates, sync and the like). */
export const ARGS: string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** A launched browser. */
export type Browser = Awaited<ReturnType<typeof chromium.launch>>;

/** Launches {@link CHROMIUM} headless. */
export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  css: "text/css",
  js: "text/javascript",
  json: "application/json",
  svg: "image/svg+xml",
};

/** A server of a built site's directory on 127.0.0.1; `url` ends with `/`. */
export interface SiteServer {
  url: string;
  shutdown(): Promise<void>;
}

/**
 * Serves `outDir` as a static host does: `/` is `index.html`, a missing file is a 404. Pages are
 * revalidated on every load, and the stylesheets, scripts and data they share are cached for the
 * run, as a browser caches them from any static host: a test that walks every page then parses
 * the shared scripts once instead of on each page. `override` may answer a path first (for
 * example with a stand-in for a file the build left out).
 */
export function serveSite(
  outDir: string,
  override?: (path: string) => Response | undefined,
): SiteServer {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    let path = decodeURIComponent(new URL(req.url).pathname);
    if (path.endsWith("/")) path += "index.html";
    const answer = override?.(path);
    if (answer) return answer;
    try {
      const body = await Deno.readFile(`${outDir}${path}`);
      const ext = path.slice(path.lastIndexOf(".") + 1);
      return new Response(body, {
        headers: {
          "content-type": TYPES[ext] ?? "application/octet-stream",
          "cache-control": ext === "html" ? "no-cache" : "max-age=3600",
        },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    shutdown: () => server.shutdown(),
  };
}

/** Collects a page's console errors, uncaught exceptions and failed requests, from now on. */
export function errorsOf(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`exception: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
  });
  return errors;
}
