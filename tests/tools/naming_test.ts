/**
 * The naming conventions of chapter 0 (§Conventions), checked mechanically:
 *
 * - check ids are names, never step numbers: no `fail(E…, "<subject>-check-3", …)` in `lib/` and no
 *   `{#<subject>-step-2}` anchor in a chapter; a check's anchor is defined once in the whole book;
 * - a `snake_case` name is a kernel (or mirrored QEMU) symbol: an exported `snake_case` name in
 *   `lib/` whose JSDoc starts `NON-KERNEL` fails, and so does one whose JSDoc cites no source
 *   (`linux …`, `QEMU …` or `struct <name>`), apart from the listed exceptions.
 *
 * @module
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const NUMBERED = /-(check|step)-\d+$/;

/** Exported snake_case names that may stay as they are, each with its reason. */
const SNAKE_CASE_ALLOWED: Record<string, string> = {
  vtd_is_qualified_fault:
    "QEMU hw/i386/intel_iommu.c vtd_is_qualified_fault(), mirrored on purpose",
  pt_compute_best_pgsize:
    "kernel drivers/iommu/generic_pt (after v6.12): chapter 21 borrows the kernel's name",
  page_list:
    "the model's `struct page **`; the word is also a kernel parameter name in the same chapters",
};

async function* walk(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) yield* walk(u);
    else yield u;
  }
}

async function libFiles(): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const u of walk(new URL("lib/", ROOT))) {
    if (u.pathname.endsWith(".ts")) {
      out.push([u.pathname.slice(ROOT.pathname.length), await Deno.readTextFile(u)]);
    }
  }
  return out.sort();
}

async function chapters(): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const e of Deno.readDir(new URL("spec/", ROOT))) {
    if (e.name.endsWith(".md")) {
      out.push([`spec/${e.name}`, await Deno.readTextFile(new URL(`spec/${e.name}`, ROOT))]);
    }
  }
  return out.sort();
}

/**
 * The `{#id}` anchors of a chapter: `steps` are those in its prose outside headings (the checks
 * and steps), `local` the ids of its headings and of its code fragments.
 */
function anchors(text: string): { steps: { id: string; line: number }[]; local: Set<string> } {
  const steps: { id: string; line: number }[] = [];
  const local = new Set<string>();
  let fence: string | null = null;
  text.split("\n").forEach((l, i) => {
    const f = /^\s*(`{3,}|~{3,})/.exec(l);
    if (f) {
      if (fence === null) {
        fence = f[1];
        for (const m of l.matchAll(/\{#([A-Za-z0-9_-]+)/g)) local.add(m[1]);
      } else if (f[1].startsWith(fence)) fence = null;
      return;
    }
    if (fence !== null) return;
    for (const m of l.matchAll(/\{#([A-Za-z0-9_-]+)\}/g)) {
      if (/^#{1,6}\s/.test(l)) local.add(m[1]);
      else steps.push({ id: m[1], line: i + 1 });
    }
  });
  return { steps, local };
}

Deno.test("check ids are names: no numbered id in a fail() call of lib/", async () => {
  const bad: string[] = [];
  let seen = 0;
  for (const [path, text] of await libFiles()) {
    for (const m of text.matchAll(/\bfail\(\s*E[A-Z0-9]+,\s*"([^"]+)"/g)) {
      seen++;
      if (NUMBERED.test(m[1])) {
        bad.push(`${path}:${text.slice(0, m.index).split("\n").length}: "${m[1]}"`);
      }
    }
  }
  assert.ok(seen >= 200, `found only ${seen} fail() calls`);
  assert.deepEqual(
    bad,
    [],
    "numbered check ids (name them <subject>-<what>, chapter 0 §Conventions)",
  );
});

Deno.test("check ids are names: no numbered anchor, and each defined once in the book", async () => {
  const bad: string[] = [];
  const where = new Map<string, string>();
  const twice: string[] = [];
  for (const [path, text] of await chapters()) {
    const { steps, local } = anchors(text);
    for (const { id, line } of steps) {
      const at = `${path}:${line}`;
      if (NUMBERED.test(id)) bad.push(`${at}: {#${id}}`);
      if (where.has(id)) twice.push(`{#${id}} at ${where.get(id)} and ${at}`);
      else where.set(id, at);
      if (local.has(id)) twice.push(`{#${id}} at ${at} is also a heading or fragment of ${path}`);
    }
  }
  assert.ok(where.size >= 300, `found only ${where.size} step anchors`);
  assert.deepEqual(
    bad,
    [],
    "numbered anchors (name them <subject>-<what>, chapter 0 §Conventions)",
  );
  assert.deepEqual(twice, [], "anchors defined twice");
});

Deno.test("snake_case names are kernel symbols: none is documented NON-KERNEL or unsourced", async () => {
  const bad: string[] = [];
  let snake = 0;
  const decl =
    /(\/\*\*(?:(?!\*\/)[\s\S])*?\*\/\s*)?^export\s+(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?(?:function\*?|const|let|class|type|interface|enum)\s+([A-Za-z_$][\w$]*)/gm;
  for (const [path, text] of await libFiles()) {
    for (const m of text.matchAll(decl)) {
      const name = m[2];
      if (!/[a-z0-9]_[a-z0-9]/.test(name) || name === name.toUpperCase()) continue; // UPPER_CASE
      snake++;
      if (name in SNAKE_CASE_ALLOWED) continue;
      const doc = (m[1] ?? "").replace(/^\s*\/?\*+\/?/gm, " ").replace(/\s+/g, " ").trim();
      const line = text.slice(0, m.index! + m[0].length).split("\n").length;
      if (/^NON-KERNEL/.test(doc)) {
        bad.push(`${path}:${line}: ${name} is NON-KERNEL: name it in camelCase`);
      } else if (!/\blinux\b|\bQEMU\b/i.test(doc) && !doc.includes(`struct ${name}`)) {
        bad.push(`${path}:${line}: ${name} cites no kernel or QEMU source`);
      }
    }
  }
  assert.ok(snake >= 300, `found only ${snake} snake_case exports`);
  assert.deepEqual(bad, []);
});

Deno.test("the naming test's allow-list names only exports that exist", async () => {
  const all = (await libFiles()).map(([, t]) => t).join("\n");
  for (const name of Object.keys(SNAKE_CASE_ALLOWED)) {
    assert.match(
      all,
      new RegExp(`^export (?:function|const|type|class|interface) ${name}\\b`, "m"),
    );
  }
});
