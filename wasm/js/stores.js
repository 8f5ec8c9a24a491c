// Host stores of the Sealroom WASM client (imported by the wasm-bindgen module).
//
// A host store keeps the client's encrypted state: `load()` returns every entry, `commit(batch)`
// applies a batch atomically (calls must be applied in call order), `storageKey()` returns the
// 32-byte key the SDK encrypts every value with. Values handed to a store are already
// encrypted; the storage key itself is what these stores protect:
//   * indexedDbStore(): the key is kept wrapped (AES-GCM) under a non-extractable WebCrypto key
//     stored in the same IndexedDB database (CryptoKey objects are structured-cloneable), or,
//     with `passphrase`, under a key derived from the passphrase (PBKDF2-SHA-256).
//   * memoryStore(): everything in memory, a fresh random key (tests, Node, ephemeral sessions).

import { checkKeys, sealroomError } from "./sdk.js";

const KV = "kv";
const META = "meta";
const WRAPPED = "storage-key";
const WRAP_KEY = "wrap-key";
const PBKDF2_ITERATIONS = 600000;
const AAD = new TextEncoder().encode("sealroom-storage-key-v1");

function coded(code, message) {
  return sealroomError(code, "storage", message, false);
}

/** The options `SealroomClient.open` takes (JS names). */
export const OPEN_OPTIONS = ["store", "name", "passphrase", "indexedDB"];
const IDB_OPTIONS = ["name", "passphrase", "indexedDB"];

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? coded("storage", "IndexedDB transaction aborted"));
  });
}

async function passphraseKey(passphrase, salt) {
  const material = await crypto.subtle.importKey(
    "raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations: PBKDF2_ITERATIONS },
    material, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

/** A store in IndexedDB database `sealroom:<name>`. */
export function indexedDbStore(options = {}) {
  checkKeys(options, IDB_OPTIONS, "indexedDbStore");
  options ??= {};
  const name = options.name ?? "sealroom";
  const passphrase = options.passphrase;
  const idb = options.indexedDB ?? globalThis.indexedDB;
  if (!idb) throw coded("storage", "IndexedDB is not available here; use memoryStore() or a host store");
  let opening;
  const db = () => (opening ??= new Promise((resolve, reject) => {
    const r = idb.open(`sealroom:${name}`, 1);
    r.onupgradeneeded = () => {
      r.result.createObjectStore(KV);
      r.result.createObjectStore(META);
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.onblocked = () => reject(coded("storage", "IndexedDB upgrade blocked by another tab"));
  }));

  async function readMeta() {
    const tx = (await db()).transaction(META, "readonly");
    const meta = tx.objectStore(META);
    const [wrapped, wrapKey] = await Promise.all([request(meta.get(WRAPPED)), request(meta.get(WRAP_KEY))]);
    return { wrapped, wrapKey };
  }

  async function createKey() {
    const salt = passphrase === undefined ? null : crypto.getRandomValues(new Uint8Array(16));
    const wrapKey = passphrase === undefined
      ? await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"])
      : await passphraseKey(passphrase, salt);
    const key = crypto.getRandomValues(new Uint8Array(32));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: AAD }, wrapKey, key));
    const tx = (await db()).transaction(META, "readwrite");
    const meta = tx.objectStore(META);
    // `add` fails if another tab created the key first; the caller then reads theirs.
    meta.add({ iv, ct, salt }, WRAPPED);
    if (salt === null) meta.add(wrapKey, WRAP_KEY);
    await done(tx);
    return key;
  }

  async function unwrap({ wrapped, wrapKey }) {
    let key;
    if (wrapped.salt) {
      if (passphrase === undefined) throw coded("storage_locked", "this store is protected by a passphrase");
      key = await passphraseKey(passphrase, wrapped.salt);
    } else {
      if (passphrase !== undefined) throw coded("storage_locked", "this store was created without a passphrase");
      key = wrapKey;
    }
    try {
      return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: wrapped.iv, additionalData: AAD }, key, wrapped.ct));
    } catch {
      throw coded("storage_locked", "the storage key could not be unwrapped (wrong passphrase or damaged store)");
    }
  }

  return {
    async load() {
      const tx = (await db()).transaction(KV, "readonly");
      const kv = tx.objectStore(KV);
      const [keys, values] = await Promise.all([request(kv.getAllKeys()), request(kv.getAll())]);
      return keys.map((k, i) => [k, new Uint8Array(values[i])]);
    },
    commit(batch) {
      // Transactions are created in call order (then-callbacks of one promise run in order),
      // and IndexedDB runs overlapping read-write transactions in creation order.
      return db().then((d) => {
        const tx = d.transaction(KV, "readwrite", { durability: "strict" });
        const kv = tx.objectStore(KV);
        for (const [k, v] of batch) {
          if (v === null) kv.delete(k);
          else kv.put(v, k);
        }
        return done(tx);
      });
    },
    async storageKey() {
      const meta = await readMeta();
      if (meta.wrapped) return unwrap(meta);
      try {
        return await createKey();
      } catch (e) {
        const again = await readMeta();
        if (again.wrapped) return unwrap(again);
        throw e;
      }
    },
    close() {
      if (opening) opening.then((d) => d.close(), () => {});
      opening = undefined;
    },
  };
}

/** Everything in memory with a fresh random storage key. */
export function memoryStore() {
  const map = new Map();
  const key = crypto.getRandomValues(new Uint8Array(32));
  return {
    async load() {
      return [...map].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, v]) => [k, v.slice()]);
    },
    async commit(batch) {
      for (const [k, v] of batch) {
        if (v === null) map.delete(k);
        else map.set(k, v.slice());
      }
    },
    async storageKey() {
      return key.slice();
    },
    get size() {
      return map.size;
    },
  };
}

/** The store an `open` call asked for: a host store object, "memory" or "indexeddb". */
export function resolveStore(options = {}) {
  checkKeys(options, OPEN_OPTIONS, "open");
  options ??= {};
  const choice = options.store ?? (globalThis.indexedDB ? "indexeddb" : "memory");
  if (typeof choice === "object" && choice !== null) {
    for (const m of ["load", "commit", "storageKey"]) {
      if (typeof choice[m] !== "function") throw sealroomError("invalid_input", "invalid_input", `a host store needs a ${m}() method`, false);
    }
    return choice;
  }
  if (choice === "memory") return memoryStore();
  if (choice === "indexeddb") {
    const { store, ...rest } = options;
    return indexedDbStore(rest);
  }
  throw sealroomError("invalid_input", "invalid_input", `unknown store "${choice}" (use "indexeddb", "memory" or a host store object)`, false);
}
