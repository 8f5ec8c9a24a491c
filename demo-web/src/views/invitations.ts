// The Invite panel of a space's People view (staff): an invitation with a chosen lifetime, and
// the space's open invitations with "Revoke". The list comes from the relay (never the tokens,
// which exist only in the links handed out); a revoked link is refused by the relay from then on.
// Below it, "Add a colleague": a registered staff member (a second pair of eyes, or the
// malware scanner's service user) joins the space by user id.

import { field, h, replace } from '../dom.js';
import { rerender } from '../main.js';
import { personView, timeView } from '../names.js';
import { act, app, errorText, spaceLabel, syncNow, toast } from '../state.js';
import type { InvitationInfo, Space } from '../sdk.js';
import { inviteBox } from './widgets.js';

const HOUR = 3600;
const DAY = 24 * HOUR;
/** Lifetimes offered, in seconds (the relay accepts one hour to 30 days). */
const LIFETIMES: [number, string][] = [
  [HOUR, '1 hour'],
  [DAY, '1 day'],
  [7 * DAY, '7 days'],
  [30 * DAY, '30 days'],
];
const DEFAULT_LIFETIME = 7 * DAY;

/** The Invite panel: lifetime, "Invite a customer", the fresh link, and the open invitations. */
export function invitePanel(space: Space): HTMLElement {
  const portal = app.portal;
  const out = h('div');
  const openList = h('div', { id: 'open-invitations', 'aria-live': 'polite' });
  const lifetime = h('select', { id: 'invite-lifetime', name: 'lifetime' },
    LIFETIMES.map(([secs, text]) => h('option', { value: secs, selected: secs === DEFAULT_LIFETIME }, text)));
  const inviteButton = h('button', { type: 'button', class: 'btn btn-primary', id: 'invite-customer' }, 'Invite a customer');

  let shown = '';
  const drawOpen = async (force = false) => {
    if (!portal) return;
    const open = await portal.spaceInvitations(space.spaceId);
    const signature = JSON.stringify(open);
    if (!force && signature === shown && openList.firstChild) return;
    shown = signature;
    replace(openList, openInvitations(open, () => drawOpen(true)));
  };

  inviteButton.addEventListener('click', () => void act(inviteButton, async () => {
    if (!portal) return;
    const inv = await portal.invite('customer', space.spaceId, Number(lifetime.value));
    replace(out, inviteBox(inv.token, inv.expiresAt, { spaceId: space.spaceId, space: spaceLabel(space.spaceId) }));
    await drawOpen(true);
  }));
  void drawOpen().catch(() => undefined);

  return h('aside', { class: 'card stack', 'data-panel': 'invite' },
    h('h2', {}, 'Invite'),
    h('p', {}, 'A customer who registers with this link joins this space. You then admit their device to the encrypted room: '
      + 'the portal shows the name their device signed beside their safety number, so you can check both with them first.'),
    h('div', { class: 'field' },
      h('label', { for: 'invite-lifetime' }, 'The link works for'),
      lifetime,
      h('p', { class: 'hint' }, 'Choose the shortest time that suits the person you invite. You can revoke the link until it is used.')),
    inviteButton, out,
    h('h3', { id: 'open-invitations-heading' }, 'Open invitations'),
    openList,
    colleagueForm(space));
}

/** Adds a registered colleague (staff of this organisation) to the space and its rooms. */
function colleagueForm(space: Space): HTMLElement {
  const userId = h('input', { id: 'colleague-id', name: 'colleague', autocomplete: 'off', spellcheck: 'false', required: true });
  const add = h('button', { type: 'submit', class: 'btn btn-secondary' }, 'Add to this space');
  const problem = h('div', { 'aria-live': 'assertive' });
  const form = h('form', { class: 'stack', 'aria-labelledby': 'colleague-heading', 'data-form': 'add-colleague' },
    h('h3', { id: 'colleague-heading' }, 'Add a colleague'),
    field('Colleague’s user id', userId, 'Their Settings page shows it; for the malware scanner, “sealroom-scanner register” prints it.'),
    problem, add);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const id = userId.value.trim();
    if (!id) return;
    replace(problem);
    void act(add, async () => {
      try {
        await app.portal?.addMember(space.spaceId, id);
      } catch (e) {
        replace(problem, h('p', { class: 'form-error', role: 'alert' }, errorText(e, {
          relay_not_found: 'No colleague with that user id. Check it on their Settings page.',
          relay_forbidden: 'That user cannot be added to this space (only staff of your organisation can).',
        })));
        return;
      }
      toast('Colleague added to the space and its encrypted rooms.');
      await syncNow().catch(() => undefined);
      await rerender();
    });
  });
  return form;
}

/** The open invitations: who sent each, when it stops working, and a "Revoke" button. */
function openInvitations(list: InvitationInfo[], redraw: () => Promise<void>): HTMLElement {
  if (!list.length) return h('p', { class: 'empty' }, 'No open invitations.');
  return h('ul', { class: 'plain stack', 'aria-labelledby': 'open-invitations-heading' }, list.map((inv) => {
    const expired = inv.state === 'expired';
    const revoke = h('button', {
      type: 'button', class: 'btn btn-secondary', 'data-action': 'revoke-invitation',
      'aria-label': `Revoke the invitation created ${new Date(inv.createdAt * 1000).toLocaleString()}`,
    }, 'Revoke');
    revoke.addEventListener('click', () => {
      if (!confirm('Revoke this invitation? Its link stops working at once; the person who has it sees that it was withdrawn.')) return;
      void act(revoke, async () => {
        await app.portal?.revokeInvitation(inv.invitationId);
        toast('Invitation revoked: its link no longer works.');
        await redraw();
      });
    });
    return h('li', { 'data-invitation-id': inv.invitationId, 'data-state': inv.state, 'data-expires-at': inv.expiresAt },
      h('p', {}, 'Created ', timeView(inv.createdAt), ' by ', personView(inv.invitedBy), ' · ',
        expired ? h('strong', {}, 'expired ') : 'works until ', timeView(inv.expiresAt)),
      h('div', { class: 'row-actions' }, revoke));
  }));
}
