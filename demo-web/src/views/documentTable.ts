// The documents of a space as a table: every document and version with its label, its malware
// scan state and what the reader may do with it: download, or a plain sentence saying why not;
// for staff, "Approve release" (the second pair of eyes) on files held for customers and "Open
// anyway" on files the scanner blocked (confirmed first, and audited by the relay).

import { bytes, h } from '../dom.js';
import { fileNameView, personName, personView, safeFileName, timeView } from '../names.js';
import { act, app, errorText, isStaff, toast } from '../state.js';
import type { Classification, Document, FileVersion, SpacePolicy } from '../sdk.js';
import { accessText, awaitsRelease, labelBadge, refusalContext, scanView, scannerOf } from './labels.js';
import { progressBar } from './widgets.js';

type Upload = (file: File, documentId: string | null, internal: boolean, classification: Classification | null) => Promise<void>;

export function documentTable(
  spaceId: string,
  docs: Document[],
  policy: SpacePolicy | null,
  upload: Upload,
  uploads: HTMLElement,
  redraw: () => Promise<void>,
): HTMLElement {
  const rows = docs.map((doc) => {
    const v = doc.latest;
    // The file input stays out of the tab order: the "New version" button opens it.
    const versionInput = h('input', { type: 'file', class: 'visually-hidden', id: `ver-${doc.documentId}`, tabindex: '-1', 'aria-label': `File for a new version of ${safeFileName(v.name)}` });
    versionInput.addEventListener('change', () => {
      const file = versionInput.files?.[0];
      versionInput.value = '';
      // A new version keeps the document's label while the policy allows it.
      const keep = v.classification && policy?.labels.some((l) => l.classification === v.classification) ? v.classification : null;
      if (file) void upload(file, doc.documentId, v.internal, keep);
    });
    const newVersion = h('button', { type: 'button', class: 'btn btn-ghost', 'data-action': 'new-version', 'aria-label': `New version of ${safeFileName(v.name)}` }, 'New version');
    newVersion.addEventListener('click', () => {
      // Replacing someone else's document is a deliberate act: say whose it is first.
      if (v.senderUserId !== app.account?.userId
        && !confirm(`“${safeFileName(v.name)}” was uploaded by ${personName(v.senderUserId)}. `
          + `Your file becomes version ${v.version + 1} and everyone in the space sees it as the latest. Continue?`)) return;
      versionInput.click();
    });
    return h('tr', { 'data-document': doc.documentId, 'data-access': v.access },
      h('th', { scope: 'row' },
        fileNameView(v.name),
        v.internal ? h('span', { class: 'badge badge-internal' }, 'Internal') : null,
        labelBadge(v, policy)),
      h('td', {},
        h('span', { class: 'badge badge-latest', title: 'Latest version' }, `v${v.version} · latest`),
        h('p', { class: 'small muted', 'data-updated': '' }, v.receivedAt ? timeView(v.receivedAt) : 'date not recorded'),
        h('p', { class: 'small muted', 'data-size': '' }, bytes(v.size), ' · by ', personView(v.senderUserId)),
        doc.versions.length > 1 ? h('details', { class: 'versions' },
          h('summary', {}, `${doc.versions.length - 1} earlier`),
          h('ul', {}, doc.versions.filter((x) => !x.latest).sort((a, b) => b.version - a.version).map((old) =>
            h('li', { 'data-version': old.version, 'data-access': old.access },
              `v${old.version} · ${bytes(old.size)} · by `, personView(old.senderUserId),
              old.receivedAt ? [' · ', timeView(old.receivedAt)] : ' · date not recorded', ' ',
              labelBadge(old, policy), scanBadge(old), ' ',
              accessOrDownload(spaceId, old, uploads, `Download v${old.version}`))))) : null),
      h('td', { 'data-label': 'Status' }, scanView(v), releaseView(spaceId, v, policy, redraw), refusal(v)),
      h('td', {}, h('div', { class: 'row-actions' },
        v.access === 'open' ? downloadButton(spaceId, v, uploads, 'Download') : null,
        overrideButton(spaceId, v, redraw),
        newVersion,
        versionInput)));
  });
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table table-cards' },
    h('caption', { class: 'visually-hidden' }, 'Documents in this space, the most recently updated first'),
    h('thead', {}, h('tr', {}, ['Name', 'Version', 'Status', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows)));
}

/** The scan state of an earlier version as a short badge (its sentence is on the latest). */
function scanBadge(v: FileVersion): HTMLElement | null {
  const s = v.scan.state;
  if (s === 'not_required') return null;
  const text = s === 'waiting' ? 'waiting for scan' : s === 'clean' ? 'scanned: clean' : s === 'infected' ? `blocked: ${v.scan.signature}` : 'blocked: scan failed';
  return h('span', { class: `badge ${s === 'clean' ? 'badge-ok' : s === 'waiting' ? 'badge-warn' : 'badge-danger'}`, 'data-scan': s }, text);
}

/** Why the version does not open for this device, in plain words (nothing when it opens). */
function refusal(v: FileVersion): HTMLElement | null {
  const text = accessText(v);
  return text ? h('p', { class: 'refused small', 'data-access': v.access }, text) : null;
}

/** Download, or the reason it is refused in plain words. */
function accessOrDownload(spaceId: string, v: FileVersion, uploads: HTMLElement, text: string): HTMLElement {
  const refused = accessText(v);
  if (refused) return h('p', { class: 'refused small', 'data-access': v.access }, refused);
  return downloadButton(spaceId, v, uploads, text);
}

/** The four-eyes state: held for customers until a second staff member approves it. */
function releaseView(spaceId: string, v: FileVersion, policy: SpacePolicy | null, redraw: () => Promise<void>): HTMLElement | null {
  if (v.releasedBy.length > 0) {
    return h('p', { class: 'small', 'data-release': 'released' },
      h('span', { class: 'badge badge-ok' }, 'Released'), ' by ',
      v.releasedBy.map((u, i) => [i ? ', ' : '', personView(u)]));
  }
  if (!isStaff() || !awaitsRelease(v, policy)) return null;
  const mine = v.senderUserId === app.account?.userId;
  const box = h('div', { 'data-release': 'awaiting' },
    h('span', { class: 'badge badge-warn' }, 'Awaiting release'),
    h('p', { class: 'small muted' }, mine
      ? 'Customers can open it once a colleague other than you approves it.'
      : `Customers can open it once a second member of staff approves it. You are not the uploader (${personName(v.senderUserId)}), so you can.`));
  if (!mine) {
    const b = h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'approve-release', 'aria-label': `Approve release of ${safeFileName(v.name)}` }, 'Approve release');
    b.addEventListener('click', () => {
      if (!confirm(`Release “${safeFileName(v.name)}” to the customers of this space? Your approval is signed and shown on the document.`)) return;
      void act(b, async () => {
        await app.portal?.approveRelease(spaceId, v.fileId);
        toast(`${safeFileName(v.name)} released to customers.`);
        await redraw();
      });
    });
    box.appendChild(b);
  }
  return box;
}

/** "Open anyway" for staff on a version the scanner blocked (not their own, not the scanner's). */
function overrideButton(spaceId: string, v: FileVersion, redraw: () => Promise<void>): HTMLElement | null {
  const me = app.account?.userId;
  if (!isStaff() || (v.access !== 'infected' && v.access !== 'scan_failed')) return null;
  if (v.senderUserId === me || scannerOf(spaceId) === me) return null;
  const what = v.scan.state === 'infected' ? `the scanner found “${v.scan.signature}” in it` : 'the scanner could not check it';
  const b = h('button', { type: 'button', class: 'btn btn-danger', 'data-action': 'override-scan', 'aria-label': `Open anyway: ${safeFileName(v.name)}` }, 'Open anyway');
  b.addEventListener('click', () => {
    if (!confirm(`Open “${safeFileName(v.name)}” anyway? ${what[0].toUpperCase()}${what.slice(1)}. `
      + 'Your decision is signed, recorded in the audit trail, and opens the file for staff only; customers stay blocked.')) return;
    void act(b, async () => {
      await app.portal?.overrideScan(spaceId, v.fileId);
      toast(`${safeFileName(v.name)} opened for staff. The override is in the audit trail.`);
      await redraw();
    });
  });
  return b;
}

function downloadButton(spaceId: string, v: FileVersion, uploads: HTMLElement, text: string): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'btn btn-secondary', 'aria-label': `${text} ${safeFileName(v.name)}` }, text);
  button.addEventListener('click', () => {
    void act(button, async () => {
      if (!app.portal) return;
      const p = progressBar(`Downloading and decrypting ${safeFileName(v.name)}`);
      uploads.appendChild(p.el);
      try {
        const blob = await app.portal.downloadFile(spaceId, v.fileId, v.mediaType, (d, t) => p.set(d, t));
        p.set(1, 1);
        p.el.dataset.state = 'done';
        const url = URL.createObjectURL(blob);
        // Saved under the cleaned name: no folders, control characters or direction tricks.
        const a = h('a', { href: url, download: safeFileName(v.name) });
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
      } catch (e) {
        // The listing can be a sync behind the policy: the SDK's refusal, in the same words.
        p.el.dataset.state = 'failed';
        toast(errorText(e, refusalContext(v)), 'error');
      } finally {
        setTimeout(() => p.el.remove(), 4000);
      }
    });
  });
  return button;
}
