/**
 * A directory of derived texts keyed by content hash, for work that depends only on its input
 * (a chapter's parse tree, Deno's emit map of a file). Entries not used since the store was opened
 * are removed by {@link HashStore.prune}, so the directory holds one generation.
 *
 * @module
 */

/** The SHA-256 of a text, in hex. */
export async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Texts stored as `<dir>/<key>.json`. */
export class HashStore {
  readonly #used = new Set<string>();
  constructor(readonly dir: string) {}

  /** The text stored under `key`, or null. */
  async get(key: string): Promise<string | null> {
    this.#used.add(key);
    return await Deno.readTextFile(`${this.dir}/${key}.json`).catch(() => null);
  }

  /** Stores `text` under `key`, atomically (a concurrent reader sees all of it or nothing). */
  async put(key: string, text: string): Promise<void> {
    this.#used.add(key);
    await Deno.mkdir(this.dir, { recursive: true });
    const tmp = await Deno.makeTempFile({ dir: this.dir, suffix: ".tmp" });
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, `${this.dir}/${key}.json`);
  }

  /** Removes the entries neither read nor written since the store was opened. */
  async prune(): Promise<void> {
    try {
      for await (const e of Deno.readDir(this.dir)) {
        if (e.name.endsWith(".json") && !this.#used.has(e.name.slice(0, -5))) {
          await Deno.remove(`${this.dir}/${e.name}`).catch(() => {});
        }
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}
