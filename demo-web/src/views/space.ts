// One space: documents (upload with progress, latest-version badge, download), messages in
// threads, the staff-only internal notes, and people (invite, admit, remove, safety numbers).

import { bytes, field, h, replace, shortId } from '../dom.js';
import type { Page } from '../main.js';
import { rerender } from '../main.js';
import { cleanText, fileNameView, personName, personView, refreshPeople, safeFileName, timeView } from '../names.js';
import {
  act, app, asUpload, errorCode, errorText, isStaff, markSeen, spaceLabel, syncNow, toast, wasRemoved, wasSeen,
} from '../state.js';
import { Admission, Document, FileVersion, Message, PendingUpload, SdkError, Space, Thread } from '../sdk.js';
import { invitePanel } from './invitations.js';
import { progressBar, safetyNumber } from './widgets.js';

type Tab = 'documents' | 'messages' | 'notes' | 'people';

export async function spaceView(spaceId: string, tabName: string): Promise<Page> {
  const portal = app.portal;
  if (!portal) throw new Error('no client');
  let space: Space;
  try {
    space = await portal.space(spaceId);
  } catch (e) {
    if (e instanceof SdkError && (e.kind === 'forbidden' || e.kind === 'not_found')) return noAccess(spaceId, e);
    throw e;
  }
  if (wasRemoved(spaceId) && !space.joined) return noAccess(spaceId, null);
  markSeen(spaceId);
  // Names come from the profiles people's own devices signed (never from the relay).
  await refreshPeople(() => portal.profiles(), app.account?.userId ?? null).catch(() => undefined);
  const tabs: [Tab, string][] = [['documents', 'Documents'], ['messages', 'Messages']];
  if (isStaff() && space.internalRoom) tabs.push(['notes', 'Internal notes']);
  tabs.push(['people', 'People']);
  const tab: Tab = (tabs.find(([t]) => t === tabName)?.[0]) ?? 'documents';
  const content = h('div', { class: 'tab-panel', id: 'tab-panel' });
  const title = spaceLabel(spaceId);

  if (!space.joined && tab !== 'people') {
    replace(content, h('div', { class: 'notice', role: 'status' },
      h('h2', {}, 'Not in the encrypted room yet'),
      h('p', {}, isStaff()
        ? 'This device is not a member of the space’s room.'
        : 'Your account is ready. A member of staff now adds your device to the encrypted room; this page updates by itself.')));
    app.onChange = (events) => {
      if (events.some((e) => e.type === 'joinedSpace')) location.reload();
    };
  } else if (tab === 'documents') {
    await documentsTab(spaceId, content);
  } else if (tab === 'messages') {
    await messagesTab(spaceId, content, false);
  } else if (tab === 'notes') {
    await messagesTab(spaceId, content, true);
  } else {
    await peopleTab(space, content);
  }

  // A removal while this space is open replaces it with the no-access page at once: no message
  // box or upload form stays usable.
  const tabHandler = app.onChange;
  app.onChange = (events) => {
    if (events.some((e) => e.type === 'removedFromSpace' && e.spaceId === spaceId)) {
      void rerender();
      return;
    }
    tabHandler?.(events);
  };

  return {
    title: `${title} – ${tabs.find(([t]) => t === tab)?.[1] ?? ''}`,
    body: h('div', { class: 'space' },
      h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/spaces' }, 'Spaces'), ' / ', title),
      h('h1', {}, title),
      h('nav', { class: 'tabs', 'aria-label': 'Sections of this space' },
        tabs.map(([t, text]) => h('a', { href: `#/spaces/${spaceId}/${t}`, class: 'tab', 'aria-current': t === tab ? 'page' : null }, text))),
      content),
  };
}

/**
 * The page for a space this device may not open: one it was removed from (or listed before), or
 * one that was never shared with it (a mistyped or foreign link).
 */
function noAccess(spaceId: string, e: SdkError | null): Page {
  const code = e ? errorCode(e) : 'removed_from_space';
  const removed = wasRemoved(spaceId) || wasSeen(spaceId);
  const support = h('p', { class: 'muted small' }, 'Code for support: ', h('code', {}, code));
  if (!removed) {
    return {
      title: 'Not shared with you',
      body: h('section', { class: 'card narrow', 'data-state': 'not-shared' },
        h('h1', {}, 'This space is not shared with you'),
        h('p', {}, 'Check the link you followed. If you expected to see this space, ask the person who sent you the link to invite you.'),
        support,
        h('a', { href: '#/spaces', class: 'btn btn-secondary' }, 'Back to spaces')),
    };
  }
  return {
    title: 'No access',
    body: h('section', { class: 'card narrow', 'data-state': 'no-access' },
      h('h1', {}, 'You no longer have access to this space'),
      h('p', {}, `You were removed from ${spaceLabel(spaceId)}. Its documents and messages are no longer shown here, and nothing new reaches this device. `
        + 'If you need a document again, ask your contact to send it to you in a space you are a member of.'),
      support,
      h('a', { href: '#/spaces', class: 'btn btn-secondary' }, 'Back to spaces')),
  };
}

// ---- documents -------------------------------------------------------------------------------

async function documentsTab(spaceId: string, panel: HTMLElement): Promise<void> {
  const portal = app.portal;
  if (!portal) return;
  const list = h('div', { id: 'documents' });
  const uploads = h('div', { class: 'uploads', 'aria-live': 'polite' });

  let shown = '';
  let missingNames = false;
  // Redrawn only when the documents changed, and keyboard focus moves to the same control of the
  // new table, so a sync never pulls the focus from under someone using the keyboard.
  const draw = async () => {
    const docs = await portal.documents(spaceId);
    // The SDK's order: the document whose latest version arrived last comes first.
    const visible = docs.filter((d) => !d.latest.internal || isStaff());
    missingNames = visible.some((d) => d.versions.some((v) => !v.name));
    const signature = JSON.stringify(visible);
    if (signature === shown && list.firstChild) return;
    shown = signature;
    const focused = document.activeElement;
    const focusLabel = focused && list.contains(focused) ? focused.getAttribute('aria-label') : null;
    replace(list, visible.length ? documentTable(spaceId, visible, upload, uploads) : h('p', { class: 'empty' }, 'No documents yet.'));
    if (focusLabel) {
      const again = [...list.querySelectorAll<HTMLElement>('[aria-label]')].find((el) => el.getAttribute('aria-label') === focusLabel);
      again?.focus();
    }
  };

  const upload = async (file: File, documentId: string | null, internal: boolean) => {
    if (file.size === 0) {
      // An empty file is almost always a mistake (a failed export, a placeholder): say so
      // instead of publishing a document that opens to nothing.
      uploads.appendChild(h('p', { class: 'form-error', role: 'alert', 'data-code': 'empty_file' },
        `${safeFileName(file.name)} is empty (0 bytes), so it was not uploaded. Choose the file again once it has content.`));
      return;
    }
    const p = progressBar(`Encrypting and uploading ${safeFileName(file.name)}`);
    uploads.appendChild(p.el);
    try {
      const v = await asUpload(() => portal.uploadFile(spaceId, file, documentId, internal, (done, total) => p.set(done, total)));
      p.el.dataset.sdkUpdates = p.el.dataset.updates ?? '0';
      p.set(1, 1);
      p.el.classList.add('done');
      p.el.dataset.state = 'done';
      toast(`${safeFileName(file.name)} uploaded as version ${v.version}.`);
      await draw();
      setTimeout(() => p.el.remove(), 4000);
    } catch (e) {
      p.el.dataset.state = 'failed';
      p.el.appendChild(h('p', { class: 'form-error', role: 'alert' }, errorText(e)));
    }
  };

  const fileInput = h('input', { type: 'file', id: 'upload-file', name: 'file', required: true });
  const internal = h('input', { type: 'checkbox', id: 'upload-internal' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Encrypt and upload');
  const form = h('form', { class: 'upload-form', 'aria-labelledby': 'upload-heading' },
    h('h2', { id: 'upload-heading' }, 'Upload a document'),
    field('File', fileInput, 'Encrypted in this browser before upload. Large files are streamed.'),
    isStaff() ? h('div', { class: 'check' }, internal, h('label', { for: 'upload-internal' }, 'Internal (staff only)')) : null,
    submit);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const file = fileInput.files?.[0];
    if (!file) return;
    void act(submit, async () => {
      await upload(file, null, internal.checked);
      form.reset();
    });
  });

  // Uploads a reload or a crash interrupted: resumed from the same file, never a second document.
  const pending = h('div', { id: 'pending-uploads' });
  const drawPending = async () => {
    const mine = (await portal.pendingUploads()).filter((u) => u.spaceId === spaceId);
    replace(pending, mine.length ? pendingUploads(mine, uploads, async () => { await drawPending(); await draw(); }) : null);
  };
  await portal.refreshFiles(spaceId).catch((e) => toast(errorText(e), 'error'));
  await draw();
  await drawPending().catch((e) => toast(errorText(e), 'error'));
  app.onChange = (events) => {
    // A new file's name, type and size come from its manifest: read manifests before drawing.
    if (events.some((e) => (e.type === 'newFile' || e.type === 'newVersion' || e.type === 'historyReceived') && e.spaceId === spaceId)) {
      void portal.refreshFiles(spaceId).catch((e) => toast(errorText(e), 'error')).then(() => draw());
    } else if (events.some((e) => e.type === 'removedFromSpace')) {
      void draw();
    }
  };
  // A file announced in the room before its manifest (name, type, size) reached the relay is
  // listed without a name: read manifests again on the next ticks until every name is there.
  app.onTick = () => {
    if (missingNames) void portal.refreshFiles(spaceId).then(() => draw()).catch(() => undefined);
  };
  replace(panel, h('div', { class: 'layout-split' },
    h('section', { 'aria-labelledby': 'docs-heading' }, h('h2', { id: 'docs-heading' }, 'Documents'), list),
    h('aside', { class: 'card' }, pending, form, uploads)));
}

/** The unfinished uploads of this space, each with Resume (pick the same file) and Discard. */
function pendingUploads(list: PendingUpload[], uploads: HTMLElement, changed: () => Promise<void>): HTMLElement {
  return h('section', { class: 'pending stack', 'data-state': 'pending-uploads', 'aria-labelledby': 'pending-heading' },
    h('h2', { id: 'pending-heading' }, 'Unfinished uploads'),
    h('ul', { class: 'plain' }, list.map((u) => {
      const name = safeFileName(u.name);
      const chooser = h('input', { type: 'file', class: 'visually-hidden', tabindex: '-1', 'aria-label': `The file ${name}, to resume its upload` });
      const resume = h('button', { type: 'button', class: 'btn btn-primary', 'aria-label': `Resume ${name}` }, 'Resume');
      const discard = h('button', { type: 'button', class: 'btn btn-ghost', 'aria-label': `Discard ${name}` }, 'Discard');
      const problem = h('div', { 'aria-live': 'assertive' });
      resume.addEventListener('click', () => chooser.click());
      chooser.addEventListener('change', () => {
        const file = chooser.files?.[0];
        chooser.value = '';
        if (!file || !app.portal) return;
        if (file.size !== u.sourceLen) {
          replace(problem, h('p', { class: 'form-error', role: 'alert' },
            `That is not the same file: ${safeFileName(file.name)} has ${bytes(file.size)}, the upload was for ${bytes(u.sourceLen)}. Choose ${name}.`));
          return;
        }
        replace(problem);
        void act(resume, async () => {
          const p = progressBar(`Resuming ${name}`);
          uploads.appendChild(p.el);
          try {
            // The SDK re-seals the file, checks what the relay already holds and sends the rest.
            const v = await asUpload(() => app.portal!.resumeUpload(u.uploadId, file, (d, t) => p.set(d, t)));
            p.set(1, 1);
            p.el.dataset.state = 'done';
            toast(`${name} uploaded as version ${v.version}.`);
          } catch (e) {
            p.el.dataset.state = 'failed';
            replace(problem, h('p', { class: 'form-error', role: 'alert' }, errorText(e, {
              invalid_input: `The file differs from the one the upload started with. Choose the original ${name}, or discard the upload.`,
            })));
          }
          await changed();
        });
      });
      discard.addEventListener('click', () => {
        if (!confirm(`Discard the unfinished upload of ${name}? What was sent is deleted.`)) return;
        void act(discard, async () => {
          await app.portal?.cancelUpload(u.uploadId);
          await changed();
        });
      });
      return h('li', { 'data-upload': u.uploadId },
        h('p', {}, h('strong', {}, name), ` · ${bytes(u.uploaded)} of ${bytes(u.sealedLen)} sent`),
        h('div', { class: 'row-actions' }, resume, discard, chooser), problem);
    })));
}

function documentTable(
  spaceId: string,
  docs: Document[],
  upload: (file: File, documentId: string | null, internal: boolean) => Promise<void>,
  uploads: HTMLElement,
): HTMLElement {
  const rows = docs.map((doc) => {
    const v = doc.latest;
    // The file input stays out of the tab order: the "New version" button opens it.
    const versionInput = h('input', { type: 'file', class: 'visually-hidden', id: `ver-${doc.documentId}`, tabindex: '-1', 'aria-label': `File for a new version of ${safeFileName(v.name)}` });
    versionInput.addEventListener('change', () => {
      const file = versionInput.files?.[0];
      versionInput.value = '';
      if (file) void upload(file, doc.documentId, v.internal);
    });
    const newVersion = h('button', { type: 'button', class: 'btn btn-ghost', 'data-action': 'new-version', 'aria-label': `New version of ${safeFileName(v.name)}` }, 'New version');
    newVersion.addEventListener('click', () => {
      // Replacing someone else's document is a deliberate act: say whose it is first.
      if (v.senderUserId !== app.account?.userId
        && !confirm(`“${safeFileName(v.name)}” was uploaded by ${personName(v.senderUserId)}. `
          + `Your file becomes version ${v.version + 1} and everyone in the space sees it as the latest. Continue?`)) return;
      versionInput.click();
    });
    return h('tr', { 'data-document': doc.documentId },
      h('th', { scope: 'row' },
        fileNameView(v.name),
        v.internal ? h('span', { class: 'badge badge-internal' }, 'Internal') : null),
      h('td', {},
        h('span', { class: 'badge badge-latest', title: 'Latest version' }, `v${v.version} · latest`),
        h('p', { class: 'small muted', 'data-updated': '' }, v.receivedAt ? timeView(v.receivedAt) : 'date not recorded'),
        doc.versions.length > 1 ? h('details', { class: 'versions' },
          h('summary', {}, `${doc.versions.length - 1} earlier`),
          h('ul', {}, doc.versions.filter((x) => !x.latest).sort((a, b) => b.version - a.version).map((old) =>
            h('li', { 'data-version': old.version },
              `v${old.version} · ${bytes(old.size)} · by `, personView(old.senderUserId),
              old.receivedAt ? [' · ', timeView(old.receivedAt)] : ' · date not recorded', ' ',
              downloadButton(spaceId, old, uploads, `Download v${old.version}`))))) : null),
      h('td', { class: 'nowrap', 'data-label': 'Size' }, bytes(v.size)),
      h('td', { 'data-label': 'From' }, personView(v.senderUserId)),
      h('td', {}, h('div', { class: 'row-actions' },
        downloadButton(spaceId, v, uploads, 'Download'),
        newVersion,
        versionInput)));
  });
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table table-cards' },
    h('caption', { class: 'visually-hidden' }, 'Documents in this space, the most recently updated first'),
    h('thead', {}, h('tr', {}, ['Name', 'Version and date', 'Size', 'From', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows)));
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
      } finally {
        setTimeout(() => p.el.remove(), 4000);
      }
    });
  });
  return button;
}

// ---- messages and internal notes -------------------------------------------------------------

async function messagesTab(spaceId: string, panel: HTMLElement, internal: boolean): Promise<void> {
  const portal = app.portal;
  if (!portal) return;
  let current: string | null = null;
  const threadList = h('ul', { class: 'thread-list' });
  const log = h('ol', { class: 'message-log', 'aria-live': 'polite', 'aria-label': internal ? 'Note history' : 'Conversation history' });
  const body = h('textarea', { name: 'body', rows: 3, required: true, placeholder: internal ? 'Note for your colleagues…' : 'Write a message…' });
  const send = h('button', { type: 'submit', class: 'btn btn-primary' }, internal ? 'Add note' : 'Send');
  const composeTitle = h('span', {}, 'New conversation');
  const form = h('form', { class: 'compose' },
    field(internal ? 'Internal note' : 'Message', body, 'Ctrl+Enter sends.'),
    h('div', { class: 'actions' }, send, h('span', { class: 'muted' }, composeTitle)));

  // A conversation is named by how it starts (its first message), not by a number.
  const titles = new Map<string, string>();
  const titleOf = async (t: Thread): Promise<string> => {
    const known = titles.get(t.threadId);
    if (known) return known;
    const first = (await portal.messages(spaceId, t.threadId)).sort((a, b) => a.index - b.index)[0];
    const text = first ? first.body.replace(/\s+/g, ' ').trim() : '';
    const title = text.length > 48 ? `${text.slice(0, 47)}…` : text || 'Conversation';
    if (first) titles.set(t.threadId, title);
    return title;
  };

  const drawThreads = async (threads: Thread[]) => {
    const mine = threads.filter((t) => t.internal === internal).sort((a, b) => b.lastIndex - a.lastIndex);
    const names = await Promise.all(mine.map(titleOf));
    replace(threadList,
      h('li', {}, h('button', { type: 'button', class: `thread${current === null ? ' active' : ''}`, 'aria-pressed': String(current === null), onclick: () => { current = null; startingNew = true; void draw().then(() => body.focus()); } }, '+ New conversation')),
      mine.map((t, i) => h('li', {}, h('button', {
        type: 'button', class: `thread${t.threadId === current ? ' active' : ''}`, 'aria-pressed': String(t.threadId === current),
        'data-thread': t.threadId,
        onclick: () => { current = t.threadId; startingNew = false; void draw(); },
      }, h('span', { class: 'thread-title' }, names[i]), h('span', { class: 'count', 'aria-label': `${t.messages} messages` }, `${t.messages}`)))));
  };

  const drawMessages = (messages: Message[]) => {
    const shown = messages.filter((m) => m.internal === internal).sort((a, b) => a.index - b.index);
    replace(log, shown.length
      ? shown.map((m) => h('li', { class: `message${m.senderUserId === app.account?.userId ? ' mine' : ''}`, 'data-message': m.messageId },
        h('span', { class: 'sender' }, personView(m.senderUserId)), ' ',
        messageTime(m),
        h('p', { class: 'body' }, m.body)))
      : h('li', { class: 'empty' }, current ? 'No messages.' : 'Start a new conversation below.'));
    log.scrollTop = log.scrollHeight;
  };

  const draw = async () => {
    const threads = await portal.threads(spaceId);
    if (current === null && !startingNew) {
      // Open the most recent conversation unless the user chose to start a new one.
      const mine = threads.filter((t) => t.internal === internal).sort((a, b) => b.lastIndex - a.lastIndex);
      if (mine.length) current = mine[0].threadId;
    }
    await drawThreads(threads);
    composeTitle.textContent = current ? 'Replying in this conversation' : 'Starts a new conversation';
    drawMessages(current ? await portal.messages(spaceId, current) : []);
  };
  let startingNew = false;

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = body.value.trim();
    if (!text) return;
    void act(send, async () => {
      const m = await portal.postMessage(spaceId, text, current, internal);
      current = m.threadId;
      startingNew = false;
      body.value = '';
      await draw();
      body.focus();
    });
  });
  body.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  await draw();
  app.onChange = (events) => {
    if (events.some((e) => e.type === 'newMessage' || e.type === 'removedFromSpace' || e.type === 'memberAdded')) {
      void refreshPeople(() => portal.profiles(), app.account?.userId ?? null).then(() => draw());
    }
  };
  replace(panel,
    internal ? h('p', { class: 'notice notice-internal' }, 'Only staff of your organisation can read internal notes. Customers are never members of this room.') : null,
    h('h2', { id: 'messages-heading' }, internal ? 'Internal notes' : 'Messages'),
    h('div', { class: 'chat' },
      h('nav', { class: 'threads', 'aria-label': 'Conversations' }, threadList),
      h('section', { class: 'conversation', 'aria-label': 'Conversation' }, log, form)));
}

// ---- people ----------------------------------------------------------------------------------

async function peopleTab(space: Space, panel: HTMLElement): Promise<void> {
  const portal = app.portal;
  if (!portal) return;
  const table = h('div', { id: 'members' });
  let shown = '';
  // Redrawn only when the members changed, so keyboard focus inside the table survives polling.
  const draw = async (force = false) => {
    const s = await portal.space(space.spaceId);
    await refreshPeople(() => portal.profiles(), app.account?.userId ?? null);
    const signature = JSON.stringify(s.members);
    if (!force && signature === shown) return;
    shown = signature;
    replace(table, membersTable(s, () => draw(true)));
  };
  await draw();
  app.onChange = (events) => {
    if (events.some((e) => ['memberAdded', 'memberRemoved', 'keyChanged', 'joinedSpace'].includes(e.type))) void draw();
  };
  // Registrations by invitation change the relay's member list without a room event.
  app.onTick = () => void draw().catch((e) => console.warn('[portal] people: redraw failed', e));

  replace(panel, h('div', { class: isStaff() ? 'layout-split' : '' },
    h('section', { 'aria-labelledby': 'people-heading' },
      h('h2', { id: 'people-heading' }, 'People'),
      table,
      h('details', { class: 'explain' },
        h('summary', {}, 'What are safety numbers?'),
        h('p', {}, 'Each number is computed in your browser from the encryption keys of that person’s devices. '
          + 'Compare it with them by phone or in person: if both screens show the same digits, nobody is in the middle. '
          + 'If a number changes, the portal tells you.'))),
    isStaff() ? invitePanel(space) : null));
}

function membersTable(space: Space, redraw: () => Promise<void>): HTMLElement {
  const me = app.account?.userId;
  const review = h('div', { id: 'admission', 'aria-live': 'polite' });
  const rows = space.members.map((m) => {
    const inRoom = m.devices.length > 0;
    const actions: Node[] = [];
    if (isStaff() && !inRoom && m.userId !== me) {
      const b = h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'admit' }, 'Admit to room');
      b.addEventListener('click', () => void act(b, async () => {
        if (!app.portal) return;
        // The name comes from the card the person's own device signed; check it and the
        // safety number with them before anything is shared.
        const a = await app.portal.admission(space.spaceId, m.userId);
        replace(review, admissionCard(a, space.spaceId, redraw, () => { replace(review); b.focus(); }));
        review.querySelector<HTMLElement>('h3')?.focus();
      }));
      actions.push(b);
    }
    if (isStaff() && m.role === 'customer') {
      const b = h('button', { type: 'button', class: 'btn btn-danger', 'data-action': 'remove' }, 'Remove');
      b.addEventListener('click', () => {
        if (!confirm(`Remove ${personName(m.userId)} from this space? They lose access to new messages and documents.`)) return;
        void act(b, async () => {
          await app.portal?.removeMember(space.spaceId, m.userId);
          toast(`${personName(m.userId)} removed.`);
          await syncNow().catch(() => undefined);
          await redraw();
        });
      });
      actions.push(b);
    }
    return h('tr', { 'data-user': m.userId, 'data-role': m.role },
      h('th', { scope: 'row' }, personView(m.userId, { details: true }), h('span', { class: 'muted small' }, ` ${shortId(m.userId)}`)),
      h('td', {}, h('span', { class: `role role-${m.role}` }, m.role)),
      h('td', {}, inRoom ? `${m.devices.length} device${m.devices.length === 1 ? '' : 's'}` : h('span', { class: 'badge badge-warn' }, 'not in room yet')),
      h('td', {}, safetyNumber(m.safetyNumber)),
      h('td', {}, h('div', { class: 'row-actions' }, actions)));
  });
  return h('div', {},
    review,
    h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
      h('caption', { class: 'visually-hidden' }, 'Members of this space'),
      h('thead', {}, h('tr', {}, ['Name', 'Role', 'Devices', 'Safety number', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows))));
}

/** The admit step: the name the person's device signed and their safety number, side by side. */
function admissionCard(a: Admission, spaceId: string, redraw: () => Promise<void>, close: () => void): HTMLElement {
  const name = a.name ? cleanText(a.name) || null : null;
  const admit = h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'confirm-admit' }, name ? `Admit ${name}` : 'Admit this person');
  const cancel = h('button', { type: 'button', class: 'btn btn-ghost' }, 'Cancel');
  admit.addEventListener('click', () => void act(admit, async () => {
    await app.portal?.addMember(spaceId, a.userId);
    toast(`${name ?? 'The person'} admitted to the encrypted room.`);
    close();
    await redraw();
  }));
  cancel.addEventListener('click', close);
  const unverified = a.devices.filter((d) => !d.verified).length;
  return h('section', { class: 'card admission stack', 'data-state': 'admission', 'aria-labelledby': 'admission-heading' },
    h('h3', { id: 'admission-heading', tabindex: '-1' }, 'Check before admitting'),
    h('div', { class: 'grid-2' },
      h('div', {},
        h('p', { class: 'muted small' }, 'Name signed by their device'),
        name ? h('p', { class: 'admission-name' }, h('bdi', { dir: 'auto' }, name))
          : h('p', { class: 'badge badge-warn' }, 'Their device signed no name')),
      h('div', {},
        h('p', { class: 'muted small' }, 'Safety number'),
        safetyNumber(a.safetyNumber))),
    h('p', {}, 'Ask them, by phone or in person, for their name and the safety number their People page shows. Admit only if both match.'),
    unverified ? h('p', { class: 'badge badge-warn' }, `${unverified} device${unverified === 1 ? '' : 's'} not vouched for by the person`) : null,
    h('div', { class: 'row-actions' }, admit, cancel));
}

/** When a message was sent: the sender's time; the server's beside it if they disagree by over 5 minutes. */
function messageTime(m: Message): HTMLElement | null {
  const sent = m.sentAt ?? m.receivedAt;
  if (!sent) return null;
  const skew = m.sentAt && m.receivedAt ? Math.abs(m.sentAt - m.receivedAt) : 0;
  return h('span', { class: 'muted small message-time' },
    timeView(sent),
    skew > 300 ? h('span', { title: 'The sender’s clock and the server disagree by more than 5 minutes.' }, ' (server: ', timeView(m.receivedAt), ')') : null);
}
