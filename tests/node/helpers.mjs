// Shared helpers of the Node tests: load the WASM package built by scripts/build-wasm.sh and find
// native binaries built by cargo; small stream and error helpers.
import assert from "node:assert/strict";
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
