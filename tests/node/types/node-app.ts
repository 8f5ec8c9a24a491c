// The Node quickstart (README, examples/js/node-quickstart.mjs) as TypeScript, for
// types.test.mjs: type-checked against the package's Node entry with no DOM types
// (lib es2022, @types/node only), never run.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  SealroomClient, SealroomError, fileStore, memoryStore,
  type Account, type ClientEvent, type FileVersion, type HostStore, type LiveEvent,
} from "@sealroom/sdk";

const relay = process.env.SEALROOM_RELAY ?? "http://127.0.0.1:8080";
const setupToken = process.env.SEALROOM_SETUP_TOKEN ?? "";

const admin = await SealroomClient.open(relay, { store: memoryStore() });
await admin.bootstrap(setupToken, "Acme Accounting", "Ada Admin", null, "laptop");
const org = await admin.createCustomerOrg("Heron GmbH");
const space = await admin.createSpace(org.orgId, false);
const invitation = await admin.invite("customer", space.spaceId);

const dir = await mkdtemp(join(tmpdir(), "sealroom-example-"));
const store: HostStore = fileStore(dir);
let customer = await SealroomClient.open(relay, { store });
const me: Account = await customer.register(invitation.token, "Heron Bot", null, "worker-1");
await admin.addMember(space.spaceId, me.userId);
customer.free();
customer = await SealroomClient.open(relay, { store: fileStore(dir) });
const registered: boolean = customer.isRegistered();
console.log("still registered:", registered);

const report = new Uint8Array(1024 * 1024);
report.set(new TextEncoder().encode("%PDF-1.7\n"));
const cancel = new AbortController();
const version: FileVersion = await admin.uploadFile(space.spaceId, { name: "q3-report.pdf" }, report.length,
  new Blob([report]).stream(), {
    signal: cancel.signal,
    onStart: (uploadId: string) => console.log("upload", uploadId, "started"),
    onProgress: (done: number, total: number) => { if (done === total) console.log("uploaded", total, "bytes"); },
  });

const events: ClientEvent[] = await customer.sync();
for (const event of events) {
  if (event.type === "newFile") {
    const file = customer.files(event.spaceId).find((f) => f.fileId === event.fileId);
    console.log("new file:", file?.name, file?.size, file?.mediaType);
  }
}
const stream = await customer.downloadFile(space.spaceId, version.fileId);
let received = 0;
for await (const chunk of stream) received += chunk.length;
console.log("downloaded", received, "bytes");
await customer.postMessage(space.spaceId, { body: "Report received, thanks." });

// Live events, as docs/sdk-js.md shows them.
const live = new AbortController();
customer.setLiveOptions({ waitSecs: 25 });
const batch: LiveEvent[] = await customer.nextEvents({ signal: live.signal });
console.log(batch.length);
for await (const e of customer.events({ signal: live.signal })) {
  if (e.type === "newMessage") break;
}

await admin.removeMember(space.spaceId, me.userId);
await customer.sync();
try {
  await customer.postMessage(space.spaceId, { body: "still here?" });
} catch (e) {
  if (!(e instanceof SealroomError)) throw e;
  const retryable: boolean = e.retryable;
  console.log("refused:", e.code, e.kind, "retryable:", retryable);
}
