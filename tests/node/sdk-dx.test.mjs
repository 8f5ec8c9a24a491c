// Issue 17 (points 1-6, 8-12) as a third-party Node developer meets the SDK, against a real
// relay: files complete when `sync` announces them, a failing source stream, the Node file
// store across a restart, cancellation with AbortSignal and cancelUpload, one code after a
// removal, `retryable` only where a retry can succeed, `instanceof SealroomError`, option
// objects checked with their JS names, and progress in plaintext bytes at least every 1 % or
// 256 KiB.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SealroomClient, SealroomError, fileStore, memoryStore } from "../../wasm/pkg/node.js";
import { startRelay } from "./relay.mjs";
import { PieceDigest, recordAppends } from "./helpers.mjs";

let relay;
const unhandled = [];
const onUnhandled = (reason) => unhandled.push(reason);
before(async () => {
  process.on("unhandledRejection", onUnhandled);
  relay = await startRelay();
});
after(async () => {
  process.off("unhandledRejection", onUnhandled);
  await relay?.stop();
});

function streamOf(bytes, piece = 300_001) {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.subarray(at, at + piece));
      at += piece;
    },
  });
}

/** A stream that yields `good` bytes, then errors with `error`. */
function failingStream(good, error) {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(good);
        return;
      }
      controller.error(error);
    },
  });
}

/** A stream that yields `bytes` piece by piece and then stays open until `release` resolves. */
function stallingStream(bytes, release, piece = 256 * 1024) {
  let at = 0;
  return new ReadableStream({
    async pull(controller) {
      if (at >= bytes.length) {
        await release;
        controller.close();
        return;
      }
      controller.enqueue(bytes.subarray(at, at + piece));
      at += piece;
    },
  });
}

async function rejectsWith(promise, code) {
  let caught;
  await assert.rejects(promise, (e) => {
    caught = e;
    assert.ok(e instanceof SealroomError, `a SealroomError: ${e}`);
    assert.ok(e instanceof Error);
    assert.equal(e.code, code, `${e.code}: ${e.message}`);
    return true;
  });
  return caught;
}

async function open(store = memoryStore()) {
  return SealroomClient.open(relay.url, { store });
}

let scene;
/** An admin with a customer space and a registered, joined customer (shared by the tests). */
async function setup() {
  if (scene) return scene;
  const admin = await open();
  await admin.bootstrap(relay.setupToken(), "Provider", "Ada", null, "laptop");
  const org = await admin.createCustomerOrg("Heron GmbH");
  const space = await admin.createSpace(org.orgId, false);
  scene = { admin, org, spaceId: space.spaceId };
  return scene;
}

async function joinedCustomer(s) {
  const customer = await open();
  const invitation = await s.admin.invite("customer", s.spaceId);
  const account = await customer.register(invitation.token, "Hana", null, "phone");
  await s.admin.addMember(s.spaceId, account.userId);
  await customer.sync();
  return { customer, account };
}

test("point 6: bootstrapping twice is relay_conflict and not retryable", async () => {
  const s = await setup();
  const other = await open();
  // The setup token is gone once used; the relay answers "already bootstrapped" first.
  const e = await rejectsWith(other.bootstrap("any-token", "P2", "B", null, "d"), "relay_conflict");
  assert.match(e.message, /already bootstrapped/);
  assert.equal(e.retryable, false, e.message);
  assert.equal(e.kind, "conflict");
  assert.equal(e.status, 409);
  assert.ok(s.admin.isRegistered());
});

test("point 1 and 12: synced files are complete; progress in plaintext, every 1 % or 256 KiB", async () => {
  const s = await setup();
  const { customer } = await joinedCustomer(s);
  const len = 3 * 1024 * 1024 + 777;
  const bytes = new Uint8Array(randomBytes(len));
  bytes.set(new TextEncoder().encode("%PDF-1.7\n"), 0);
  const up = [];
  let startedWith = null;
  const sent = recordAppends();
  const version = await s.admin.uploadFile(s.spaceId, { name: "report.pdf" }, len, streamOf(bytes), {
    onProgress: (done, total) => up.push([done, total]),
    onStart: (id) => { startedWith = id; },
  });
  sent.stop();
  assert.match(startedWith, /^[0-9a-f]+$/);
  assert.equal(version.fileId, startedWith);
  const step = Math.min(Math.floor(len / 100), 256 * 1024);
  assert.deepEqual(up.at(-1), [len, len]);
  for (const [i, [done, total]] of up.entries()) {
    assert.equal(total, len, "total is the plaintext length");
    const before = i === 0 ? 0 : up[i - 1][0];
    assert.ok(done > before && done - before <= step, `step ${i}: ${before} -> ${done} (at most ${step})`);
  }

  const events = await customer.sync();
  const announced = events.find((e) => e.type === "newFile" && e.fileId === version.fileId);
  assert.ok(announced, JSON.stringify(events));
  // Complete when the event is delivered: no refreshFiles, no download.
  const f = customer.files(s.spaceId).find((x) => x.fileId === version.fileId);
  assert.equal(f.name, "report.pdf");
  assert.equal(f.size, len);
  assert.equal(f.mediaType, "application/pdf");
  assert.equal(customer.documents(s.spaceId)[0].latest.name, "report.pdf");

  const down = [];
  const stream = await customer.downloadFile(s.spaceId, version.fileId, { onProgress: (d, t) => down.push([d, t]) });
  const got = [];
  for await (const c of stream) got.push(c);
  assert.ok(Buffer.concat(got).equals(bytes), "downloaded bytes");
  assert.equal(new PieceDigest().update(await sent.sealed(version.fileId)).hex(), version.digest);
  assert.deepEqual(down.at(-1), [len, len]);
  for (const [i, [done, total]] of down.entries()) {
    assert.equal(total, len);
    const before = i === 0 ? 0 : down[i - 1][0];
    assert.ok(done > before && done - before <= step, `download step ${i}: ${before} -> ${done}`);
  }
});

test("point 2: a failing source stream rejects with source_failed and its cause, nothing unhandled", async () => {
  const s = await setup();
  const cause = new DOMException("the user aborted the file read", "AbortError");
  const bytes = new Uint8Array(randomBytes(600_000));
  const e = await rejectsWith(
    s.admin.uploadFile(s.spaceId, { name: "broken.bin" }, 2_000_000, failingStream(bytes, cause)),
    "source_failed",
  );
  assert.equal(e.cause, cause);
  assert.equal(e.retryable, false);
  assert.equal(typeof e.kind, "string");
  // Give any stray rejection a chance to surface.
  await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(unhandled, []);
});

test("point 4: AbortSignal and cancelUpload reject with cancelled, never relay_not_found", async () => {
  const s = await setup();
  const bytes = new Uint8Array(randomBytes(1024 * 1024));
  // Aborted by the caller's signal once the upload exists.
  const controller = new AbortController();
  let release;
  const stalled = new Promise((r) => { release = r; });
  let id = null;
  const upload = s.admin.uploadFile(s.spaceId, { name: "big.bin" }, 8 * 1024 * 1024, stallingStream(bytes, stalled), {
    signal: controller.signal,
    onStart: (uploadId) => { id = uploadId; controller.abort(); },
  });
  await rejectsWith(upload, "cancelled");
  release();
  assert.ok(id);
  assert.ok(!s.admin.pendingUploads().some((p) => p.uploadId === id), "abandoned on the relay and here");

  // Cancelled by id from elsewhere while in flight.
  let release2;
  const stalled2 = new Promise((r) => { release2 = r; });
  let started;
  const startedP = new Promise((r) => { started = r; });
  const second = s.admin.uploadFile(s.spaceId, { name: "big2.bin" }, 8 * 1024 * 1024, stallingStream(bytes, stalled2), {
    onStart: started,
  });
  const secondCancelled = rejectsWith(second, "cancelled");
  const secondId = await startedP;
  await s.admin.cancelUpload(secondId);
  await secondCancelled;
  release2();
  assert.ok(!s.admin.pendingUploads().some((p) => p.uploadId === secondId));

  // An already aborted signal: nothing starts.
  await rejectsWith(s.admin.sync({ signal: AbortSignal.abort() }), "cancelled");
  const fresh = await open();
  await rejectsWith(fresh.register("t", "n", null, "d", { signal: AbortSignal.abort() }), "cancelled");
  assert.equal(fresh.isRegistered(), false);
  const v = await s.admin.uploadFile(s.spaceId, { name: "small.txt" }, 5, streamOf(new TextEncoder().encode("hello")));
  await rejectsWith(s.admin.downloadFile(s.spaceId, v.fileId, { signal: AbortSignal.abort() }), "cancelled");
  // The signal option is checked: a non-signal is a caller error.
  await rejectsWith(s.admin.sync({ signal: "soon" }), "invalid_input");
});

test("point 5: after removedFromSpace, posting, downloading and uploading say removed_from_space", async () => {
  const s = await setup();
  const { customer, account } = await joinedCustomer(s);
  const text = new TextEncoder().encode("%PDF-1.7\nterms\n");
  const v = await s.admin.uploadFile(s.spaceId, { name: "terms.pdf" }, text.length, streamOf(text));
  await customer.sync();
  await s.admin.removeMember(s.spaceId, account.userId);
  const events = await customer.sync();
  assert.ok(events.some((e) => e.type === "removedFromSpace" && e.spaceId === s.spaceId), JSON.stringify(events));
  for (const call of [
    customer.postMessage(s.spaceId, { body: "still here?" }),
    customer.downloadFile(s.spaceId, v.fileId),
    customer.uploadFile(s.spaceId, { name: "late.pdf" }, text.length, streamOf(text)),
  ]) {
    const e = await rejectsWith(call, "removed_from_space");
    assert.equal(e.kind, "forbidden");
    assert.equal(e.retryable, false);
  }
});

test("point 3: fileStore keeps a Node service's device across a restart", async () => {
  const s = await setup();
  const dir = mkdtempSync(join(tmpdir(), "sealroom-filestore-"));
  try {
    const first = await SealroomClient.open(relay.url, { store: fileStore(dir) });
    const invitation = await s.admin.invite("staff", null);
    const account = await first.register(invitation.token, "Service Bot", null, "worker-1");
    first.free();
    // A restarted service: a new store object over the same directory.
    const again = await SealroomClient.open(relay.url, { store: fileStore(dir) });
    assert.equal(again.isRegistered(), true);
    assert.deepEqual(again.account(), account);
    await again.sync();
    assert.ok((await again.spaces()).length >= 0);
    const files = readdirSync(dir).sort();
    assert.deepEqual(files, ["state.json", "storage.key"], "no temporary files left");
    assert.equal(statSync(join(dir, "storage.key")).mode & 0o077, 0, "key file private");
    // The state file holds encrypted values: the names given at registration are not in it.
    const state = readFileSync(join(dir, "state.json"), "utf8");
    for (const plain of ["Service Bot", "worker-1", "Heron"]) assert.ok(!state.includes(plain), plain);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("points 9 and 10: SealroomError class, options checked with JS names", async () => {
  const s = await setup();
  assert.equal(typeof SealroomError, "function");
  const misspelt = await rejectsWith(SealroomClient.open(relay.url, { storage: "memory" }), "invalid_input");
  assert.match(misspelt.message, /storage/);
  assert.match(misspelt.message, /store, name, passphrase, indexedDB/);
  const e = await rejectsWith(
    s.admin.uploadFile(s.spaceId, { name: "a.txt", documentID: "x" }, 1, streamOf(new Uint8Array([65]))),
    "invalid_input",
  );
  assert.match(e.message, /documentId/);
  assert.doesNotMatch(e.message, /document_id|thread_id/);
  await rejectsWith(s.admin.uploadFile(s.spaceId, { name: "a.txt" }, 1, streamOf(new Uint8Array([65])), { onProgres: () => {} }), "invalid_input");
  assert.equal(misspelt.name, "SealroomError");
  assert.ok(misspelt.stack.includes("SealroomError"));
});
