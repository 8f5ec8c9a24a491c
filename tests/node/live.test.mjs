// Live events of the npm package against a real relay: `client.events({ signal })` yields a
// message another device posted without anyone calling `sync()`; staff learn of a registered
// invitee (`memberWaiting`) from `nextEvents()`; the loop reconnects after the relay restarts
// on the same port and data directory (relaunched only once the loop has failed to reach it);
// aborting the signal ends the iterator.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SealroomClient, memoryStore } from "../../wasm/pkg/node.js";
import { relayBin, startRelay } from "./relay.mjs";

/** A relay process on `dataDir`, listening on `listen`; resolves to { url, stop() }. */
async function launch(dataDir, listen = "127.0.0.1:0") {
  const addrFile = join(dataDir, "listen-addr");
  if (existsSync(addrFile)) unlinkSync(addrFile);
  const child = spawn(relayBin(), [], {
    env: {
      ...process.env,
      SEALROOM_LISTEN: listen,
      SEALROOM_DATA_DIR: dataDir,
      SEALROOM_LOG: "warn",
      SEALROOM_AUTH_FAILURES_PER_MINUTE: "100000",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  let exited = null;
  child.on("exit", (code) => { exited = code; });
  for (;;) {
    if (exited !== null) throw new Error(`relay exited with ${exited} before listening`);
    const addr = existsSync(addrFile) ? readFileSync(addrFile, "utf8").trim() : "";
    if (addr) {
      try {
        await fetch(`http://${addr}/healthz`);
        return {
          addr,
          url: `http://${addr}`,
          async stop() {
            if (exited === null) {
              const gone = new Promise((resolve) => child.once("exit", resolve));
              child.kill("SIGTERM");
              await gone;
            }
          },
        };
      } catch {
        // Not accepting yet.
      }
    }
    await sleep(50);
  }
}

// Failed fetches (the relay unreachable), counted around the SDK's global fetch.
let fetchFailures = 0;
const realFetch = globalThis.fetch;
globalThis.fetch = async (...args) => {
  try {
    return await realFetch(...args);
  } catch (e) {
    fetchFailures += 1;
    throw e;
  }
};

const dataDir = mkdtempSync(join(tmpdir(), "sealroom-live-"));
let relay;
after(async () => {
  await relay?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Events from `iterator` until one satisfies `want`; returns every event seen. */
async function until(iterator, want) {
  const seen = [];
  for (;;) {
    const { value, done } = await iterator.next();
    assert.equal(done, false, `the iterator ended; seen ${JSON.stringify(seen)}`);
    seen.push(value);
    if (want(value)) return seen;
  }
}

const LIVE = { waitSecs: 5, fullSyncSecs: 3600, minBackoffMs: 100, maxBackoffMs: 1000 };

test("live events arrive without sync, survive a relay restart, and stop on abort", { timeout: 240_000 }, async () => {
  relay = await launch(dataDir);
  const admin = await SealroomClient.open(relay.url, { store: memoryStore() });
  await admin.bootstrap(readFileSync(join(dataDir, "setup-token"), "utf8").trim(), "Provider", "Ada", null, "laptop");
  const org = await admin.createCustomerOrg("Heron GmbH");
  const space = await admin.createSpace(org.orgId, false);
  const invitation = await admin.invite("customer", space.spaceId);
  const customer = await SealroomClient.open(relay.url, { store: memoryStore() });
  const { userId } = await customer.register(invitation.token, "Hana", undefined, "phone");

  // Staff learn that the invitee registered, from the live loop.
  admin.setLiveOptions(LIVE);
  assert.throws(() => admin.setLiveOptions({ wait: 5 }), (e) => e.code === "invalid_input");
  assert.throws(() => admin.setLiveOptions({ waitSecs: 31 }), (e) => e.code === "invalid_input");
  const staffEvents = await admin.nextEvents();
  assert.ok(
    staffEvents.some((e) => e.type === "memberWaiting" && e.spaceId === space.spaceId && e.userId === userId),
    JSON.stringify(staffEvents),
  );
  await admin.addMember(space.spaceId, userId);

  customer.setLiveOptions(LIVE);
  const controller = new AbortController();
  const events = customer.events({ signal: controller.signal });
  assert.equal(typeof events[Symbol.asyncIterator], "function");
  await until(events, (e) => e.type === "joinedSpace" && e.spaceId === space.spaceId);

  // A post of the other device arrives as an event; nobody calls sync().
  await admin.postMessage(space.spaceId, { body: "live: hello Hana" });
  await until(events, (e) => e.type === "newMessage" && e.message.body === "live: hello Hana");
  assert.deepEqual(customer.messages(space.spaceId).map((m) => m.body), ["live: hello Hana"]);

  // The relay restarts on the same port and data while the customer waits.
  const waiting = until(events, (e) => e.type === "newMessage" && e.message.body === "after the restart");
  await sleep(300);
  const before = fetchFailures;
  await relay.stop();
  while (fetchFailures === before) await sleep(20);
  relay = await launch(dataDir, relay.addr);
  await admin.postMessage(space.spaceId, { body: "after the restart" });
  await waiting;

  // Abort ends a pending next() and the iterator.
  const pending = events.next();
  await sleep(200);
  controller.abort();
  assert.deepEqual(await pending, { done: true, value: undefined });
  assert.deepEqual(await events.next(), { done: true, value: undefined });

  // nextEvents with an aborted signal is cancelled.
  await assert.rejects(customer.nextEvents({ signal: AbortSignal.abort() }), (e) => e.code === "cancelled");

  // Leaving a for-await loop ends it too.
  const second = customer.events();
  await admin.postMessage(space.spaceId, { body: "one more" });
  for await (const e of second) {
    if (e.type === "newMessage" && e.message.body === "one more") break;
  }
  assert.deepEqual(await second.next(), { done: true, value: undefined });
});

// The portal runs its live loop beside everything else: an upload (and a sync) while
// `nextEvents` waits on the relay finishes, and the loop then reports the new file.
test("an upload completes while nextEvents waits, and the loop reports it", { timeout: 120_000 }, async () => {
  const own = await startRelay();
  try {
    const admin = await SealroomClient.open(own.url, { store: memoryStore() });
    await admin.bootstrap(own.setupToken(), "Provider", "Ada", null, "laptop");
    const org = await admin.createCustomerOrg("Heron GmbH");
    const space = await admin.createSpace(org.orgId, false);
    const watcher = await SealroomClient.open(own.url, { store: memoryStore() });
    const invitation = await admin.invite("customer", space.spaceId);
    const { userId } = await watcher.register(invitation.token, "Hana", undefined, "phone");
    await admin.addMember(space.spaceId, userId);
    await watcher.sync();

    // Both devices wait on the relay while the admin uploads 9 MiB (three chunks) and syncs.
    for (const c of [admin, watcher]) c.setLiveOptions(LIVE);
    const stop = new AbortController();
    const adminWaits = admin.nextEvents({ signal: stop.signal }).catch((e) => e);
    const watcherSees = (async () => {
      for await (const e of watcher.events({ signal: stop.signal })) {
        if (e.type === "newFile" && e.spaceId === space.spaceId) return e;
      }
      return null;
    })();
    await sleep(300);
    const size = 9 * 1024 * 1024;
    const version = await admin.uploadFile(space.spaceId, { name: "live.bin" }, size, new Blob([new Uint8Array(size)]).stream());
    await admin.sync();
    const seen = await watcherSees;
    assert.equal(seen?.fileId, version.fileId);
    stop.abort();
    const ended = await adminWaits;
    assert.ok(Array.isArray(ended) || ended.code === "cancelled", String(ended));
  } finally {
    await own.stop();
  }
});
