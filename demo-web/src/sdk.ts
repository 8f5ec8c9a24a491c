// The portal's one door to @sealroom/sdk (served from ./sdk/, copied there by build.sh from
// wasm/pkg). Results are normalised to camelCase plain objects and every call goes through one
// queue, so the views never touch the binding directly and never run two client calls at once.

export type Role = 'admin' | 'staff' | 'customer';
export type NotifyMode = 'immediate' | 'hourly' | 'daily' | 'off';

export interface Account { orgId: string; userId: string; deviceId: string; role: Role }
export interface SpaceMember { userId: string; role: 'owner' | 'staff' | 'customer'; devices: string[]; safetyNumber?: string | null }
export interface Space {
  spaceId: string; providerOrgId: string; customerOrgId: string; ownerUserId: string;
  members: SpaceMember[]; joined: boolean; internalRoom: boolean;
}
export interface Invitation { invitationId: string; token: string; orgId: string; role: Role; spaceId?: string | null; expiresAt: number }
export interface OrgInfo { orgId: string; name: string }
export interface Message {
  spaceId: string; internal: boolean; threadId: string; messageId: string; replyTo?: string | null;
  senderUserId: string; senderDeviceId: string; body: string; expiresAt?: number | null; index: number;
}
export interface Thread { threadId: string; internal: boolean; messages: number; lastIndex: number }
export interface FileVersion {
  spaceId: string; internal: boolean; documentId: string; version: number; fileId: string; name: string;
  mediaType: string; size: number; digest: string; senderUserId: string; latest: boolean;
}
export interface Document { documentId: string; latest: FileVersion; versions: FileVersion[] }
export interface NotifyPreference { mode: NotifyMode; email?: string | null }
export interface AuditRecord {
  seq: number; timeMs: number; action: string; actorUser?: string | null; device?: string | null;
  objectId?: string | null; detail?: string | null; ip?: string | null; size?: number | null; hash: string;
}
export interface AuditPage { entries: AuditRecord[]; nextAfter?: number | null }
export interface AuditVerifyReport { ok: boolean; verified: number; headSeq: number; headHash: string; firstBadSeq?: number | null }
export interface ClientEvent { type: string; spaceId?: string; userId?: string; [key: string]: unknown }
export type Progress = (done: number, total: number) => void;

/** An SDK error as the portal shows it: the stable code and the message. */
export class SdkError extends Error {
  constructor(readonly code: string, message: string, readonly kind?: string) {
    super(message);
  }
}

/** snake_case → camelCase, recursively, for plain objects, arrays and Maps. */
export function camel(value: unknown): any {
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) out[camelKey(String(k))] = camel(v);
    return out;
  }
  if (Array.isArray(value)) return value.map(camel);
  if (typeof value === 'bigint') return Number(value);
  if (value && typeof value === 'object' && !(value instanceof Uint8Array) && !(value instanceof ReadableStream)) {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[camelKey(k)] = camel(v);
      return out;
    }
  }
  return value;
}

function camelKey(k: string): string {
  return k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
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

let sdkModule: any = null;

/** Loads and initialises the WASM package once. */
export async function loadSdk(): Promise<any> {
  if (sdkModule) return sdkModule;
  const url = new URL('../sdk/sealroom.js', import.meta.url).href;
  const mod = await import(url);
  if (typeof mod.default === 'function') await mod.default();
  sdkModule = mod;
  return mod;
}

/** The device's client, behind a queue. */
export class Portal {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly raw: any) {}

  /** Opens this browser profile's client (state in IndexedDB) for the relay serving the page. */
  static async open(relayUrl: string): Promise<Portal> {
    const mod = await loadSdk();
    const Client = mod.SealroomClient;
    if (!Client || typeof Client.open !== 'function') {
      throw new SdkError('sdk_missing', 'The SDK package has no SealroomClient.open');
    }
    try {
      return new Portal(await Client.open(relayUrl, { store: 'indexeddb', name: 'portal' }));
    } catch (e) {
      throw toSdkError(e);
    }
  }

  /** Runs one SDK call after the previous ones, with errors mapped to SdkError and results normalised. */
  private call<T>(f: (c: any) => unknown): Promise<T> {
    const run = this.queue.then(async () => {
      try {
        return camel(await f(this.raw)) as T;
      } catch (e) {
        throw toSdkError(e);
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  isRegistered(): Promise<boolean> { return this.call((c) => c.isRegistered()); }
  account(): Promise<Account> { return this.call((c) => c.account()); }
  devicePublicKey(): Promise<string> { return this.call((c) => c.devicePublicKey()); }
  bootstrap(setupToken: string, orgName: string, userName: string, email: string | null, deviceName: string): Promise<Account> {
    return this.call((c) => c.bootstrap(setupToken, orgName, userName, email, deviceName));
  }
  register(token: string, userName: string, email: string | null, deviceName: string): Promise<Account> {
    return this.call((c) => c.register(token, userName, email, deviceName));
  }
  createCustomerOrg(name: string): Promise<OrgInfo> { return this.call((c) => c.createCustomerOrg(name)); }
  invite(role: Role, spaceId: string | null): Promise<Invitation> { return this.call((c) => c.invite(role, spaceId)); }
  createSpace(customerOrgId: string, withInternalRoom: boolean): Promise<Space> {
    return this.call((c) => c.createSpace(customerOrgId, withInternalRoom));
  }
  spaces(): Promise<Space[]> { return this.call((c) => c.spaces()); }
  space(spaceId: string): Promise<Space> { return this.call((c) => c.space(spaceId)); }
  addMember(spaceId: string, userId: string): Promise<void> { return this.call((c) => c.addMember(spaceId, userId)); }
  removeMember(spaceId: string, userId: string): Promise<void> { return this.call((c) => c.removeMember(spaceId, userId)); }
  postMessage(spaceId: string, body: string, threadId: string | null, internal: boolean): Promise<Message> {
    return this.call((c) => c.postMessage(spaceId, { threadId, body, replyTo: null, expiresInSecs: null, internal }));
  }
  messages(spaceId: string, threadId: string | null): Promise<Message[]> { return this.call((c) => c.messages(spaceId, threadId)); }
  threads(spaceId: string): Promise<Thread[]> { return this.call((c) => c.threads(spaceId)); }
  sync(): Promise<ClientEvent[]> { return this.call((c) => c.sync()); }
  documents(spaceId: string): Promise<Document[]> { return this.call((c) => c.documents(spaceId)); }
  refreshFiles(spaceId: string): Promise<ClientEvent[]> { return this.call((c) => c.refreshFiles(spaceId)); }
  uploadFile(spaceId: string, file: File, documentId: string | null, internal: boolean, progress: Progress): Promise<FileVersion> {
    return this.call((c) =>
      c.uploadFile(spaceId, { name: file.name, documentId, internal, threadId: null }, file.size, file.stream(), progress),
    );
  }
  /** Downloads and decrypts a file into a Blob (the portal hands it to the browser as a save link). */
  downloadFile(spaceId: string, fileId: string, mediaType: string, progress: Progress): Promise<Blob> {
    return this.call(async (c) => {
      const stream: ReadableStream<Uint8Array> = await c.downloadFile(spaceId, fileId, progress);
      return new Response(stream).blob().then((b) => (mediaType ? new Blob([b], { type: mediaType }) : b));
    });
  }
  notificationPreference(): Promise<NotifyPreference> { return this.call((c) => c.notificationPreference()); }
  setNotificationMode(mode: NotifyMode, email: string | null): Promise<NotifyPreference> {
    return this.call((c) => c.setNotificationMode(mode, email));
  }
  audit(query: { action?: string; after?: number; limit?: number }): Promise<AuditPage> {
    return this.call((c) => c.audit(query));
  }
  verifyAudit(): Promise<AuditVerifyReport> { return this.call((c) => c.verifyAudit()); }
  auditExport(format: 'csv' | 'json'): Promise<Uint8Array> { return this.call((c) => c.auditExport({}, format)); }
}
