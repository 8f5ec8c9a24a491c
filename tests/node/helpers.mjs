// Shared helpers of the Node tests: load the WASM package built by scripts/build-wasm.sh and find
// native binaries built by cargo; small stream and error helpers.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export async function loadSdk() {
  const sdk = await import(join(ROOT, "wasm", "pkg", "sealroom.js"));
  sdk.initSync({ module: readFileSync(join(ROOT, "wasm", "pkg", "sealroom_bg.wasm")) });
  return sdk;
}

export function nativeBin(name, profile = "debug") {
  const target = process.env.CARGO_TARGET_DIR ?? join(ROOT, "target");
  return join(target, profile, name);
}

/** A ReadableStream that yields `bytes` once. */
export function streamOf(bytes) {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (sent) {
        controller.close();
        return;
      }
      controller.enqueue(bytes);
      sent = true;
    },
  });
}

/** Awaits `promise` and checks that it rejects with the SDK error code `code`. */
export async function rejectsWith(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.code, code, `${e.code}: ${e.message}`);
    return true;
  });
}

/** The whole of a ReadableStream of bytes, as text. */
export async function readAll(stream) {
  const parts = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts).toString();
}

/** A piece digest of `docs/format.md` ("Content digest"): SHA-512/256 over the SHA-256 of
 *  each 4 MiB piece and the length, fed chunk by chunk (`update`), read once with `hex()`.
 *  Kind `sha256-4mib-sealed-pieces` (the default: what the SDK announces) over the sealed
 *  bytes the relay stores, or `sha256-4mib-pieces` (earlier SDKs) over the plaintext. */
export class PieceDigest {
  static PIECE = 4 * 1024 * 1024;
  #root;
  #piece = createHash("sha256");
  #inPiece = 0;
  #length = 0;

  constructor(kind = "sha256-4mib-sealed-pieces") {
    if (!["sha256-4mib-sealed-pieces", "sha256-4mib-pieces"].includes(kind)) throw new Error(`unknown kind ${kind}`);
    this.#root = createHash("sha512-256").update(`sealroom/content-digest/v1/${kind}`);
  }

  update(bytes) {
    let rest = bytes;
    while (rest.length > 0) {
      const take = Math.min(PieceDigest.PIECE - this.#inPiece, rest.length);
      this.#piece.update(rest.subarray(0, take));
      this.#inPiece += take;
      this.#length += take;
      rest = rest.subarray(take);
      if (this.#inPiece === PieceDigest.PIECE) {
        this.#root.update(this.#piece.digest());
        this.#piece = createHash("sha256");
        this.#inPiece = 0;
      }
    }
    return this;
  }

  hex() {
    if (this.#inPiece > 0) this.#root.update(this.#piece.digest());
    const length = Buffer.alloc(8);
    length.writeBigUInt64BE(BigInt(this.#length));
    return this.#root.update(length).digest("hex");
  }
}

/** Records the bodies of the upload appends (`PATCH`) this process sends through the global
 *  `fetch` the SDK calls (the requests still go to the real relay unchanged), so a test can
 *  check the content digest against the sealed bytes that left. `sealed(fileId)`: the bytes
 *  appended to that blob, by offset; `stop()` restores `fetch`. */
export function recordAppends() {
  const original = globalThis.fetch;
  const appends = new Map();
  globalThis.fetch = (url, init = {}) => {
    if (init.method === "PATCH" && init.body) {
      const offset = Number(init.headers?.["upload-offset"]);
      const key = new URL(String(url)).pathname;
      if (!appends.has(key)) appends.set(key, new Map());
      appends.get(key).set(offset, new Response(init.body).arrayBuffer());
    }
    return original(url, init);
  };
  return {
    async sealed(fileId) {
      const key = [...appends.keys()].find((k) => k.endsWith(`/blobs/${fileId}`));
      assert.ok(key, `no append of ${fileId} was sent`);
      const parts = [...appends.get(key)].sort((a, b) => a[0] - b[0]);
      const out = [];
      let at = 0;
      for (const [offset, body] of parts) {
        const bytes = Buffer.from(await body);
        assert.ok(offset <= at, `a gap before offset ${offset}`);
        out.push(bytes.subarray(at - offset));
        at = Math.max(at, offset + bytes.length);
      }
      return Buffer.concat(out);
    },
    stop() {
      globalThis.fetch = original;
    },
  };
}
