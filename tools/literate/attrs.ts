/**
 * Code-block attributes in the pandoc / Entangled style: the part of a fence's info string after
 * the language, e.g. `{#iommu-ops file=lib/iommu/iommu.ts}`.
 *
 * Grammar (whitespace-separated, inside one pair of braces):
 *   `#name`        the fragment's name (kebab-case)
 *   `.class`       a class, kept for the site
 *   `key=value`    `key="value with spaces"`; known keys: `file`, `title`
 *
 * @module
 */

/** Parsed attributes of one code block. */
export interface BlockAttrs {
  id?: string;
  file?: string;
  title?: string;
  classes: string[];
}

/** A malformed attribute, with the 0-based offset of the offending token inside `meta`. */
export class AttrError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

const FRAGMENT_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
const FILE_PATH = /^lib\/(?:[A-Za-z0-9_.-]+\/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*\.(?:ts|tsx|js)$/;
const KNOWN_KEYS = new Set(["file", "title"]);

/** True when `meta` asks to be a model block (it starts with `{`). */
export function hasAttrs(meta: string | null | undefined): meta is string {
  return meta != null && meta.trimStart().startsWith("{");
}

/** Parses `{#name .class key=value}`; throws {@link AttrError} naming the bad token. */
export function parseAttrs(meta: string): BlockAttrs {
  const start = meta.indexOf("{");
  const end = meta.lastIndexOf("}");
  if (end < start || meta.slice(end + 1).trim() !== "") {
    throw new AttrError("attributes must be one {…} group at the end of the fence line", start);
  }
  const attrs: BlockAttrs = { classes: [] };
  const body = meta.slice(start + 1, end);
  const token = /\s*([^\s=]+)(?:=("(?:[^"\\]|\\.)*"|[^\s"]*))?/y;
  let pos = 0;
  while (pos < body.length) {
    if (body.slice(pos).trim() === "") break;
    token.lastIndex = pos;
    const m = token.exec(body);
    if (!m) throw new AttrError("cannot read attribute", start + 1 + pos);
    const offset = start + 1 + m.index + (m[0].length - m[0].trimStart().length);
    const [, key, raw] = m;
    pos = token.lastIndex;
    if (raw === undefined) {
      if (key.startsWith("#")) {
        const name = key.slice(1);
        if (!FRAGMENT_NAME.test(name)) {
          throw new AttrError(`fragment name "${name}" is not kebab-case`, offset);
        }
        if (attrs.id) throw new AttrError("a block has one #name", offset);
        attrs.id = name;
      } else if (key.startsWith(".") && key.length > 1) {
        attrs.classes.push(key.slice(1));
      } else {
        throw new AttrError(`"${key}" is neither #name, .class nor key=value`, offset);
      }
      continue;
    }
    if (!KNOWN_KEYS.has(key)) {
      throw new AttrError(`unknown attribute "${key}" (known: file, title)`, offset);
    }
    const value = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw;
    if (value === "") throw new AttrError(`${key}= needs a value`, offset);
    if (key === "file") {
      if (!FILE_PATH.test(value) || value.split("/").includes("..")) {
        throw new AttrError(
          `file=${value}: a model file is a .ts/.tsx/.js path under lib/`,
          offset,
        );
      }
      attrs.file = value;
    } else {
      attrs.title = value;
    }
  }
  if (!attrs.id && !attrs.file) {
    throw new AttrError("a model block needs #name or file=", start);
  }
  return attrs;
}
