// The SDK inside a module Web Worker (driven by store-check.html): init, an IndexedDB store opened
// from the worker's global scope, registration by invitation, sync, a streamed download of a file
// uploaded before this device joined, a streamed upload and a message. Replies with plain data.
import init, { SealroomClient } from "./pkg/sealroom.js";

let client = null;

self.onmessage = async (event) => {
  const m = event.data;
  try {
    if (m.step === "register") {
      await init();
      client = await SealroomClient.open(self.location.origin, { store: "indexeddb", name: "worker" });
      const account = await client.register(m.token, "Wanda", null, "worker");
      self.postMessage({ userId: account.userId, inWorker: typeof window === "undefined" && typeof importScripts === "function" });
    } else if (m.step === "work") {
      await client.sync();
      const back = new Uint8Array(await new Response(await client.downloadFile(m.spaceId, m.fileId)).arrayBuffer());
      const downloadEqual = back.length === m.length && back.every((x, i) => x === ((i * 7) & 0xff));
      const up = new Uint8Array(m.uploadLength).map((_, i) => i * 13);
      const version = await client.uploadFile(m.spaceId, { name: "from-worker.bin" }, up.length, new Blob([up]).stream());
      await client.postMessage(m.spaceId, { body: "from a worker" });
      client.free();
      // Reopened from IndexedDB inside the worker: same account.
      const again = await SealroomClient.open(self.location.origin, { store: "indexeddb", name: "worker" });
      const reopened = again.isRegistered() && again.account().userId === m.userId;
      again.free();
      self.postMessage({ downloadEqual, fileId: version.fileId, reopened });
    }
  } catch (err) {
    self.postMessage({ error: `${err.code} ${err.message}` });
  }
};
