//! TypeScript declarations that cannot be generated: options, callbacks, the error class and
//! the host store. The records the client takes and returns (`Space`, `Message`,
//! `ClientEvent`, ...) are declared by core and wire themselves (tsify derives, core's `ts`
//! feature), with keys camelCased by `wasm/js/declarations.mjs` as `convert.rs` does at run
//! time.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** `(done, total)` in bytes. */
export type ProgressCallback = (done: number, total: number) => void;

/**
 * Every rejected Promise and thrown error of the SDK is a `SealroomError` (an `Error`
 * subclass: `e instanceof SealroomError` and `e instanceof Error` both hold).
 * `code` is stable and specific (`relay_forbidden`, `not_registered`, `unknown_space`,
 * `removed_from_space`, `policy`, `invalid_input`, `network`, `timeout`, `storage`,
 * `storage_locked`, `cancelled`, `source_failed`, ...); `kind` says what to do;
 * `retryable` is true only where the same call may succeed later (no answer, the relay busy,
 * a race with another writer), never for a settled state such as `relay_conflict` "the
 * relay is already bootstrapped". `cause` is the underlying error where there is one (the
 * source stream's own error for `source_failed`).
 */
export class SealroomError extends Error {
  private constructor();
  code: string;
  kind: "network" | "unauthenticated" | "forbidden" | "not_found" | "conflict" | "too_large"
    | "corrupt" | "invalid_input" | "storage" | "internal" | "cancelled";
  retryable: boolean;
  /** HTTP status, for refusals by the relay (`code` starts with `relay_`). */
  status?: number;
}

/** Options of calls that can be cancelled. */
export interface SignalOptions {
  /** Aborting rejects the call with code `cancelled`. */
  signal?: AbortSignal;
}

export interface UploadOptions extends SignalOptions {
  /** Plaintext bytes sealed and handed to the relay, at least every 1 % or 256 KiB; the last call `(total, total)` once the relay holds everything. */
  onProgress?: ProgressCallback;
  /** Called once with the upload id as soon as the upload exists on the relay (for `cancelUpload`, `resumeUpload`). */
  onStart?: (uploadId: string) => void;
}

export interface DownloadOptions extends SignalOptions {
  /** Plaintext bytes delivered to the stream, at least every 1 % or 256 KiB. */
  onProgress?: ProgressCallback;
}

/** Where a client keeps its encrypted state. Commits must be applied in call order. */
export interface HostStore {
  /** Every stored entry. */
  load(): Promise<Array<[string, Uint8Array]>> | Array<[string, Uint8Array]>;
  /** Applies the batch atomically (`null` deletes). */
  commit(batch: Array<[string, Uint8Array | null]>): Promise<void> | void;
  /** The 32-byte storage key (the store keeps it protected at rest). */
  storageKey(): Promise<Uint8Array> | Uint8Array;
}

export interface IndexedDbStoreOptions {
  /** Database name suffix (`sealroom:<name>`), one per device/profile. Default `"sealroom"`. */
  name?: string;
  /** Protect the storage key with a passphrase (PBKDF2-SHA-256) instead of a non-extractable WebCrypto key. */
  passphrase?: string;
  /** An IndexedDB factory (default `globalThis.indexedDB`; an `IDBFactory` in browsers). */
  indexedDB?: { open(name: string, version?: number): unknown };
}

/**
 * Options of `SealroomClient.open`; any other key (a misspelt option) is an `invalid_input`
 * error naming the allowed ones.
 */
export interface OpenOptions extends IndexedDbStoreOptions {
  /**
   * `"indexeddb"` (default where it exists), `"memory"` (default elsewhere: explicit is
   * better in Node) or a host store (`fileStore(dir)` from the Node entry).
   */
  store?: "indexeddb" | "memory" | HostStore;
}
"#;
