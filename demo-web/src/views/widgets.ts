// Pieces shared by several views: the invitation hand-over box, progress bars, safety numbers.

import { groups, h } from '../dom.js';
import { app, label, toast } from '../state.js';

/** The invitation link and token, with copy buttons, to hand to the invitee out of band. */
export function inviteBox(token: string, expiresAt: number, context: { spaceId?: string; space?: string } = {}): HTMLElement {
  // Display labels ride in the URL fragment, which browsers never send to the relay: the invitee
  // sees who invited them and into which space, since the relay only knows ids.
  const params = new URLSearchParams({ token });
  const inviter = app.account ? label('users', app.account.userId) : undefined;
  if (app.account && inviter) {
    params.set('by', inviter);
    params.set('byId', app.account.userId);
  }
  if (context.spaceId && context.space) {
    params.set('space', context.spaceId);
    params.set('label', context.space);
  }
  const link = `${location.origin}/#/join?${params.toString()}`;
  const linkInput = h('input', { readonly: true, value: link, id: 'invite-link', 'data-token': token });
  const copy = (text: string) => async () => {
    try {
      await navigator.clipboard.writeText(text);
      toast('Copied.');
    } catch {
      linkInput.select();
      toast('Select the text and copy it.', 'error');
    }
  };
  const expires = expiresAt ? new Date(expiresAt * 1000).toLocaleString() : '';
  const title = h('p', { id: 'invite-box-title', class: 'strong' }, 'Invitation ready: send this link to the person you invite');
  const linkField = h('div', { class: 'field' }, h('label', { for: 'invite-link' }, 'Invitation link'),
    h('div', { class: 'input-row' }, linkInput, h('button', { type: 'button', class: 'btn btn-secondary', onclick: copy(link) }, 'Copy link')));
  const box = h('div', { class: 'invite-box', role: 'group', 'aria-labelledby': 'invite-box-title', 'data-invitation': 'valid' },
    title, linkField,
    h('p', { class: 'hint' }, 'Token: ', h('code', { class: 'token', id: 'invite-token' }, token),
      expires ? ` · single use, valid until ${expires}` : ' · single use'));
  watchInvitation(token, box, title, linkField);
  return box;
}

/**
 * Asks the relay every few seconds, while the box is on screen, whether the invitation is still
 * usable: a used, revoked or expired one no longer reads "Invitation ready" and its link is
 * withdrawn.
 */
function watchInvitation(token: string, box: HTMLElement, title: HTMLElement, linkField: HTMLElement): void {
  let started = false;
  const timer = setInterval(() => {
    if (!box.isConnected) {
      if (started) clearInterval(timer);
      return;
    }
    started = true;
    void app.portal?.checkInvitation(token).then((c) => {
      if (c.state === 'valid') return;
      clearInterval(timer);
      box.dataset.invitation = c.state;
      title.textContent = c.state === 'used'
        ? 'Invitation used: this link has been used to create an account and no longer works'
        : c.state === 'revoked'
          ? 'Invitation withdrawn: this link no longer works'
          : 'Invitation expired: this link no longer works; create a new one';
      linkField.remove();
    }).catch(() => undefined);
  }, 4000);
}

/** A labelled progress bar with a text percentage (for screen readers and for the eye). */
export function progressBar(labelText: string): { el: HTMLElement; set: (done: number, total: number) => void } {
  const id = `p-${Math.random().toString(36).slice(2)}`;
  const bar = h('progress', { id, max: 100, value: 0 });
  const text = h('span', { class: 'progress-text' }, '0 %');
  const el = h('div', { class: 'progress' }, h('label', { for: id }, labelText), bar, text);
  return {
    el,
    set(done: number, total: number) {
      // How many progress events arrived (the browser test checks that they do, not when).
      el.dataset.updates = String(Number(el.dataset.updates ?? '0') + 1);
      const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
      bar.value = pct;
      text.textContent = `${pct} %`;
    },
  };
}

/** A safety number in twelve groups of five digits. */
export function safetyNumber(n: string | null | undefined): HTMLElement {
  if (!n) return h('span', { class: 'muted' }, 'not known yet');
  const digits = groups(n.replace(/\s+/g, ''), 5);
  return h('code', { class: 'safety', 'aria-label': `Safety number ${digits}` }, digits);
}
