// The JS examples of README.md and docs/sdk-js.md cannot drift from the code: every block marked
// `<!-- example: <path> -->` is byte-identical to that file under examples/, and the files run
// here against a real relay (the Node program as a child process with the package as
// `@sealroom/sdk`; the browser module with its `init()` fetch served from wasm/pkg).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { ROOT } from "./helpers.mjs";
import { startRelay } from "./relay.mjs";

const DOCS = ["README.md", "docs/sdk-js.md"];
const MARKER = /<!-- example: (\S+) -->\n```js\n([\s\S]*?)```\n/g;

let relay;
let work;
before(async () => {
  relay = await startRelay();
  work = mkdtempSync(join(tmpdir(), "sealroom-examples-"));
  // `@sealroom/sdk` resolves to the built package, as after `npm install`.
  mkdirSync(join(work, "node_modules", "@sealroom"), { recursive: true });
  symlinkSync(join(ROOT, "wasm", "pkg"), join(work, "node_modules", "@sealroom", "sdk"), "dir");
});
after(async () => {
  await relay?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test("every example block in the docs is its file under examples/, verbatim", () => {
  const seen = new Set();
  for (const doc of DOCS) {
    const text = readFileSync(join(ROOT, doc), "utf8");
    const blocks = [...text.matchAll(MARKER)];
    assert.ok(blocks.length >= 2, `${doc} carries the Node and the browser example`);
    for (const [, path, code] of blocks) {
      assert.equal(code, readFileSync(join(ROOT, path), "utf8"), `${doc}: ${path} differs from the file`);
      seen.add(path);
    }
  }
  assert.ok(seen.has("examples/js/node-quickstart.mjs"));
  assert.ok(seen.has("examples/js/browser-portal.js"));
});

test("the Node example runs as a program against a real relay", async () => {
  copyFileSync(join(ROOT, "examples/js/node-quickstart.mjs"), join(work, "node-quickstart.mjs"));
  const { stdout } = await promisify(execFile)(process.execPath, [join(work, "node-quickstart.mjs")], {
    env: { ...process.env, SEALROOM_RELAY: relay.url, SEALROOM_SETUP_TOKEN: relay.setupToken() },
  });
  assert.match(stdout, /still registered: true/);
  assert.match(stdout, /upload [0-9a-f]+ started/);
  assert.match(stdout, /uploaded 1048576 bytes/);
  assert.match(stdout, /new file: q3-report\.pdf 1048576 application\/pdf/);
  assert.match(stdout, /downloaded 1048576 bytes/);
  assert.match(stdout, /refused: removed_from_space retryable: false/);
});

test("the browser example module runs (its init() fetch served from the package)", async () => {
  // The browser entry fetches sealroom_bg.wasm next to sealroom.js; Node's fetch cannot read
  // file: URLs, so this one request is answered from the file.
  const own = await startRelay();   // a fresh relay: the Node example bootstrapped the other
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.startsWith("file:") && url.endsWith("sealroom_bg.wasm")) {
      return new Response(readFileSync(new URL(url)), { headers: { "content-type": "application/wasm" } });
    }
    return realFetch(input, init);
  };
  try {
    const code = readFileSync(join(ROOT, "examples/js/browser-portal.js"), "utf8")
      .replace('from "@sealroom/sdk"', `from ${JSON.stringify(pathToFileURL(join(ROOT, "wasm/pkg/sealroom.js")).href)}`);
    const file = join(work, "browser-portal.mjs");
    writeFileSync(file, code);
    const portal = await import(pathToFileURL(file).href);
    const { SealroomClient, memoryStore } = await import(pathToFileURL(join(ROOT, "wasm/pkg/sealroom.js")).href);

    const client = await portal.openPortal(own.url);   // init() first, as in a page
    // The provider side, done by staff elsewhere.
    const staff = await SealroomClient.open(own.url, { store: memoryStore() });
    await staff.bootstrap(own.setupToken(), "Provider", "Sam", null, "laptop");
    const org = await staff.createCustomerOrg("Portal Ltd");
    const space = await staff.createSpace(org.orgId, false);
    const invitation = await staff.invite("customer", space.spaceId);

    const account = await portal.join(client, invitation.token);
    await staff.addMember(space.spaceId, account.userId);
    await staff.postMessage(space.spaceId, { body: "Welcome to the portal" });
    await client.sync();
    const bar = { value: 0 };
    const bytes = new TextEncoder().encode("%PDF-1.7\nsigned contract\n");
    const version = await portal.shareFile(client, space.spaceId, new File([bytes], "contract.pdf"), bar);
    assert.equal(bar.value, 1);
    assert.equal(version.name, "contract.pdf");
    const staffNews = await portal.refresh(staff);
    assert.ok(staffNews.includes(`file contract.pdf (${bytes.length} bytes)`), JSON.stringify(staffNews));
    const blob = await portal.fetchFile(staff, space.spaceId, version.fileId);
    assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), bytes);
    const aborted = await portal.shareFile(client, space.spaceId, new File([bytes], "again.pdf"), bar, AbortSignal.abort());
    assert.equal(aborted, null);
  } finally {
    globalThis.fetch = realFetch;
    await own.stop();
  }
});
