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

/** The content digest the SDK announces for a version (`docs/format.md`, "Content digest",
 *  kind sha256-4mib-pieces): SHA-512/256 over the SHA-256 of each 4 MiB piece and the length,
 *  fed chunk by chunk (`update`), read once with `hex()`. */
export class PieceDigest {
  static PIECE = 4 * 1024 * 1024;
  #root = createHash("sha512-256").update("sealroom/content-digest/v1/sha256-4mib-pieces");
  #piece = createHash("sha256");
  #inPiece = 0;
  #length = 0;

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
