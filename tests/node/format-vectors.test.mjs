// Every sealed-file test vector of both versions (core/tests/vectors, core/tests/vectors/v2;
// schema in docs/format.md) opened by the WASM package's FileOpener in Node, whole and in
// 1000-byte pushes: valid cases give their metadata and plaintext, failing cases their error
// code, and what was released before an error is a prefix of the vector's `released`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadSdk, ROOT } from "./helpers.mjs";

const sdk = await loadSdk();
const VECTORS = join(ROOT, "core", "tests", "vectors");

function cases(dir) {
  return readdirSync(dir).filter((f) => f.endsWith(".json")).sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")));
}

function openPushed(key, sealed, step) {
  const opener = new sdk.FileOpener(key);
  const released = [];
  try {
    for (let at = 0; at < sealed.length; at += step) {
      released.push(...opener.push(sealed.subarray(at, at + step)));
    }
    const metadata = opener.metadata();
    released.push(...opener.finish());
    return { metadata, released: Uint8Array.from(released) };
  } catch (e) {
    assert.ok(e instanceof Error);
    return { code: e.code, released: Uint8Array.from(released) };
  }
}

for (const [sub, version, atLeast] of [[".", 1, 44], ["v2", 2, 58]]) {
  test(`format v${version} vectors open in WASM as they say`, () => {
    const all = cases(join(VECTORS, sub));
    assert.ok(all.length >= atLeast, `${all.length} vectors in ${sub}`);
    for (const c of all) {
      const key = Uint8Array.from(Buffer.from(c.file_key, "hex"));
      const sealed = Uint8Array.from(Buffer.from(c.sealed, "hex"));
      for (const step of [Math.max(1, sealed.length), 1000]) {
        const got = openPushed(key, sealed, step);
        const at = `${c.name} (push ${step})`;
        if (c.expected === "ok") {
          assert.equal(got.code, undefined, at);
          assert.equal(Buffer.from(got.released).toString("hex"), c.plaintext, at);
          const m = got.metadata;
          assert.equal(m.name, c.metadata.name, at);
          assert.equal(m.mediaType, c.metadata.media_type, at);
          assert.equal(m.classification, c.metadata.classification, at);
          // The binding returns numbers: exact up to 2^53 (created = 2^64 - 1 rounds alike).
          assert.equal(m.created, Number(c.metadata.created), at);
          assert.equal(m.length ?? null, c.metadata.length === null ? null : Number(c.metadata.length), at);
        } else {
          assert.equal(got.code, c.expected, at);
          const allowed = Buffer.from(c.released, "hex");
          assert.equal(allowed.length, Number(c.max_released), at);
          assert.ok(got.released.length <= allowed.length, `${at}: released too much`);
          assert.deepEqual(Buffer.from(got.released), allowed.subarray(0, got.released.length), at);
        }
      }
    }
  });
}
