// Node entry of @sealroom/sdk: the same module, with the WebAssembly instantiated from the
// package's own file at import time (Node's fetch cannot load file: URLs), plus `fileStore`,
// a persistent host store for Node services.
import { readFileSync } from "node:fs";
import { mkdir, open, readFile, readdir, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { initSync, SealroomError } from "./sealroom.js";

initSync({ module: readFileSync(new URL("./sealroom_bg.wasm", import.meta.url)) });

export * from "./sealroom.js";
export { default } from "./sealroom.js";

const STATE = "state.json";
const KEY = "storage.key";

function storageError(message, cause) {
  // SealroomError's prototype chain is installed by the module on first use; a plain
  // Error with the same fields until then.
  const e = new Error(message, cause === undefined ? undefined : { cause });
  if (typeof SealroomError === "function" && Object.getPrototypeOf(SealroomError.prototype) === Error.prototype) {
    Object.setPrototypeOf(e, SealroomError.prototype);
  }
  return Object.assign(e, { code: "storage", kind: "storage", retryable: false });
}

/** Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename. */
async function writeAtomic(dir, name, bytes, mode) {
  const tmp = join(dir, `.${name}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  // The rename itself is durable once the directory is synced.
  try {
    const d = await open(dir, "r");
    try { await d.sync(); } finally { await d.close(); }
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  }
}

/**
 * A persistent host store in directory `dir` (created if missing) for Node: the client's state
 * in `state.json` and its 32-byte storage key in `storage.key` (mode 0600). Every value the
 * SDK hands a store is already encrypted under the storage key (core's `EncryptedStore`), so
 * `state.json` holds ciphertext only; the key file is what protects it: keep the directory
 * private to the service's user (or keep the key elsewhere with your own `HostStore`). Each
 * commit rewrites the state file atomically (temporary file, fsync, rename): a crash leaves
 * the old or the new state, never a torn one. One process per directory.
 */
export function fileStore(dir) {
  if (typeof dir !== "string" || dir === "") {
    throw storageError("fileStore(dir) needs a directory path");
  }
  let map = null;
  let queue = Promise.resolve();
  const ready = (async () => {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // Leftovers of a crash between write and rename.
    for (const f of await readdir(dir)) {
      if (f.startsWith(".") && f.endsWith(".tmp")) await unlink(join(dir, f)).catch(() => {});
    }
    let text = null;
    try {
      text = await readFile(join(dir, STATE), "utf8");
    } catch (e) {
      if (e.code !== "ENOENT") throw storageError(`cannot read ${STATE}: ${e.message}`, e);
    }
    map = new Map();
    if (text !== null) {
      let entries;
      try {
        entries = JSON.parse(text);
      } catch (e) {
        throw storageError(`${STATE} is damaged`, e);
      }
      for (const [k, v] of entries) map.set(k, new Uint8Array(Buffer.from(v, "base64")));
    }
  })();
  async function persist() {
    const entries = [...map].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([k, v]) => [k, Buffer.from(v).toString("base64")]);
    await writeAtomic(dir, STATE, JSON.stringify(entries), 0o600);
  }
  return {
    async load() {
      await ready;
      return [...map].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, v]) => [k, v.slice()]);
    },
    commit(batch) {
      // Applied and written in call order.
      const copy = batch.map(([k, v]) => [k, v === null ? null : v.slice()]);
      queue = queue.then(async () => {
        await ready;
        for (const [k, v] of copy) {
          if (v === null) map.delete(k);
          else map.set(k, v);
        }
        await persist();
      });
      const result = queue;
      queue = queue.catch(() => {});
      return result.catch((e) => { throw e.code === "storage" ? e : storageError(`cannot write ${STATE}: ${e.message}`, e); });
    },
    async storageKey() {
      await ready;
      try {
        const key = new Uint8Array(await readFile(join(dir, KEY)));
        if (key.length !== 32) throw storageError(`${KEY} is not 32 bytes`);
        return key;
      } catch (e) {
        if (e.code !== "ENOENT") throw e.code === "storage" ? e : storageError(`cannot read ${KEY}: ${e.message}`, e);
      }
      const key = new Uint8Array(randomBytes(32));
      await writeAtomic(dir, KEY, key, 0o600);
      return key;
    },
  };
}
