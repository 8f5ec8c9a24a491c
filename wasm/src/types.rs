//! TypeScript declarations of the plain objects the client takes and returns.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** An organisation role. */
export type Role = "admin" | "staff" | "customer";
/** A role in a space. */
export type SpaceRole = "owner" | "staff" | "customer";
/** Notification mode. */
export type NotifyMode = "immediate" | "hourly" | "daily" | "off";
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

export interface Account { orgId: string; userId: string; deviceId: string; role: Role; }

export interface DeviceInfo {
  deviceId: string; userId: string; name: string; publicKey: string;
  status: string; createdAt: number;
}
export interface DeviceList { devices: DeviceInfo[]; }

export interface OrgInfo { orgId: string; name: string; kind: "provider" | "customer"; createdAt: number; }

export interface Invitation {
  invitationId: string; token: string; orgId: string; role: Role;
  spaceId: string | null; expiresAt: number;
}

/** Whether an invitation can still be used, or why not. */
export type InvitationState = "valid" | "used" | "expired" | "revoked";

/** An open invitation as staff see it (`spaceInvitations`): never the token. */
export interface InvitationInfo {
  invitationId: string; role: Role; spaceId: string | null;
  /** The inviting user. */
  invitedBy: string;
  /** Unix seconds. */
  createdAt: number; expiresAt: number;
  state: InvitationState;
  revokedAt: number | null;
}

/**
 * What an invitation token leads to, from the relay's records (`checkInvitation`): names and
 * role only while the invitation can still be used.
 */
export interface InvitationCheck {
  state: InvitationState;
  role: Role | null; orgName: string | null; inviterName: string | null;
  inviterUserId: string | null; spaceId: string | null;
  expiresAt: number;
}

export interface SpaceMember {
  userId: string; role: SpaceRole;
  /** Devices of the user in the customer room. */
  devices: string[];
  /** Devices vouched for by the user (certified under the identity key this device pinned). */
  verifiedDevices: string[];
  /**
   * 60-digit safety number over the user's identity key (unchanged by new devices); compare
   * out of band.
   */
  safetyNumber: string | null;
  /** The relay served another identity key for the user than the pinned one. */
  identityKeyChanged: boolean;
  /** The name from the user's latest signed profile in the rooms (never the relay's record). */
  name: string | null;
  /** The user's organisation as their MLS credential names it (null before they have a device in the rooms). */
  orgId: string | null;
  /** Whether the user belongs to the provider organisation (staff). */
  providerStaff: boolean;
  /** Whether the relay lists the user in the space; `false`: the relay hides a user who is in the rooms (a warning sign). */
  listedByRelay: boolean;
  /** Whether the user has a device in the customer room. */
  inCustomerRoom: boolean;
  /** Whether the user has a device in the internal room (as this device sees it). */
  inInternalRoom: boolean;
}

export interface Space {
  spaceId: string; providerOrgId: string; customerOrgId: string; ownerUserId: string;
  members: SpaceMember[];
  /** Whether this device is in the customer room. */
  joined: boolean;
  /** Whether this device is in the internal (staff-only) room. */
  internalRoom: boolean;
}

export interface NewMessage {
  body: string;
  /** A new random thread when absent. */
  threadId?: string | null;
  replyTo?: string | null;
  expiresInSecs?: number | null;
  /** Post into the internal (staff-only) room. */
  internal?: boolean;
}

export interface Message {
  spaceId: string; internal: boolean; threadId: string; messageId: string;
  replyTo: string | null; senderUserId: string; senderDeviceId: string; body: string;
  expiresAt: number | null;
  /** Local order within the space. */
  index: number;
  /** The sender's name from their latest signed profile (null until one arrived). */
  senderName: string | null;
  /** Unix seconds on the sender's clock, inside the signed message (null from older SDKs). */
  sentAt: number | null;
  /** Unix seconds at which the relay accepted it (null for this device's own messages). */
  receivedAt: number | null;
}

export interface Thread { threadId: string; internal: boolean; messages: number; lastIndex: number; }

export type ClientEvent =
  | { type: "joinedSpace"; spaceId: string; internal: boolean }
  | { type: "memberAdded"; spaceId: string; userId: string; deviceId: string }
  | { type: "memberRemoved"; spaceId: string; userId: string; deviceId: string }
  | { type: "newMessage"; message: Message }
  /** The first version of a document. */
  | { type: "newFile"; spaceId: string; fileId: string; documentId: string; version: number }
  /** A later version (2, 3, ...) of a document. */
  | { type: "newVersion"; spaceId: string; fileId: string; documentId: string; version: number }
  /**
   * The relay served another identity key for a user than the one this device pinned. An
   * identity key belongs to the user, not to a space, so there is no `spaceId`: the user's
   * entry in every `space(id).members` shows `identityKeyChanged`.
   */
  | { type: "keyChanged"; userId: string; safetyNumber: string }
  | { type: "deviceSkipped"; spaceId: string; internal: boolean; userId: string; deviceId: string; reason: string }
  | { type: "removedFromSpace"; spaceId: string }
  | { type: "historyReceived"; spaceId: string }
  | { type: "dropped"; spaceId: string; reason: string }
  /**
   * Something a member or the relay sent was refused and nothing of it was applied: a
   * handshake from a sender not allowed to send it, a history key or document version a
   * member may not send, or a file manifest that is unsigned, signed by a device not in the
   * room or breaks the version rule (`reason`: a stable code such as `manifest_unsigned`).
   */
  | { type: "refused"; spaceId: string; room: string; sender: string; reason: string }
  /**
   * An event of a newer core that this SDK version has no name for yet (forward
   * compatibility: never produced by the events listed above). `detail` may be empty;
   * ignore it or log it.
   */
  | { type: "other"; detail: string };

export interface NewFile {
  /** File name (sealed; never visible to the relay). The media type is sniffed from the content. */
  name: string;
  /** The document this is a new version of; absent starts a new document. */
  documentId?: string | null;
  internal?: boolean;
  threadId?: string | null;
  /** Classification label; absent takes the space policy's default (`spacePolicy`). */
  classification?: Classification | null;
}

export interface FileVersion {
  spaceId: string; internal: boolean; documentId: string; version: number; fileId: string;
  name: string; mediaType: string; size: number;
  /** The content digest of the plaintext, hex, as announced by the author: the piece digest of docs/format.md ("Content digest"), or SHA-256 of the plaintext for versions of earlier SDKs. */
  digest: string;
  senderUserId: string; latest: boolean;
  /** The label the author signed (`null`: a version of an earlier SDK). */
  classification: Classification | null;
  /** What this device may do with it under the space's policy. */
  access: FileAccess;
  /** Staff users (not the uploader) who released this version. */
  releasedBy: string[];
  /** The space scanner's verdict on this version (`state: "not_required"` without a scan rule). */
  scan: ScanState;
  /**
   * Unix seconds at which the relay accepted the version (this device's clock for its own
   * uploads); `null` for versions indexed by an earlier SDK.
   */
  receivedAt: number | null;
}

export interface Document { documentId: string; latest: FileVersion; versions: FileVersion[]; }

export interface PendingUpload {
  uploadId: string; spaceId: string; name: string; documentId: string;
  sourceLen: number; uploaded: number; sealedLen: number;
}

export interface FilePolicy { allowedMediaTypes?: string[]; maxSize?: number | null; }

export interface DeviceRequestInfo {
  requestId: string; userId: string; deviceId: string; publicKey: string;
  status: string; expiresAt: number;
}

export interface RecoveryReport { rooms: number; keys: number; files: number; messages: number; sealedBytes: number; }
export interface TotpEnrolment { secret: string; otpauthUri: string; }
export interface NotifyPreference {
  mode: NotifyMode; email: string | null;
  /** Whether the relay has an outgoing mail server; `false`: no mail is ever sent. */
  mailConfigured?: boolean;
}
export interface RetentionPolicy { days: number | null; }

export interface AuditQuery {
  fromMs?: number; toMs?: number; actor?: string; action?: string; object?: string;
  after?: number; limit?: number;
}
export interface AuditRecord {
  action: string; actorUser: string | null; detail: string | null; device: string | null;
  ip: string | null; objectId: string | null; org: string | null; prevHash: string;
  seq: number; size: number | null; timeMs: number; userAgent: string | null; hash: string;
}
export interface AuditPage { entries: AuditRecord[]; nextAfter: number | null; }
export interface AuditVerifyReport {
  ok: boolean; verified: number; headSeq: number; headHash: string;
  firstBadSeq: number | null; problem: string | null;
}
"#;
