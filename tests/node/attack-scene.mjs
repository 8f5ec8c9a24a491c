// The scene of the Node attack tests: a real relay, the hostile proxy in front of it, and WASM
// SDK clients (the victims) that only ever talk to the proxy. The attacker's devices are Rust
// (raw openmls in the hostile-proxy binary) and talk to the relay directly.
import assert from "node:assert/strict";
import { SealroomClient, memoryStore } from "../../wasm/pkg/node.js";
import { startRelay } from "./relay.mjs";
import { startHostile } from "./hostile.mjs";

/** A PDF-looking document with a marker. */
export function pdf(marker) {
  return new TextEncoder().encode(`%PDF-1.7\n% ${marker}\n${"x".repeat(2000)}`);
}

function streamOf(bytes) {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

/**
 * An admin, a staff member who created a space with a customer room, and (with `cara`) an
 * honest customer in it, all WASM clients behind the hostile proxy.
 */
export async function startScene({ cara = true } = {}) {
  const relay = await startRelay();
  let hostile;
  try {
    hostile = await startHostile(relay.url);
  } catch (e) {
    await relay.stop();
    throw e;
  }
  const open = () => SealroomClient.open(hostile.url, { store: memoryStore() });
  const admin = await open();
  await admin.bootstrap(relay.setupToken(), "Provider", "Ada Admin", null, "laptop");
  const org = await admin.createCustomerOrg("Kestrel Ltd");
  const staff = await open();
  const staffInvite = await admin.invite("staff", null);
  const staffAccount = await staff.register(staffInvite.token, "Sam Staff", undefined, "laptop");
  const space = await staff.createSpace(org.orgId, false);
  const scene = {
    relay,
    hostile,
    admin,
    staff,
    staffUser: staffAccount.userId,
    spaceId: space.spaceId,
    cara: null,
    /** A customer of the space on the WASM SDK, registered, not yet in the room. */
    async customer(name) {
      const client = await open();
      const invite = await staff.invite("customer", space.spaceId);
      const account = await client.register(invite.token, name, undefined, "phone");
      return { client, userId: account.userId, deviceId: account.deviceId };
    },
    /** A customer added now (staff's commit), synced into the room. */
    async addCustomer(name) {
      const c = await scene.customer(name);
      await staff.addMember(space.spaceId, c.userId);
      const events = await c.client.sync();
      assert.ok(events.some((e) => e.type === "joinedSpace"), JSON.stringify(events));
      return c;
    },
    /** The attacker's customer device (raw openmls, three key packages on the relay). */
    async mallory(name = "Mallory") {
      const invite = await staff.invite("customer", space.spaceId);
      return hostile.call("POST", "/mallory", { token: invite.token, name });
    },
    /** `client` uploads a document (a new one, or a version of `documentId`). */
    async upload(client, name, marker, documentId) {
      const bytes = pdf(marker);
      return client.uploadFile(space.spaceId, { name, documentId }, bytes.length, streamOf(bytes));
    },
    /** `[version, fileId, senderUserId]` of every version of `documentId` a client knows. */
    versions(client, documentId) {
      return client
        .files(space.spaceId)
        .filter((f) => f.documentId === documentId)
        .map((f) => [f.version, f.fileId, f.senderUserId]);
    },
    /** Staff posts and every other client reads it; each of them answers and staff reads. */
    async stillUsable(others, marker) {
      const body = `staff after the attack ${marker}`;
      await staff.postMessage(space.spaceId, { body });
      for (const [i, other] of others.entries()) {
        await other.sync();
        assert.ok(other.messages(space.spaceId).some((m) => m.body === body), `member ${i} reads staff's post`);
        const reply = `member ${i} after the attack ${marker}`;
        await other.postMessage(space.spaceId, { body: reply });
        await staff.sync();
        assert.ok(staff.messages(space.spaceId).some((m) => m.body === reply), `staff reads member ${i}`);
      }
    },
    async stop() {
      await hostile.stop();
      await relay.stop();
    },
  };
  if (cara) {
    scene.cara = await scene.addCustomer("Cara Customer");
  }
  return scene;
}

/** Whether `events` hold a `refused` event for `room` (the relay's room id). */
export function refusedIn(events, room) {
  return events.some((e) => e.type === "refused" && e.room === room);
}
