import assert from "node:assert/strict";
import { startDevServer } from "../../tools/site/dev_server.ts";
import { md, tempProject } from "./fixture.ts";

const repo = new URL("../../", import.meta.url).pathname;

/** The server-sent events of one connection, read in order. */
class Events {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #decoder = new TextDecoder();
  #buffer = "";
  #queue: { name: string; data: unknown }[] = [];
  constructor(reader: ReadableStreamDefaultReader<Uint8Array>) {
    this.#reader = reader;
  }
  /** The data of the next event named `name` (earlier events of other names are dropped). */
  async next(name: string): Promise<unknown> {
    while (true) {
      const event = this.#queue.shift();
      if (event?.name === name) return event.data;
      if (event) continue;
      const { value, done } = await this.#reader.read();
      if (done) throw new Error(`stream ended before event ${name}`);
      this.#buffer += this.#decoder.decode(value, { stream: true });
      const messages = this.#buffer.split("\n\n");
      this.#buffer = messages.pop()!;
      for (const message of messages) {
        const m = /^event: (\w+)\ndata: (.*)$/s.exec(message);
        if (m) this.#queue.push({ name: m[1], data: JSON.parse(m[2]) });
      }
    }
  }
  cancel() {
    return this.#reader.cancel();
  }
}

Deno.test("serve: saving site/layout.tsx, site/client.js or the stylesheet rebuilds with the new file", async () => {
  const layout = await Deno.readTextFile(`${repo}site/layout.tsx`);
  const root = await tempProject({
    "site/style.css": "body { color: red; }",
    "site/client.js": "// first",
    "site/layout.tsx": layout,
    "spec/01-a.md": md("# A", "", "Text."),
  });
  const server = await startDevServer({ root, port: 0, typecheck: false, log: () => {} });
  try {
    const get = (path: string) => fetch(`${server.url}${path}`).then((r) => r.text());
    assert.match(await get("a.html"), /Skip to the text/);
    const events = new Events((await fetch(`${server.url}_live/events`)).body!.getReader());
    // Waits for reloads until `ready()` holds: one save may come as several file events, and so
    // as several rebuilds. If it never holds, rebuilding by hand twice more ends the wait.
    const reloadedUntil = async (ready: () => Promise<boolean>) => {
      for (let tries = 0; tries < 3; tries++) {
        await events.next("reload");
        if (await ready()) return true;
        void server.rebuild();
      }
      return false;
    };

    await Deno.writeTextFile(
      `${root}/site/layout.tsx`,
      layout.replace("Skip to the text", "Skip ahead"),
    );
    assert.ok(await reloadedUntil(async () => /Skip ahead/.test(await get("a.html"))));
    assert.doesNotMatch(await get("a.html"), /Skip to the text/);

    await Deno.writeTextFile(`${root}/site/client.js`, "// second");
    assert.ok(await reloadedUntil(async () => await get("client.js") === "// second"));

    await Deno.writeTextFile(`${root}/site/style.css`, "body { color: blue; }");
    assert.ok(
      await reloadedUntil(async () => (await get("style.css")).startsWith("body { color: blue; }")),
    );

    // A layout that does not compile is reported; the last good pages stay.
    await Deno.writeTextFile(`${root}/site/layout.tsx`, "export function (");
    assert.match(String(await events.next("problems")), /^site\/layout\.tsx: /);
    assert.match(await get("a.html"), /Skip ahead/);
    await events.cancel();
  } finally {
    await server.close();
    await Deno.remove(root, { recursive: true });
  }
});
