// The `SealroomClient` of the npm package (@sealroom/sdk) against a real relay started by the
// test: bootstrap of the provider admin, a customer invited into a space, messages both ways
// (customer room and the staff-only internal room), a 12 MiB file uploaded from a
// ReadableStream and downloaded as a ReadableStream with identical SHA-256, ranged download,
// removal from the space, state surviving a reopen from the same store, settings, audit, device
// linking, the recovery backup and revoking the linked device, and
// stable error codes for bad input.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { SealroomClient, memoryStore } from "../../wasm/pkg/node.js";
import { startRelay } from "./relay.mjs";
import { PieceDigest, recordAppends } from "./helpers.mjs";
import { assertDeclared, assertVariantDeclared } from "./dts.mjs";

const FILE_LEN = 12 * 1024 * 1024 + 12345;

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await relay?.stop();
});

/** A stream over `bytes` in pieces of `piece` bytes, produced on demand. */
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

/** SHA-256 (hex) and length of everything a stream yields. */
async function digestOf(stream) {
  const hash = createHash("sha256");
  let length = 0;
  for await (const chunk of stream) {
    assert.ok(chunk instanceof Uint8Array);
    hash.update(chunk);
    length += chunk.length;
  }
  return { digest: hash.digest("hex"), length };
}

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof Error, "an Error");
    assert.equal(e.code, code, `${e.code}: ${e.message}`);
    assert.equal(typeof e.kind, "string");
    assert.equal(typeof e.retryable, "boolean");
    return true;
  });
}

async function open(store = memoryStore()) {
  return { client: await SealroomClient.open(relay.url, { store }), store };
}

test("staff and customer share a space: messages, files as streams, removal", async () => {
  const { client: admin, store: adminStore } = await open();
  assert.equal(admin.isRegistered(), false);
  const adminAccount = await admin.bootstrap(relay.setupToken(), "Provider", "Ada", null, "laptop");
  assert.equal(adminAccount.role, "admin");
  assert.deepEqual(admin.account(), adminAccount);
  assert.match(admin.devicePublicKey(), /^[0-9a-f]{64}$/);

  const org = await admin.createCustomerOrg("Heron GmbH");
  assert.equal(org.kind, "customer");
  const space = await admin.createSpace(org.orgId, true);
  assert.equal(space.customerOrgId, org.orgId);
  assert.equal(space.joined, true);
  assert.equal(space.internalRoom, true);

  const invitation = await admin.invite("customer", space.spaceId);
  assert.equal(invitation.role, "customer");
  assert.equal(invitation.spaceId, space.spaceId);
  const { client: customer } = await open();
  const customerAccount = await customer.register(invitation.token, "Hana", undefined, "phone");
  assert.equal(customerAccount.role, "customer");
  assert.equal(customerAccount.orgId, org.orgId);

  await admin.addMember(space.spaceId, customerAccount.userId);
  const joined = await customer.sync();
  assert.ok(
    joined.some((e) => e.type === "joinedSpace" && e.spaceId === space.spaceId && e.internal === false),
    JSON.stringify(joined),
  );
  const seen = await customer.space(space.spaceId);
  assert.equal(seen.joined, true);
  assert.equal(seen.internalRoom, false);
  const members = seen.members.map((m) => m.userId).sort();
  assert.deepEqual(members, [adminAccount.userId, customerAccount.userId].sort());
  assert.ok(seen.members.every((m) => m.safetyNumber === null || /^\d{60}$/.test(m.safetyNumber.replace(/\s/g, ""))));
  // Core's records as JS gets them are exactly what the .d.ts declares (a new core field fails).
  assertDeclared(seen, "Space");
  seen.members.forEach((m) => assertDeclared(m, "SpaceMember"));
  assert.deepEqual((await customer.spaces()).map((s) => s.spaceId), [space.spaceId]);

  // Messages both ways, and the internal room stays with staff.
  const hello = await admin.postMessage(space.spaceId, { body: "Welcome, Hana" });
  assert.equal(hello.body, "Welcome, Hana");
  await admin.postMessage(space.spaceId, { body: "staff only", internal: true });
  const events = await customer.sync();
  events.forEach((e) => assertVariantDeclared(e, "ClientEvent"));
  const got = events.filter((e) => e.type === "newMessage").map((e) => e.message.body);
  assert.deepEqual(got, ["Welcome, Hana"]);
  const reply = await customer.postMessage(space.spaceId, { body: "Thanks!", threadId: hello.threadId, replyTo: hello.messageId });
  assert.equal(reply.threadId, hello.threadId);
  await admin.sync();
  const thread = admin.messages(space.spaceId, hello.threadId).map((m) => [m.body, m.senderUserId]);
  assert.deepEqual(thread, [["Welcome, Hana", adminAccount.userId], ["Thanks!", customerAccount.userId]]);
  assert.deepEqual(customer.messages(space.spaceId).map((m) => m.body), ["Welcome, Hana", "Thanks!"]);
  const threads = admin.threads(space.spaceId);
  assert.deepEqual(threads.map((t) => [t.internal, t.messages]).sort(), [[false, 2], [true, 1]]);
  threads.forEach((t) => assertDeclared(t, "Thread"));
  customer.messages(space.spaceId).forEach((m) => assertDeclared(m, "Message"));

  // A file: ReadableStream in, ReadableStream out, identical bytes.
  const bytes = new Uint8Array(randomBytes(FILE_LEN));
  const expected = createHash("sha256").update(bytes).digest("hex");
  const progress = [];
  const sent = recordAppends();
  const version = await admin.uploadFile(space.spaceId, { name: "contract.bin" }, bytes.length, streamOf(bytes), (done, total) => progress.push([done, total]));
  sent.stop();
  assert.equal(version.version, 1);
  assert.equal(version.size, FILE_LEN);
  // The announced content digest is the sealed piece digest of the bytes sent to the relay
  // (docs/format.md, "Content digest"), not the plaintext's.
  assert.equal(version.digest, new PieceDigest().update(await sent.sealed(version.fileId)).hex());
  assert.notEqual(version.digest, new PieceDigest("sha256-4mib-pieces").update(bytes).hex());
  assert.ok(progress.length > 1);
  const [lastDone, total] = progress.at(-1);
  assert.equal(lastDone, total);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i][0] >= progress[i - 1][0]);

  const fileEvents = await customer.sync();
  assert.ok(fileEvents.some((e) => e.type === "newFile" && e.fileId === version.fileId), JSON.stringify(fileEvents));
  fileEvents.forEach((e) => assertVariantDeclared(e, "ClientEvent"));
  const docs = customer.documents(space.spaceId);
  assert.equal(docs.length, 1);
  assertDeclared(docs[0], "Document");
  docs[0].versions.forEach((v) => assertDeclared(v, "FileVersion"));
  assert.equal(docs[0].latest.fileId, version.fileId);
  assert.equal(docs[0].latest.latest, true);
  const downloadProgress = [];
  const stream = await customer.downloadFile(space.spaceId, version.fileId, (done, t) => downloadProgress.push([done, t]));
  assert.ok(stream instanceof ReadableStream);
  const downloaded = await digestOf(stream);
  assert.equal(downloaded.length, FILE_LEN);
  assert.equal(downloaded.digest, expected);
  assert.deepEqual(downloadProgress.at(-1), [FILE_LEN, FILE_LEN]);

  // A range crossing a chunk boundary.
  const offset = 5 * 1024 * 1024 - 100;
  const range = await customer.downloadRange(space.spaceId, version.fileId, offset, 70_000);
  const parts = [];
  for await (const c of range) parts.push(c);
  assert.deepEqual(Buffer.concat(parts), Buffer.from(bytes.subarray(offset, offset + 70_000)));

  // The customer may not publish a new version of the staff's document (docs/rooms.md): a typed
  // refusal before anything is posted.
  const v2bytes = new TextEncoder().encode("%PDF-1.7\nsigned\n");
  await assert.rejects(
    customer.uploadFile(space.spaceId, { name: "contract-signed.pdf", documentId: version.documentId }, v2bytes.length, streamOf(v2bytes)),
    (e) => {
      assert.equal(e.code, "room_invalid_input", `${e.code}: ${e.message}`);
      assert.match(e.message, /new version/);
      return true;
    },
  );
  // Staff publish the second version; the customer sees it become the latest.
  const v2 = await admin.uploadFile(space.spaceId, { name: "contract-signed.pdf", documentId: version.documentId }, v2bytes.length, streamOf(v2bytes));
  assert.equal(v2.version, 2);
  assert.equal(v2.mediaType, "application/pdf");
  const versionEvents = await customer.sync();
  assert.ok(versionEvents.some((e) => e.type === "newVersion" && e.fileId === v2.fileId && e.version === 2), JSON.stringify(versionEvents));
  const customerDocs = customer.documents(space.spaceId);
  assert.equal(customerDocs[0].versions.length, 2);
  assert.equal(customerDocs[0].latest.fileId, v2.fileId);
  const adminDocs = admin.documents(space.spaceId);
  assert.equal(adminDocs[0].latest.fileId, v2.fileId);

  // The admin's state survives a reopen from the same store.
  const { client: reopened } = await open(adminStore);
  assert.deepEqual(reopened.account(), adminAccount);
  assert.deepEqual(reopened.messages(space.spaceId, hello.threadId).map((m) => m.body), ["Welcome, Hana", "Thanks!"]);
  assert.equal(reopened.documents(space.spaceId)[0].versions.length, 2);

  // Removal: the customer's device leaves the room and can no longer post.
  await admin.removeMember(space.spaceId, customerAccount.userId);
  await admin.postMessage(space.spaceId, { body: "after the removal" });
  // As in the Rust client: the removed device learns it from the commit, or the relay already
  // refuses it.
  try {
    const removal = await customer.sync();
    assert.ok(removal.some((e) => e.type === "removedFromSpace" && e.spaceId === space.spaceId), JSON.stringify(removal));
  } catch (e) {
    assert.equal(e.kind, "forbidden", `${e.code}: ${e.message}`);
  }
  assert.ok(!customer.messages(space.spaceId).some((m) => m.body === "after the removal"));
  await assert.rejects(customer.postMessage(space.spaceId, { body: "still here?" }), (e) => {
    assert.equal(e.kind, "forbidden", `${e.code}: ${e.message}`);
    return true;
  });
  const after = await admin.space(space.spaceId);
  assert.deepEqual(after.members.map((m) => m.userId), [adminAccount.userId]);
});

test("settings, audit, a linked second device and the recovery backup of an admin", async () => {
  // A relay of its own: bootstrap is once per relay.
  const own = await startRelay();
  try {
    const admin = await SealroomClient.open(own.url, { store: "memory" });
    const account = await admin.bootstrap(own.setupToken(), "Provider", "Ada", "ada@example.com", "laptop");
    const devices = await admin.myDevices();
    assert.deepEqual(devices.devices.map((d) => d.deviceId), [account.deviceId]);
    assert.equal((await admin.setNotificationMode("daily", null)).mode, "daily");
    assert.equal((await admin.notificationPreference()).mode, "daily");
    const org = await admin.createCustomerOrg("Kite AG");
    const space = await admin.createSpace(org.orgId, false);
    assert.equal((await admin.setRetention(space.spaceId, 30)).days, 30);
    assert.equal((await admin.retention(space.spaceId)).days, 30);
    const page = await admin.audit({ limit: 500 });
    assert.ok(page.entries.length > 0);
    assert.ok(page.entries.every((e) => typeof e.seq === "number" && typeof e.hash === "string"));
    const report = await admin.verifyAudit();
    assert.equal(report.ok, true);
    assert.equal(report.verified, report.headSeq);
    const csv = new TextDecoder().decode(await admin.auditExport(undefined, "csv"));
    assert.match(csv.split("\n")[0], /seq/);
    await admin.setFilePolicy(space.spaceId, { allowedMediaTypes: ["application/pdf"] });
    assert.deepEqual(admin.filePolicy(space.spaceId), { allowedMediaTypes: ["application/pdf"], maxSize: null });
    await admin.postMessage(space.spaceId, { body: "kept in the backup" });

    // A second device, approved by the first after comparing the key, restores the recovery
    // backup; a wrong passphrase is refused with its own code.
    const PASS = "correct horse battery staple";
    assert.equal(await admin.hasRecoveryBackup(), false);
    const created = await admin.createRecoveryBackup(PASS);
    assert.ok(created.messages >= 1 && created.sealedBytes > 0, JSON.stringify(created));
    assert.equal(await admin.hasRecoveryBackup(), true);
    const tablet = await SealroomClient.open(own.url, { store: "memory" });
    const request = await tablet.requestDeviceLink(account.userId, "tablet");
    // Core's view of the request: no key-transfer handshake (kxPublicKey, bundle) reaches JS.
    assertDeclared(request, "DeviceRequestInfo");
    assert.equal(await tablet.finishDeviceLink(), null, "not approved yet");
    await admin.approveDevice(request.requestId, request.publicKey);
    const linked = await tablet.finishDeviceLink();
    assert.equal(linked.userId, account.userId);
    assert.notEqual(linked.deviceId, account.deviceId);
    assert.equal(tablet.devicePublicKey(), request.publicKey);
    assert.equal((await admin.myDevices()).devices.length, 2);
    await rejectsWith(tablet.restoreRecoveryBackup("a wrong passphrase here"), "wrong_passphrase");
    const restored = await tablet.restoreRecoveryBackup(PASS);
    assertDeclared(restored, "RecoveryReport");
    assert.equal(restored.messages, created.messages);
    assert.ok(tablet.messages(space.spaceId).some((m) => m.body === "kept in the backup"));
    await admin.deleteRecoveryBackup();
    assert.equal(await admin.hasRecoveryBackup(), false);

    // The tablet is lost: revoked from the laptop, refused at once, listed as revoked, and
    // the user's security events say so.
    const rooms = await admin.revokeDevice(linked.deviceId);
    assert.equal(typeof rooms, "number");
    await rejectsWith(tablet.sync(), "relay_unauthenticated");
    const listed = (await admin.myDevices()).devices.find((d) => d.deviceId === linked.deviceId);
    assert.equal(listed.status, "revoked");
    const security = await admin.securityEvents();
    assert.ok(
      security.events.some((e) => e.kind === "device_revoked" && e.deviceId === linked.deviceId),
      JSON.stringify(security),
    );
    assert.deepEqual((await admin.securityEvents(security.events.at(-1).seq)).events, []);

    // Devices nobody vouched for join no room by default; the policy is per device.
    assert.equal(await admin.allowUnverifiedCustomer(), false);
    await admin.setAllowUnverifiedCustomer(true);
    assert.equal(await admin.allowUnverifiedCustomer(), true);
    await admin.setAllowUnverifiedCustomer(false);
    // No key change pending: nothing to accept.
    await rejectsWith(admin.acceptIdentityKey(account.userId, "0".repeat(60)), "invalid_input");
    // An identity reset: the relay refuses the old key from then on (the laptop drops it on
    // its next look at the space), and the laptop starts over with a new one.
    assert.equal(await admin.canVouch(), true);
    await admin.resetIdentity(account.userId);
    const reset = await admin.securityEvents(security.events.at(-1).seq);
    assert.ok(reset.events.some((e) => e.kind === "identity_reset"), JSON.stringify(reset));
    await admin.space(space.spaceId);
    assert.equal(await admin.canVouch(), false);
    await admin.createNewIdentity();
    assert.equal(await admin.canVouch(), true);
    await rejectsWith(admin.createNewIdentity(), "invalid_input");

    const text = new TextEncoder().encode("plain text, not a PDF");
    await rejectsWith(admin.uploadFile(space.spaceId, { name: "notes.pdf" }, text.length, streamOf(text)), "policy");
  } finally {
    await own.stop();
  }
});

test("bad input is refused with stable error codes", async () => {
  const { client } = await open();
  // Not registered yet.
  assert.throws(() => client.account(), (e) => e.code === "not_registered" && e.kind === "invalid_input");
  await rejectsWith(client.spaces(), "not_registered");
  // A wrong invitation token is the relay's refusal.
  await assert.rejects(client.register("not-a-token", "Eve", null, "pc"), (e) => {
    assert.match(e.code, /^relay_/);
    assert.equal(typeof e.status, "number");
    return true;
  });
  assert.equal(client.isRegistered(), false);

  const { client: admin } = await open();
  // The shared relay was bootstrapped by the first test or not: bootstrap a relay of its own.
  const own = await startRelay();
  try {
    const staff = await SealroomClient.open(own.url, { store: memoryStore() });
    const token = own.setupToken();
    await staff.bootstrap(token, "P", "Ada", null, "laptop");
    await rejectsWith(staff.bootstrap(token, "P", "Ada", null, "laptop"), "already_registered");
    await rejectsWith(staff.invite("boss"), "invalid_input");
    await rejectsWith(staff.setNotificationMode("weekly"), "invalid_input");
    await rejectsWith(staff.postMessage("no-such-space", { body: "x" }), "unknown_space");
    await rejectsWith(staff.postMessage("no-such-space", { text: "x" }), "invalid_input");
    await rejectsWith(staff.auditExport(undefined, "xml"), "invalid_input");
    await rejectsWith(staff.audit({ bogus: 1 }), "invalid_input");
    await rejectsWith(staff.setRetention("x", -1), "invalid_input");
    const org = await staff.createCustomerOrg("Kite AG");
    const space = await staff.createSpace(org.orgId, false);
    await rejectsWith(staff.uploadFile(space.spaceId, { name: "a.bin" }, 3, "not a stream"), "invalid_input");
    await rejectsWith(staff.uploadFile(space.spaceId, { name: "a.bin" }, -3, streamOf(new Uint8Array(3))), "invalid_input");
    await rejectsWith(staff.uploadFile(space.spaceId, { name: "" }, 3, streamOf(new Uint8Array(3))), "invalid_input");
    // The stream is shorter than declared.
    await assert.rejects(staff.uploadFile(space.spaceId, { name: "short.bin" }, 100_000, streamOf(new Uint8Array(99_999))), (e) => {
      assert.equal(typeof e.code, "string");
      assert.notEqual(e.kind, "internal", `${e.code}: ${e.message}`);
      return true;
    });
    await rejectsWith(staff.downloadFile(space.spaceId, "no-such-file"), "unknown_file");
  } finally {
    await own.stop();
  }
  // No relay behind the URL: a network error, retryable.
  const nowhere = await SealroomClient.open("http://127.0.0.1:9", { store: "memory" });
  await assert.rejects(nowhere.bootstrap("t", "P", "A", null, "d"), (e) => {
    assert.equal(e.code, "network");
    assert.equal(e.retryable, true);
    return true;
  });
  await rejectsWith(SealroomClient.open(relay.url, { store: "floppy" }), "invalid_input");
  assert.ok(admin);
});
