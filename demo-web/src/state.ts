// Portal-wide state: the client, the account, local display labels, toasts and the sync loop.

import { h, replace } from './dom.js';
import { Account, ClientEvent, Portal, SdkError } from './sdk.js';

/** Display labels this browser knows (the relay lists ids only): spaces and users by id. */
interface Labels { spaces: Record<string, string>; users: Record<string, string> }

const LABELS_KEY = 'sealroom.portal.labels';

export const app = {
  portal: null as Portal | null,
  account: null as Account | null,
  /** Called after a sync that changed something (the current view re-reads what it shows). */
  onChange: null as ((events: ClientEvent[]) => void) | null,
  /** Called after every successful sync (views that show relay-side lists re-read them). */
  onTick: null as (() => void) | null,
};

function readLabels(): Labels {
  try {
    const parsed = JSON.parse(localStorage.getItem(LABELS_KEY) ?? '{}') as Partial<Labels>;
    return { spaces: parsed.spaces ?? {}, users: parsed.users ?? {} };
  } catch {
    return { spaces: {}, users: {} };
  }
}

export function setLabel(kind: keyof Labels, id: string, name: string): void {
  const labels = readLabels();
  labels[kind][id] = name;
  localStorage.setItem(LABELS_KEY, JSON.stringify(labels));
}

export function label(kind: keyof Labels, id: string): string | undefined {
  return readLabels()[kind][id];
}

/** How a user is shown: "You", a known name, or a short id. */
export function userLabel(userId: string): string {
  if (app.account && userId === app.account.userId) return 'You';
  return label('users', userId) ?? `User ${userId.slice(0, 6)}`;
}

export function spaceLabel(spaceId: string): string {
  return label('spaces', spaceId) ?? `Space ${spaceId.slice(0, 6)}`;
}

export function isStaff(): boolean {
  return app.account?.role === 'staff' || app.account?.role === 'admin';
}

/** Shows a message in the polite live region (errors in the assertive one). */
export function toast(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const region = document.getElementById(kind === 'error' ? 'alerts' : 'status');
  if (!region) return;
  // Errors go to the console too: toasts vanish, and support asks for the console.
  if (kind === 'error') console.warn(`[portal] ${text}`);
  const item = h('div', { class: `toast toast-${kind}` }, text);
  region.appendChild(item);
  setTimeout(() => item.remove(), kind === 'error' ? 9000 : 4000);
}

/** What an error code means to someone using the portal (the code stays beside it for support). */
const PLAIN: Record<string, string> = {
  network: 'The portal cannot reach the server. Check your connection; it retries by itself.',
  timeout: 'The server took too long to answer. Try again in a moment.',
  relay_unauthenticated: 'The server did not accept this device’s sign-in.',
  relay_forbidden: 'You are not allowed to do this here.',
  relay_not_found: 'This no longer exists, or it was never shared with you.',
  relay_gone: 'This has expired or was already used.',
  relay_conflict: 'Someone else changed this at the same moment. Try again.',
  relay_too_large: 'This is larger than the space allows.',
  relay_rate_limited: 'Too many attempts. Wait a minute and try again.',
  relay_bad_request: 'The server could not understand this request.',
  too_large: 'This is larger than the space allows.',
  policy: 'This space does not accept this kind of file.',
  removed_from_space: 'You were removed from this space.',
  unverified_devices: 'None of this person’s devices is verified yet, so nothing was shared with them.',
  invalid_input: 'Something in this form is not right.',
  storage: 'This browser’s local storage failed. Reload the page.',
  io: 'The file could not be read.',
  rate_limited: 'Too many attempts. Wait a minute and try again.',
};

/** The code of an error, for support ("relay_forbidden"), or '' for errors of the portal itself. */
export function errorCode(e: unknown): string {
  return e instanceof SdkError ? e.code : '';
}

/**
 * An error in plain language, with its code for support. `context` overrides the wording for
 * codes that mean something specific where the error happened (a wrong setup token, a used
 * invitation).
 */
export function errorText(e: unknown, context: Record<string, string> = {}): string {
  const code = errorCode(e);
  if (code) {
    const plain = context[code] ?? PLAIN[code];
    if (plain) return `${plain} (code: ${code})`;
    return `${e instanceof Error ? e.message : String(e)} (code: ${code})`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** Uploads running in this page; leaving the page while one runs asks first. */
let uploadsRunning = 0;

/** Runs `f` as an upload: while it runs, closing or reloading the page asks for confirmation. */
export async function asUpload<T>(f: () => Promise<T>): Promise<T> {
  uploadsRunning += 1;
  try {
    return await f();
  } finally {
    uploadsRunning -= 1;
  }
}

window.addEventListener('beforeunload', (ev) => {
  if (uploadsRunning === 0) return;
  // The browser shows its own "Leave site?" question; the upload can be resumed after a reload.
  ev.preventDefault();
  ev.returnValue = '';
});

/** Runs an action from a button: disables it, shows errors, re-enables it. */
export async function act(button: HTMLButtonElement | null, f: () => Promise<void>): Promise<void> {
  if (button) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
  }
  try {
    await f();
  } catch (e) {
    toast(errorText(e), 'error');
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }
}

/**
 * Shows an inline error under a form in plain language. With `field`, the field the error is
 * about is marked invalid, tied to the message and focused; a cleared error unmarks it.
 */
export function formError(
  target: HTMLElement,
  e: unknown,
  opts: { field?: HTMLInputElement | HTMLTextAreaElement | null; context?: Record<string, string> } = {},
): void {
  const form = target.closest('form');
  form?.querySelectorAll('[aria-invalid="true"]').forEach((el) => {
    el.removeAttribute('aria-invalid');
    el.removeAttribute('aria-errormessage');
  });
  if (!e) {
    replace(target);
    return;
  }
  const id = `err-${Math.random().toString(36).slice(2)}`;
  replace(target, h('p', { class: 'form-error', role: 'alert', id, 'data-code': errorCode(e) || null }, errorText(e, opts.context)));
  if (opts.field) {
    opts.field.setAttribute('aria-invalid', 'true');
    opts.field.setAttribute('aria-errormessage', id);
    opts.field.focus();
  }
}

/** Spaces this browser has listed (so "no access" can tell "removed" from "never shared"). */
const SEEN_KEY = 'sealroom.portal.seen-spaces';
/** Spaces this device was removed from (until it joins again). */
const REMOVED_KEY = 'sealroom.portal.removed-spaces';

function readSet(key: string): Set<string> {
  try {
    const v = JSON.parse(localStorage.getItem(key) ?? '[]') as unknown;
    return new Set(Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  } catch {
    return new Set();
  }
}

function writeSet(key: string, set: Set<string>): void {
  localStorage.setItem(key, JSON.stringify([...set]));
}

/** Remembers that this browser has seen the space in its list. */
export function markSeen(spaceId: string): void {
  const seen = readSet(SEEN_KEY);
  if (!seen.has(spaceId)) {
    seen.add(spaceId);
    writeSet(SEEN_KEY, seen);
  }
}

export function wasSeen(spaceId: string): boolean {
  return readSet(SEEN_KEY).has(spaceId);
}

/** Records a removal (true) or a (re)joining (false). */
export function markRemoved(spaceId: string, removed: boolean): void {
  const set = readSet(REMOVED_KEY);
  if (removed) set.add(spaceId);
  else set.delete(spaceId);
  writeSet(REMOVED_KEY, set);
}

export function wasRemoved(spaceId: string): boolean {
  return readSet(REMOVED_KEY).has(spaceId);
}

let syncing = false;
/** The last sync state shown in the header (kept across re-renders of the header). */
export const syncState = { text: 'Connecting…', title: '' };

function showSyncState(text: string, title: string): void {
  syncState.text = text;
  syncState.title = title;
  const el = document.getElementById('sync-state');
  if (el) {
    el.textContent = text;
    el.title = title;
  }
}
let timer: number | undefined;
let live: AbortController | undefined;

/** Toasts and removal marks for a batch of events, then the view's redraw. */
function handleEvents(events: ClientEvent[]): void {
  document.body.dataset.lastSync = String(Date.now());
  for (const e of events) {
    if (e.type === 'removedFromSpace' && e.spaceId) {
      markRemoved(e.spaceId, true);
      toast(`You were removed from ${spaceLabel(e.spaceId)}.`, 'error');
    }
    if (e.type === 'joinedSpace' && e.spaceId) markRemoved(e.spaceId, false);
    if (e.type === 'keyChanged' && e.userId) toast(`${userLabel(e.userId)} has a new safety number: compare it again.`);
  }
  if (events.length > 0 && app.onChange) app.onChange(events);
  if (app.onTick) app.onTick();
}

function showFailure(e: unknown): void {
  showSyncState(e instanceof SdkError && e.kind !== 'network' ? `Sync failed: ${e.code}` : 'Offline, retrying…', errorText(e));
}

/**
 * The live loop: waits on the relay's long poll (`nextEvents`), so new messages and files show
 * without a reload; the SDK reconnects with back-off by itself. Stops when the page hides and
 * starts again when it shows.
 */
async function liveLoop(signal: AbortSignal): Promise<void> {
  while (!signal.aborted && app.portal && app.account) {
    try {
      const events = (await app.portal.nextEvents(signal)) as ClientEvent[];
      document.body.dataset.liveEvents = String(Number(document.body.dataset.liveEvents ?? '0') + events.length);
      showSyncState('Live', 'New messages and files appear as they arrive.');
      handleEvents(events);
    } catch (e) {
      if (signal.aborted || (e instanceof SdkError && e.code === 'cancelled')) return;
      showFailure(e);
      await new Promise((resolve) => setTimeout(resolve, 5000));
    }
  }
}

function startLive(): void {
  if (live || !app.portal || !app.account || document.visibilityState === 'hidden') return;
  const controller = new AbortController();
  live = controller;
  void liveLoop(controller.signal).finally(() => {
    if (live === controller) live = undefined;
  });
}

/**
 * Live events while the page is visible, and a slow fallback sync (every 30 s) in case the loop
 * is stuck behind a proxy; views learn about changes through app.onChange.
 */
export function startSync(): void {
  if (timer !== undefined) return;
  const tick = async () => {
    startLive();
    if (syncing || !app.portal || !app.account || document.visibilityState === 'hidden') return;
    syncing = true;
    try {
      handleEvents(await app.portal.sync());
    } catch (e) {
      showFailure(e);
      syncing = false;
      return;
    }
    if (!live) showSyncState('Connected', '');
    syncing = false;
  };
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') live?.abort();
    else startLive();
  });
  timer = window.setInterval(() => void tick(), 30_000);
  void tick();
}

/** Runs one sync now (after an action), then notifies the view. */
export async function syncNow(): Promise<void> {
  if (!app.portal || syncing) return;
  syncing = true;
  try {
    const events = await app.portal.sync();
    for (const e of events) {
      if (e.type === 'removedFromSpace' && e.spaceId) markRemoved(e.spaceId, true);
      if (e.type === 'joinedSpace' && e.spaceId) markRemoved(e.spaceId, false);
    }
    if (app.onChange) app.onChange(events);
  } finally {
    syncing = false;
  }
}
