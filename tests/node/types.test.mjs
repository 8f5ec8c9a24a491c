// The package's TypeScript declarations as a third-party project meets them: `tsc --noEmit`
// (typescript and @types/node pinned in tests/node/package.json, installed by scripts/setup.sh)
// on two small programs that import "@sealroom/sdk" from a node_modules of their own:
//   - types/node-app.ts, the README's Node example plus live events, in a Node-only project
//     (lib es2022, types ["node"], no DOM), resolved through the package's `node` export
//     condition to node.d.ts: zero errors;
//   - types/browser-app.ts, the README's browser example, with lib es2022 + dom, resolved to
//     sealroom.d.ts: zero errors.
// skipLibCheck is off, so the package's own .d.ts files are checked too. Without tsc the test
// is skipped with a message, except under CI=true, where that fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const PKG = resolve(HERE, "..", "..", "wasm", "pkg");
const MODULES = join(HERE, "node_modules");
const TSC = join(MODULES, "typescript", "bin", "tsc");

/** A scratch project: the check's files, and node_modules with the package and @types/node. */
function project() {
  const dir = mkdtempSync(join(tmpdir(), "sealroom-types-"));
  mkdirSync(join(dir, "node_modules", "@sealroom"), { recursive: true });
  mkdirSync(join(dir, "node_modules", "@types"), { recursive: true });
  symlinkSync(PKG, join(dir, "node_modules", "@sealroom", "sdk"), "dir");
  symlinkSync(join(MODULES, "@types", "node"), join(dir, "node_modules", "@types", "node"), "dir");
  symlinkSync(join(MODULES, "undici-types"), join(dir, "node_modules", "undici-types"), "dir");
  for (const f of ["node-app.ts", "browser-app.ts", "tsconfig.node.json", "tsconfig.browser.json"]) {
    copyFileSync(join(HERE, "types", f), join(dir, f));
  }
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "types-check", private: true, type: "module" }));
  return dir;
}

function tsc(dir, config) {
  const r = spawnSync(process.execPath, [TSC, "-p", config], { cwd: dir, encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

test("TypeScript: a Node-only project and a browser project type-check against the package", (t) => {
  if (!existsSync(TSC)) {
    const why = "typescript is not installed in tests/node (run scripts/setup.sh, or npm ci in tests/node)";
    assert.notEqual(process.env.CI, "true", why);
    t.skip(why);
    return;
  }
  assert.ok(existsSync(join(PKG, "node.d.ts")), "wasm/pkg/node.d.ts is missing: run scripts/build-wasm.sh");
  const nodeTypes = readFileSync(join(PKG, "node.d.ts"), "utf8");
  assert.doesNotMatch(nodeTypes, /\bInitInput\b|\bRequestInfo\b/, "node.d.ts carries wasm-bindgen's DOM-typed loader");
  assert.match(nodeTypes, /export function fileStore\(dir: string\): HostStore;/);

  const dir = project();
  try {
    const node = tsc(dir, "tsconfig.node.json");
    assert.equal(node.status, 0, `Node-only project (lib es2022, @types/node):\n${node.output}`);
    const browser = tsc(dir, "tsconfig.browser.json");
    assert.equal(browser.status, 0, `browser project (lib es2022 + dom):\n${browser.output}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
