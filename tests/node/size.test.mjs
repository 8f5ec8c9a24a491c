// Size budget of the npm package's WebAssembly module: at most 1.95 MB raw and 690 KB gzip
// (raised from 1.5 MB / 550 KB when the SDK began to enforce membership, history, versions and
// signed manifests itself and to verify the audit chain: +81 KB raw / +26 KB gzip; then to
// 1.7 MB / 610 KB for checkAudit, device certificates, revocation and format v2; then to
// 1.76 MB / 630 KB for live events and the JS SDK's option checks and errors; then to
// 1.9 MB / 670 KB for signed profiles, classification labels, space policy and releases; then to
// 1.95 MB / 690 KB for scan verdicts, invitation lifetimes and revocation, and the pipelined
// transfers with a host digest (1,924,061 B / 676,011 B gzip): docs/sdk-js.md).
// (`gzip -9`-equivalent, level 9). Prints both numbers and fails when either is over.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { ROOT } from "./helpers.mjs";

const RAW_BUDGET = 1_950_000;
const GZIP_BUDGET = 690_000;

const wasm = readFileSync(join(ROOT, "wasm", "pkg", "sealroom_bg.wasm"));
const raw = wasm.length;
const gz = gzipSync(wasm, { level: 9 }).length;
const numbers = `sealroom_bg.wasm: ${raw} bytes raw (budget ${RAW_BUDGET}), ${gz} bytes gzip (budget ${GZIP_BUDGET})`;
console.log(numbers);

test("the .wasm fits the size budget", () => {
  assert.ok(raw <= RAW_BUDGET, numbers);
  assert.ok(gz <= GZIP_BUDGET, numbers);
});
