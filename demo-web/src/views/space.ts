// One space: documents (documents.ts), messages in threads, the staff-only internal notes,
// people (invite, admit, remove, safety numbers) and, for staff, labels and scanning (policy.ts).

import { field, h, replace, shortId } from '../dom.js';
import type { Page } from '../main.js';
import { rerender } from '../main.js';
import { cleanText, personName, personView, refreshPeople, timeView } from '../names.js';
import {
  act, app, errorCode, isStaff, markSeen, spaceLabel, syncNow, toast, wasRemoved, wasSeen,
} from '../state.js';
import { Admission, Message, SdkError, Space, Thread } from '../sdk.js';
import { documentsTab } from './documents.js';
import { invitePanel } from './invitations.js';
import { loadPolicy, scannerBadge, scannerOf } from './labels.js';
import { policyTab } from './policy.js';
import { safetyNumber } from './widgets.js';

type Tab = 'documents' | 'messages' | 'notes' | 'people' | 'policy';

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
  if (isStaff() && space.joined) tabs.push(['policy', 'Labels and scanning']);
  // The policy names the space's scanner, which People shows with its own badge.
  if (space.joined) await loadPolicy(spaceId).catch(() => undefined);
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
  } else if (tab === 'policy') {
    await policyTab(space, content);
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
      h('td', {}, h('span', { class: `role role-${m.role}` }, m.role), scannerOf(space.spaceId) === m.userId ? scannerBadge() : null),
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
