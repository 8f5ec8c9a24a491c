// File names as the portal shows and saves them. A name comes from another user's signed
// manifest, so it can be anything: right-to-left overrides that make "fdp.exe" read "exe.pdf",
// path separators ("../../etc/passwd"), control characters, nothing at all. The portal shows and
// saves one cleaned name, isolated from the surrounding text (<bdi>), with the real extension
// beside it, and says when it had to change the name.

import { h } from './dom.js';

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
