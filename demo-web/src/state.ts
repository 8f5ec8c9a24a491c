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
  const item = h('div', { class: `toast toast-${kind}` }, text);
  region.appendChild(item);
  setTimeout(() => item.remove(), kind === 'error' ? 9000 : 4000);
}

export function errorText(e: unknown): string {
  if (e instanceof SdkError) return `${e.message} (${e.code})`;
  return e instanceof Error ? e.message : String(e);
}

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

/** Shows an inline error under a form. */
export function formError(target: HTMLElement, e: unknown): void {
  replace(target, e ? h('p', { class: 'form-error', role: 'alert' }, errorText(e)) : null);
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

/** Polls the relay while the page is visible; views learn about changes through app.onChange. */
export function startSync(): void {
  if (timer !== undefined) return;
  const tick = async () => {
    if (syncing || !app.portal || !app.account || document.visibilityState === 'hidden') return;
    syncing = true;
    try {
      const events = await app.portal.sync();
      document.body.dataset.lastSync = String(Date.now());
      for (const e of events) {
        if (e.type === 'removedFromSpace' && e.spaceId) toast(`You were removed from ${spaceLabel(e.spaceId)}.`, 'error');
        if (e.type === 'keyChanged' && e.userId) toast(`${userLabel(e.userId)} has a new safety number: compare it again.`);
      }
      if (events.length > 0 && app.onChange) app.onChange(events);
      if (app.onTick) app.onTick();
    } catch (e) {
      showSyncState(e instanceof SdkError && e.kind !== 'network' ? `Sync failed: ${e.code}` : 'Offline, retrying…', errorText(e));
      syncing = false;
      return;
    }
    showSyncState('Connected', '');
    syncing = false;
  };
  timer = window.setInterval(() => void tick(), 2500);
  void tick();
}

/** Runs one sync now (after an action), then notifies the view. */
export async function syncNow(): Promise<void> {
  if (!app.portal || syncing) return;
  syncing = true;
  try {
    const events = await app.portal.sync();
    if (app.onChange) app.onChange(events);
  } finally {
    syncing = false;
  }
}
