// Shared helpers of the Node tests: load the WASM package built by scripts/build-wasm.sh and find
// native binaries built by cargo.
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
