/** Helpers for tests of the literate tools: small spec fixtures written inline. */
import { parseSpec, type Problem } from "../../tools/literate/spec.ts";
import { type Tangle, tangle } from "../../tools/literate/tangle.ts";

/** Joins lines, so fixture positions can be counted line by line. */
export function md(...lines: string[]): string {
  return lines.join("\n") + "\n";
}

/** Tangles chapters given as `{ "spec/01-a.md": text }`. */
export function tangleOf(chapters: Record<string, string>): Tangle {
  return tangle(parseSpec(Object.entries(chapters).map(([path, text]) => ({ path, text }))));
}

/** `path:line:col: message` of each problem, for compact assertions. */
export function where(problems: Problem[]): string[] {
  return problems.map((p) => `${p.path}:${p.line}:${p.column}: ${p.message}`);
}

/** A temporary project: deno.json and deno.lock from this repository plus the given files. */
export async function tempProject(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "spec-fixture-" });
  const here = new URL("../../", import.meta.url).pathname;
  for (const name of ["deno.json", "deno.lock"]) {
    await Deno.copyFile(`${here}${name}`, `${dir}/${name}`);
  }
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, text);
  }
  return dir;
}

/** Server-sent events of one connection, read in order (other events before `name` dropped). */
export function eventsOf(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  return {
    async next(name: string): Promise<unknown> {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const m = /^event: (\w+)\ndata: (.*)$/s.exec(message);
          if (m?.[1] === name) return JSON.parse(m[2]);
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before event ${name}`);
        buffer += decoder.decode(value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
}
