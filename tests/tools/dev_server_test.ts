import assert from "node:assert/strict";
import { startDevServer } from "../../tools/site/dev_server.ts";
import { md, tempProject } from "./fixture.ts";

/** Reads server-sent events until one named `name` arrives; returns its data. */
async function nextEvent(reader: ReadableStreamDefaultReader<Uint8Array>, name: string) {
  const decoder = new TextDecoder();
  let buffer = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before event ${name}`);
    buffer += decoder.decode(value);
    for (const message of buffer.split("\n\n")) {
      const m = /^event: (\w+)\ndata: (.*)$/s.exec(message);
      if (m?.[1] === name) return JSON.parse(m[2]);
    }
  }
}

Deno.test("serve: pages get the reload client; saving a chapter re-tangles, rebuilds and reloads", async () => {
  const chapter = md("# A", "", "```ts {file=lib/a.ts}", "export const a = 1;", "```");
  const root = await tempProject({ "site/style.css": "", "spec/01-a.md": chapter });
  const lines: string[] = [];
  const server = await startDevServer({
    root,
    port: 0,
    typecheck: false,
    log: (l) => lines.push(l),
  });
  try {
    const page = await (await fetch(`${server.url}a.html`)).text();
    assert.match(page, /<script type="module" src="\/_live\/client\.js"><\/script><\/body>/);
    assert.equal(
      await fetch(`${server.url}missing.html`).then((r) => (r.body?.cancel(), r.status)),
      404,
    );

    const events = (await fetch(`${server.url}_live/events`)).body!.getReader();
    await Deno.writeTextFile(`${root}/spec/01-a.md`, chapter.replace("= 1", "= 2"));
    await nextEvent(events, "reload");
    assert.match(await Deno.readTextFile(`${root}/lib/a.ts`), /export const a = 2;/);
    assert.match(await (await fetch(`${server.url}a.html`)).text(), /> 2<\/span>/);

    await Deno.writeTextFile(
      `${root}/spec/01-a.md`,
      chapter.replace("export const a = 1;", "<<gone>>"),
    );
    const problems: string = await nextEvent(events, "problems");
    assert.equal(problems, "spec/01-a.md:4:1: undefined fragment <<gone>>");
    assert.match(await Deno.readTextFile(`${root}/lib/a.ts`), /= 2;/, "lib/ kept on error");
    await events.cancel();
  } finally {
    await server.close();
    await Deno.remove(root, { recursive: true });
  }
  assert.ok(lines.some((l) => /^rebuilt in \d+ ms, lib\/: lib\/a\.ts$/.test(l)), lines.join("\n"));
});
