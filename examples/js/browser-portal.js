// The customer side of a browser portal on @sealroom/sdk (an ES module served with wasm/pkg,
// snippets/ included). State lives in IndexedDB, encrypted, its key non-extractable.
import init, { SealroomClient, SealroomError } from "@sealroom/sdk";

/** Loads the module (fetches sealroom_bg.wasm next to sealroom.js) and opens this browser's device. */
export async function openPortal(relayUrl) {
  await init();
  return SealroomClient.open(relayUrl, { name: "portal" });   // IndexedDB where it exists
}

/** Registers with the invitation token from the link (`#token`) unless already registered. */
export async function join(client, inviteToken) {
  if (!client.isRegistered()) await client.register(inviteToken, "Cara Customer", null, "browser");
  return client.account();
}

/** Shares a File picked in an <input type=file>; `bar` is a <progress> element. */
export async function shareFile(client, spaceId, file, bar, signal) {
  try {
    return await client.uploadFile(spaceId, { name: file.name }, file.size, file.stream(), {
      signal,
      onProgress: (done, total) => { bar.value = done / total; },
    });
  } catch (e) {
    if (e instanceof SealroomError && e.code === "cancelled") return null;
    throw e;                                                   // e.code, e.kind, e.retryable
  }
}

/** New messages and files since the last call, files complete with name and size. */
export async function refresh(client) {
  const news = [];
  for (const e of await client.sync()) {
    if (e.type === "newMessage") news.push(`${e.message.senderUserId}: ${e.message.body}`);
    if (e.type === "newFile") {
      const f = client.files(e.spaceId).find((x) => x.fileId === e.fileId);
      news.push(`file ${f.name} (${f.size} bytes)`);
    }
  }
  return news;
}

/** Downloads a file into a Blob (for an <a download> link). */
export async function fetchFile(client, spaceId, fileId) {
  return new Response(await client.downloadFile(spaceId, fileId)).blob();
}
