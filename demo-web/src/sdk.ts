// The portal's one door to @sealroom/sdk, typed by the package's own declarations
// (wasm/pkg/sealroom.d.ts, mapped in tsconfig.json) and loaded at run time from ./sdk/, where
// build.sh copies the package. Every call goes through one queue, so the views never run two
// client calls at once, and every failure becomes an SdkError with the SDK's stable code.

import type * as Sdk from '@sealroom/sdk';

export type {
  Account, AuditCheck, AuditPage, InvitationCheck, AuditRecord, AuditVerifyReport, ClientEvent, Document, FileVersion,
  Invitation, InvitationInfo, Message, NotifyMode, NotifyPreference, OrgInfo, PendingUpload, Role, Space, SpaceMember, Thread,
} from '@sealroom/sdk';
export type { Admission, ProfileInput, UserProfile } from '@sealroom/sdk';
export type { Classification, FileAccess, LabelRule, ScanState, SpacePolicy } from '@sealroom/sdk';

/** An SDK error as the portal shows it: the stable code, what kind of problem, the message. */
export class SdkError extends Error {
  constructor(readonly code: string, message: string, readonly kind?: string) {
    super(message);
  }
}

function toSdkError(e: unknown): SdkError {
  if (e instanceof SdkError) return e;
  if (e && typeof e === 'object') {
    const o = e as { code?: unknown; message?: unknown; kind?: unknown };
    const code = typeof o.code === 'string' ? o.code : 'error';
    const message = typeof o.message === 'string' ? o.message : String(e);
    return new SdkError(code, message, typeof o.kind === 'string' ? o.kind : undefined);
  }
  return new SdkError('error', String(e));
}

let sdkModule: typeof Sdk | null = null;

/** Loads and initialises the WASM package once. */
async function loadSdk(): Promise<typeof Sdk> {
  if (sdkModule) return sdkModule;
  const url = new URL('../sdk/sealroom.js', import.meta.url).href;
  const mod = (await import(url)) as typeof Sdk;
  await mod.default();
  sdkModule = mod;
  return mod;
}

export type Progress = (done: number, total: number) => void;

/** This browser profile's device client, behind a queue. */
export class Portal {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly client: Sdk.SealroomClient) {}

  /** Opens the client for the relay serving the page; state in IndexedDB (`sealroom:portal`). */
  static async open(relayUrl: string): Promise<Portal> {
    try {
      const mod = await loadSdk();
      if (typeof mod.SealroomClient?.open !== 'function') {
        throw new SdkError('sdk_missing', 'The SDK package has no SealroomClient.open');
      }
      return new Portal(await mod.SealroomClient.open(relayUrl, { store: 'indexeddb', name: 'portal' }));
    } catch (e) {
      throw toSdkError(e);
    }
  }

  /** Runs one SDK call after the previous ones, with errors mapped to SdkError. */
  private call<T>(f: (c: Sdk.SealroomClient) => T | Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      try {
        return await f(this.client);
      } catch (e) {
        throw toSdkError(e);
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  isRegistered() { return this.call((c) => c.isRegistered()); }
  account() { return this.call((c) => c.account()); }
  devicePublicKey() { return this.call((c) => c.devicePublicKey()); }
  bootstrap(setupToken: string, orgName: string, userName: string, email: string | null, deviceName: string) {
    return this.call((c) => c.bootstrap(setupToken, orgName, userName, email, deviceName));
  }
  /** What an invitation token leads to, from the relay's records (no device needed). */
  checkInvitation(token: string) { return this.call((c) => c.checkInvitation(token)); }
  /** Adds the space of a customer invitation to this (registered) account: no second registration. */
  acceptInvitation(token: string) { return this.call((c) => c.acceptInvitation(token)); }
  register(token: string, userName: string, email: string | null, deviceName: string) {
    return this.call((c) => c.register(token, userName, email, deviceName));
  }
  createCustomerOrg(name: string) { return this.call((c) => c.createCustomerOrg(name)); }
  /** Issues an invitation that stays usable `lifetimeSecs` (one hour to 30 days; null: 7 days). */
  invite(role: Sdk.Role, spaceId: string | null, lifetimeSecs: number | null = null) {
    return this.call((c) => c.invite(role, spaceId, lifetimeSecs));
  }
  /** The space's open invitations (staff and admins), newest first; never the tokens. */
  spaceInvitations(spaceId: string) { return this.call((c) => c.spaceInvitations(spaceId)); }
  /** Revokes an unused invitation: its link is refused from then on. */
  revokeInvitation(invitationId: string) { return this.call((c) => c.revokeInvitation(invitationId)); }
  createSpace(customerOrgId: string, withInternalRoom: boolean) {
    return this.call((c) => c.createSpace(customerOrgId, withInternalRoom));
  }
  spaces() { return this.call((c) => c.spaces()); }
  space(spaceId: string) { return this.call((c) => c.space(spaceId)); }
  addMember(spaceId: string, userId: string) { return this.call((c) => c.addMember(spaceId, userId)); }
  /** The name a waiting user's device signed, beside their safety number (before admitting). */
  admission(spaceId: string, userId: string) { return this.call((c) => c.admission(spaceId, userId)); }
  /** Every user's latest profile this device accepted (signed by one of the user's devices). */
  profiles() { return this.call((c) => c.profiles()); }
  ownProfile() { return this.call((c) => c.ownProfile()); }
  setProfile(input: Sdk.ProfileInput) { return this.call((c) => c.setProfile(input)); }
  /** Signs this browser out: the relay revokes this device (it refuses it from then on). */
  revokeThisDevice(deviceId: string) { return this.call((c) => c.revokeDevice(deviceId)); }
  removeMember(spaceId: string, userId: string) { return this.call((c) => c.removeMember(spaceId, userId)); }
  postMessage(spaceId: string, body: string, threadId: string | null, internal: boolean) {
    return this.call((c) => c.postMessage(spaceId, { body, threadId, internal }));
  }
  messages(spaceId: string, threadId: string | null) { return this.call((c) => c.messages(spaceId, threadId)); }
  threads(spaceId: string) { return this.call((c) => c.threads(spaceId)); }
  sync() { return this.call((c) => c.sync()); }
  /**
   * The next live events (the relay's long poll, then a sync of the rooms it names). Outside the
   * queue: it may wait a whole poll, and the SDK lets it run beside the other calls.
   */
  async nextEvents(signal: AbortSignal): Promise<Sdk.LiveEvent[]> {
    try {
      return await this.client.nextEvents({ signal });
    } catch (e) {
      throw toSdkError(e);
    }
  }
  documents(spaceId: string) { return this.call((c) => c.documents(spaceId)); }
  refreshFiles(spaceId: string) { return this.call((c) => c.refreshFiles(spaceId)); }
  /**
   * Encrypts and uploads a browser File as a stream; a new document, or a new version of
   * `documentId`. `classification`: the label sealed and signed with it (null: the space
   * policy's default).
   */
  uploadFile(spaceId: string, file: File, documentId: string | null, internal: boolean, progress: Progress,
    classification: Sdk.Classification | null = null) {
    return this.call((c) =>
      c.uploadFile(spaceId, { name: file.name, documentId, internal, classification }, file.size, file.stream(), progress));
  }
  /** The space's classification policy (the latest staff posted; the default one before any). */
  spacePolicy(spaceId: string) { return this.call((c) => c.spacePolicy(spaceId)); }
  /** Posts a new classification policy (staff). */
  setSpacePolicy(spaceId: string, policy: Sdk.SpacePolicy) { return this.call((c) => c.setSpacePolicy(spaceId, policy)); }
  /** Names the space's malware scanner (a staff member of the space, not its owner); null: none. */
  setSpaceScanner(spaceId: string, userId: string | null) { return this.call((c) => c.setSpaceScanner(spaceId, userId)); }
  /** The second pair of eyes: releases a held file for customers (staff, not the uploader). */
  approveRelease(spaceId: string, fileId: string) { return this.call((c) => c.approveRelease(spaceId, fileId)); }
  /** Opens an infected or unscannable file for staff anyway (audited by the relay). */
  overrideScan(spaceId: string, fileId: string) { return this.call((c) => c.overrideScan(spaceId, fileId)); }
  /** Uploads that did not finish (a reload or a crash in the middle), this device's only. */
  pendingUploads() { return this.call((c) => c.pendingUploads()); }
  /** Continues a pending upload from the same file: what the relay holds is checked, not resent. */
  resumeUpload(uploadId: string, file: File, progress: Progress) {
    return this.call((c) => c.resumeUpload(uploadId, file.stream(), progress));
  }
  cancelUpload(uploadId: string) { return this.call((c) => c.cancelUpload(uploadId)); }
  /** Downloads and decrypts a file into a Blob (the portal hands it to the browser as a save link). */
  downloadFile(spaceId: string, fileId: string, mediaType: string, progress: Progress): Promise<Blob> {
    return this.call(async (c) => {
      const stream = await c.downloadFile(spaceId, fileId, progress);
      const blob = await new Response(stream).blob();
      return mediaType ? new Blob([blob], { type: mediaType }) : blob;
    });
  }
  notificationPreference() { return this.call((c) => c.notificationPreference()); }
  setNotificationMode(mode: Sdk.NotifyMode, email: string | null) {
    return this.call((c) => c.setNotificationMode(mode, email));
  }
  audit(query: Sdk.AuditQuery) { return this.call((c) => c.audit(query)); }
  verifyAudit() { return this.call((c) => c.verifyAudit()); }
  /** The check this device does itself: signed head, every hash, the head it saw before. */
  checkAudit() { return this.call((c) => c.checkAudit()); }
  auditExport(format: 'csv' | 'json') { return this.call((c) => c.auditExport({}, format)); }
}
