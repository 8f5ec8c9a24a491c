// Invitations with a lifetime and revocation, document dates and the relay's mail setting in the
// npm package (issue 18 point 12), against a real relay: staff choose how long a link works, list
// the space's open invitations and revoke one, whose link the relay then refuses (check, register);
// a customer may not list or revoke; every document version carries the time the relay accepted
// it and documents come most recently updated first; the notification preference says that this
// relay (started without SMTP) sends no mail.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { SealroomClient, memoryStore } from "../../wasm/pkg/node.js";
import { startRelay } from "./relay.mjs";

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await relay?.stop();
});

const open = () => SealroomClient.open(relay.url, { store: memoryStore() });
const nowSecs = () => Math.floor(Date.now() / 1000);

function streamOf(bytes) {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

test("invitations: lifetime, open list, revoke; refused once revoked", async () => {
  const admin = await open();
  await admin.bootstrap(relay.setupToken(), "Provider", "Ada Admin", null, "laptop");
  const org = await admin.createCustomerOrg("Heron GmbH");
  const space = await admin.createSpace(org.orgId, false);

  const t0 = nowSecs();
  const hour = await admin.invite("customer", space.spaceId, 3600);
  const plain = await admin.invite("customer", space.spaceId);
  const t1 = nowSecs();
  assert.ok(hour.expiresAt >= t0 + 3600 && hour.expiresAt <= t1 + 3600, JSON.stringify(hour));
  assert.ok(plain.expiresAt >= t0 + 7 * 86400 && plain.expiresAt <= t1 + 7 * 86400, JSON.stringify(plain));
  for (const bad of [59, 3599, 30 * 86400 + 1]) {
    await assert.rejects(admin.invite("customer", space.spaceId, bad), (e) => e.code === "invalid_input", String(bad));
  }

  const open1 = await admin.spaceInvitations(space.spaceId);
  assert.deepEqual(open1.map((i) => i.invitationId).sort(), [hour.invitationId, plain.invitationId].sort());
  const listed = open1.find((i) => i.invitationId === hour.invitationId);
  assert.deepEqual([listed.state, listed.role, listed.spaceId, listed.expiresAt, listed.revokedAt],
    ["valid", "customer", space.spaceId, hour.expiresAt, null]);
  assert.ok(!JSON.stringify(open1).includes(hour.token), "a listing carries no token");

  await admin.revokeInvitation(hour.invitationId);
  assert.deepEqual((await admin.spaceInvitations(space.spaceId)).map((i) => i.invitationId), [plain.invitationId]);
  const stranger = await open();
  const check = await stranger.checkInvitation(hour.token);
  assert.equal(check.state, "revoked");
  assert.equal(check.orgName, null);
  await assert.rejects(stranger.register(hour.token, "Mallory", null, "phone"), (e) => e.code === "relay_gone");

  // The customer who registers with the other link may neither list nor revoke.
  const customer = await open();
  await customer.register(plain.token, "Hana Berg", null, "phone");
  const third = await admin.invite("customer", space.spaceId, 86400);
  await assert.rejects(customer.spaceInvitations(space.spaceId), (e) => e.code === "relay_forbidden");
  await assert.rejects(customer.revokeInvitation(third.invitationId), (e) => e.code === "relay_forbidden");
  assert.equal((await stranger.checkInvitation(third.token)).state, "valid");
  // A used invitation is no longer open and cannot be revoked.
  await assert.rejects(admin.revokeInvitation(plain.invitationId), (e) => e.code === "relay_conflict");
  assert.deepEqual((await admin.spaceInvitations(space.spaceId)).map((i) => i.invitationId), [third.invitationId]);
});

test("document versions carry the relay's time; the latest updated document comes first", async () => {
  const own = await startRelay();
  try {
    const openOwn = () => SealroomClient.open(own.url, { store: memoryStore() });
    const admin = await openOwn();
    await admin.bootstrap(own.setupToken(), "Provider", "Ada Admin", null, "laptop");
    const org = await admin.createCustomerOrg("Heron GmbH");
    const space = await admin.createSpace(org.orgId, false);
    const inv = await admin.invite("customer", space.spaceId);
    const customer = await openOwn();
    const hana = await customer.register(inv.token, "Hana Berg", null, "phone");
    await admin.addMember(space.spaceId, hana.userId);
    await customer.sync();

    const t0 = nowSecs();
    const bytes = new TextEncoder().encode("first document");
    const a = await admin.uploadFile(space.spaceId, { name: "a.txt" }, bytes.length, streamOf(bytes));
    const b = await admin.uploadFile(space.spaceId, { name: "b.txt" }, bytes.length, streamOf(bytes));
    const a2 = await admin.uploadFile(space.spaceId, { name: "a.txt", documentId: a.documentId }, bytes.length, streamOf(bytes));
    const t1 = nowSecs();
    // Own uploads carry this device's time at once.
    assert.ok(a.receivedAt >= t0 && a.receivedAt <= t1, JSON.stringify(a));

    await customer.sync();
    await customer.refreshFiles(space.spaceId);
    const docs = customer.documents(space.spaceId);
    assert.equal(docs.length, 2);
    for (const d of docs) {
      for (const v of d.versions) {
        assert.ok(Number.isInteger(v.receivedAt) && v.receivedAt >= t0 && v.receivedAt <= t1, JSON.stringify(v));
      }
    }
    // Most recently updated first (ties within one second keep a stable order by document id).
    for (let i = 1; i < docs.length; i++) {
      assert.ok(docs[i - 1].latest.receivedAt >= docs[i].latest.receivedAt, JSON.stringify(docs.map((d) => d.latest)));
    }
    assert.deepEqual(docs.map((d) => d.documentId).sort(), [a.documentId, b.documentId].sort());
    const docA = docs.find((d) => d.documentId === a.documentId);
    assert.deepEqual(docA.versions.map((v) => v.version), [1, 2]);
    assert.equal(docA.latest.fileId, a2.fileId);
    assert.ok(docA.versions[0].receivedAt <= docA.versions[1].receivedAt);

    // No SMTP configured on this relay: the preference says no mail is ever sent.
    const pref = await admin.notificationPreference();
    assert.equal(pref.mailConfigured, false);
    const set = await customer.setNotificationMode("daily", "hana@example.test");
    assert.deepEqual([set.mode, set.mailConfigured], ["daily", false]);
  } finally {
    await own.stop();
  }
});
