// Types of the Node entry of @sealroom/sdk: everything of the browser module, plus fileStore.
export * from "./sealroom.js";
export { default } from "./sealroom.js";
import type { HostStore } from "./sealroom.js";

/**
 * A persistent host store in directory `dir` (created if missing): the client's state in
 * `state.json` (already encrypted by the SDK: ciphertext only) and its storage key in
 * `storage.key` (mode 0600; keep the directory private). Every commit is written atomically
 * (temporary file, fsync, rename). One process per directory.
 */
export function fileStore(dir: string): HostStore;
