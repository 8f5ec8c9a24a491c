// The browser example (README, examples/js/browser-portal.js) as TypeScript, for
// types.test.mjs: type-checked against the package's browser declarations (sealroom.d.ts,
// lib es2022 + dom), never run.
import init, { SealroomClient, SealroomError, type Account, type FileVersion } from "@sealroom/sdk";

export async function openPortal(relayUrl: string): Promise<SealroomClient> {
  await init();
  await init({ module_or_path: new URL("./sealroom_bg.wasm", import.meta.url) });
  return SealroomClient.open(relayUrl, { name: "portal", indexedDB: globalThis.indexedDB });
}

export async function join(client: SealroomClient, inviteToken: string): Promise<Account> {
  if (!client.isRegistered()) await client.register(inviteToken, "Cara Customer", null, "browser");
  return client.account();
}

export async function shareFile(client: SealroomClient, spaceId: string, file: File, bar: HTMLProgressElement,
  signal: AbortSignal): Promise<FileVersion | null> {
  try {
    return await client.uploadFile(spaceId, { name: file.name }, file.size, file.stream(), {
      signal,
      onProgress: (done, total) => { bar.value = done / total; },
    });
  } catch (e) {
    if (e instanceof SealroomError && e.code === "cancelled") return null;
    throw e;
  }
}

export async function refresh(client: SealroomClient): Promise<string[]> {
  const news: string[] = [];
  for (const e of await client.sync()) {
    if (e.type === "newMessage") news.push(`${e.message.senderUserId}: ${e.message.body}`);
    if (e.type === "newFile") {
      const f = client.files(e.spaceId).find((x) => x.fileId === e.fileId);
      news.push(`file ${f?.name} (${f?.size} bytes)`);
    }
  }
  for await (const e of client.events({ signal: AbortSignal.timeout(1000) })) news.push(e.type);
  return news;
}

export async function fetchFile(client: SealroomClient, spaceId: string, fileId: string): Promise<Blob> {
  return new Response(await client.downloadFile(spaceId, fileId)).blob();
}
