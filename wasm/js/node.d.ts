// The Node entry's own declarations, appended by wasm/js/declarations.mjs to the module's
// declarations (wasm/pkg/node.d.ts): no DOM types, so a Node-only TypeScript project
// (lib es2022, @types/node) type-checks against it.

/**
 * A persistent host store in directory `dir` (created if missing): the client's state in
 * `state.json` (already encrypted by the SDK: ciphertext only) and its storage key in
 * `storage.key` (mode 0600; keep the directory private). Every commit is written atomically
 * (temporary file, fsync, rename). One process per directory.
 */
export function fileStore(dir: string): HostStore;

/**
 * Nothing to do in Node: the Node entry instantiates the module from the package's own
 * `sealroom_bg.wasm` at import time. Resolves at once (code shared with browsers may call it).
 */
export default function init(): Promise<unknown>;
