// A complete Node program on @sealroom/sdk: the provider bootstraps the relay, invites a customer,
// uploads a file, the customer (a service with a persistent store) syncs, downloads and replies,
// and is removed. Run: SEALROOM_RELAY=http://127.0.0.1:8080 SEALROOM_SETUP_TOKEN=... node node-quickstart.mjs
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SealroomClient, SealroomError, fileStore, memoryStore } from "@sealroom/sdk";

const relay = process.env.SEALROOM_RELAY ?? "http://127.0.0.1:8080";
const setupToken = process.env.SEALROOM_SETUP_TOKEN;

// The provider's admin (a memory store here; a real service uses fileStore(dir)).
const admin = await SealroomClient.open(relay, { store: memoryStore() });
await admin.bootstrap(setupToken, "Acme Accounting", "Ada Admin", null, "laptop");
const org = await admin.createCustomerOrg("Heron GmbH");
const space = await admin.createSpace(org.orgId, false);
const invitation = await admin.invite("customer", space.spaceId);

// The customer's service keeps its device in a directory across restarts.
const dir = await mkdtemp(join(tmpdir(), "sealroom-example-"));
let customer = await SealroomClient.open(relay, { store: fileStore(dir) });
const me = await customer.register(invitation.token, "Heron Bot", null, "worker-1");
await admin.addMember(space.spaceId, me.userId);
customer.free();
customer = await SealroomClient.open(relay, { store: fileStore(dir) });   // a restart
console.log("still registered:", customer.isRegistered());

// A 1 MiB upload from a stream, with progress in plaintext bytes and a way to cancel it.
const report = new Uint8Array(1024 * 1024);
report.set(new TextEncoder().encode("%PDF-1.7\n"));
const cancel = new AbortController();
const version = await admin.uploadFile(space.spaceId, { name: "q3-report.pdf" }, report.length,
  new Blob([report]).stream(), {
    signal: cancel.signal,
    onStart: (uploadId) => console.log("upload", uploadId, "started"),
    onProgress: (done, total) => { if (done === total) console.log("uploaded", total, "bytes"); },
  });

// The customer syncs: the file arrives complete (name, size, media type).
for (const event of await customer.sync()) {
  if (event.type === "newFile") {
    const file = customer.files(event.spaceId).find((f) => f.fileId === event.fileId);
    console.log("new file:", file.name, file.size, file.mediaType);
  }
}
const stream = await customer.downloadFile(space.spaceId, version.fileId);
let received = 0;
for await (const chunk of stream) received += chunk.length;
console.log("downloaded", received, "bytes");
await customer.postMessage(space.spaceId, { body: "Report received, thanks." });

// Removal: every later call into the space fails with one code.
await admin.removeMember(space.spaceId, me.userId);
await customer.sync();                                       // reports removedFromSpace
try {
  await customer.postMessage(space.spaceId, { body: "still here?" });
} catch (e) {
  if (!(e instanceof SealroomError)) throw e;
  console.log("refused:", e.code, "retryable:", e.retryable); // removed_from_space false
}
