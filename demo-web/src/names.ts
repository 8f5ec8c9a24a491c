// File names as the portal shows and saves them. A name comes from another user's signed
// manifest, so it can be anything: right-to-left overrides that make "fdp.exe" read "exe.pdf",
// path separators ("../../etc/passwd"), control characters, nothing at all. The portal shows and
// saves one cleaned name, isolated from the surrounding text (<bdi>), with the real extension
// beside it, and says when it had to change the name.

import { h } from './dom.js';
import type { UserProfile } from './sdk.js';

/** Bidirectional formatting controls (embeddings, overrides, isolates, marks). */
const BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;
/** C0 and C1 control characters and DEL. */
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/g;
/** Path separators of every platform a download may land on. */
const SEPARATORS = /[/\\]/g;

/** The name a file is shown and saved under: no bidi controls, control characters or path parts. */
export function safeFileName(name: string): string {
  let s = name.replace(BIDI, '').replace(CONTROL, '').replace(SEPARATORS, '_').normalize('NFC').trim();
  // No hidden files and no "." / ".." names; Windows also drops trailing dots and spaces.
  s = s.replace(/^[.\s]+/, '').replace(/[.\s]+$/, '');
  if (s.length > 200) {
    const ext = fileExtension(s);
    s = ext ? `${s.slice(0, 190)}….${ext}` : s.slice(0, 200);
  }
  return s || 'document';
}

/** The extension the operating system will act on (lower case, without the dot), or ''. */
export function fileExtension(name: string): string {
  const m = /\.([^.\s]{1,16})$/.exec(name);
  return m ? m[1].toLowerCase() : '';
}

/** The name for display: isolated from the surrounding text, real extension beside it. */
export function fileNameView(name: string): HTMLElement {
  const safe = safeFileName(name);
  const ext = fileExtension(safe);
  const changed = safe !== name;
  return h('span', { class: 'file-name', 'data-file-name': safe },
    h('bdi', { class: 'doc-name', dir: 'auto' }, safe),
    ext ? h('span', { class: 'badge badge-ext', title: `File type: .${ext}` }, `.${ext}`) : h('span', { class: 'badge badge-ext' }, 'no extension'),
    changed ? h('span', { class: 'badge badge-warn', title: 'The name this file was sent with had control characters, text-direction tricks or folder names; they were removed.' }, 'name cleaned') : null);
}

// ---- people's names ---------------------------------------------------------------------------
// A person's name comes from the profile their own device signed and posted into a room (the
// SDK checks the signature and that it is the sender's own; the latest wins), never from the
// relay's records or a link. Until one arrived, the portal shows a short id.


/** Latest accepted profiles by user id, refreshed by `refreshPeople`. */
const people = new Map<string, UserProfile>();
let me: string | null = null;

/** Reads every accepted profile from the SDK (after a sync, before drawing names). */
export async function refreshPeople(list: () => Promise<UserProfile[]>, myUserId: string | null): Promise<void> {
  me = myUserId;
  const all = await list();
  people.clear();
  for (const p of all) people.set(p.userId, p);
}

/** The profile a user's device signed, if one arrived. */
export function profileOf(userId: string): UserProfile | undefined {
  return people.get(userId);
}

/** A person's name for running text: their signed name (cleaned), or a short id. */
export function personName(userId: string): string {
  const p = people.get(userId);
  if (p) return cleanText(p.name);
  return `User ${userId.slice(0, 6)}`;
}

/** Like `personName`, but "You" for the signed-in user. */
export function personLabel(userId: string): string {
  return userId === me ? 'You' : personName(userId);
}

/** Display text from another user: no direction controls, control characters or line breaks. */
export function cleanText(s: string): string {
  return s.replace(BIDI, '').replace(CONTROL, ' ').replace(/\s+/g, ' ').trim();
}

/** A person's name as an element: isolated from the text around it, with organisation and title. */
export function personView(userId: string, opts: { you?: boolean; details?: boolean } = {}): HTMLElement {
  const p = people.get(userId);
  const you = opts.you !== false && userId === me;
  const extra = p && opts.details ? [p.title, p.organisation].filter((x): x is string => !!x).map(cleanText).join(', ') : '';
  return h('span', { class: 'person', 'data-user-name': p ? cleanText(p.name) : '' },
    h('bdi', { dir: 'auto' }, you ? 'You' : personName(userId)),
    extra ? h('span', { class: 'muted small' }, ' · ', h('bdi', { dir: 'auto' }, extra)) : null,
    p ? null : h('span', { class: 'visually-hidden' }, ' (no name shared yet)'));
}

/** A time for display ("6 Dec 2026, 14:05"), with the full date and time as a tooltip. */
export function timeView(unixSecs: number | null | undefined): HTMLElement | null {
  if (!unixSecs) return null;
  const d = new Date(unixSecs * 1000);
  const text = d.toLocaleString(undefined, { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });
  return h('time', { datetime: d.toISOString(), title: d.toString() }, text);
}
