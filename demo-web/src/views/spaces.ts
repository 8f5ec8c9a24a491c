// The list of spaces; staff create a space for a customer company, admins invite colleagues.

import { field, h, replace } from '../dom.js';
import type { Page } from '../main.js';
import { go } from '../main.js';
import { personLabel, refreshPeople } from '../names.js';
import { act, app, formError, isStaff, markSeen, setLabel, spaceLabel, toast } from '../state.js';
import { Space } from '../sdk.js';
import { inviteBox } from './widgets.js';

function spaceCard(space: Space): HTMLElement {
  markSeen(space.spaceId);
  const customers = space.members.filter((m) => m.role === 'customer');
  const pending = customers.filter((m) => m.devices.length === 0).length;
  return h('li', { class: 'space-card' },
    h('a', { href: `#/spaces/${space.spaceId}/documents`, class: 'space-link' },
      h('span', { class: 'space-name' }, spaceLabel(space.spaceId)),
      h('span', { class: 'space-meta' },
        `${space.members.length} member${space.members.length === 1 ? '' : 's'}`,
        ' · owner ', personLabel(space.ownerUserId)),
      h('span', { class: 'badges' },
        space.joined ? h('span', { class: 'badge badge-ok' }, 'Encrypted room joined') : h('span', { class: 'badge badge-warn' }, 'Waiting for access'),
        space.internalRoom ? h('span', { class: 'badge' }, 'Internal notes') : null,
        pending > 0 && isStaff() ? h('span', { class: 'badge badge-warn' }, `${pending} to admit`) : null)));
}

function createSpaceForm(): HTMLElement {
  const company = h('input', { name: 'company', autocomplete: 'organization', placeholder: 'Kestrel Ltd' });
  // A further space for a customer company that already has one: its people keep their
  // accounts (they add the space by invitation, or staff add them).
  const existing = h('select', { name: 'existing', id: 'existing-company' }, h('option', { value: '' }, 'A new customer company'));
  const existingField = field('For', existing, 'Choose a company you already work with to give its people a further space.');
  existingField.hidden = true;
  void app.portal?.spaces().then((list) => {
    const seen = new Set<string>();
    for (const sp of list) {
      if (seen.has(sp.customerOrgId)) continue;
      seen.add(sp.customerOrgId);
      existing.appendChild(h('option', { value: sp.customerOrgId, 'data-space': sp.spaceId }, spaceLabel(sp.spaceId)));
    }
    existingField.hidden = seen.size === 0;
  }).catch(() => undefined);
  existing.addEventListener('change', () => {
    company.disabled = existing.value !== '';
  });
  const internal = h('input', { type: 'checkbox', name: 'internal', checked: true, id: 'internal-room' });
  const errors = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create space');
  const form = h('form', { class: 'stack', 'aria-labelledby': 'new-space-heading' },
    h('h2', { id: 'new-space-heading' }, 'New client space'),
    existingField,
    field('Customer company', company),
    h('div', { class: 'check' }, internal, h('label', { for: 'internal-room' }, 'With an internal notes room (staff only)')),
    errors, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const portal = app.portal;
    if (!portal) return;
    submit.disabled = true;
    formError(errors, null);
    try {
      const chosen = existing.selectedOptions[0];
      const name = existing.value ? (chosen?.textContent ?? '') : company.value.trim();
      if (!name) {
        formError(errors, new Error('Enter the customer company, or choose one you already work with.'), { field: company });
        submit.disabled = false;
        return;
      }
      const orgId = existing.value || (await portal.createCustomerOrg(name)).orgId;
      const space = await portal.createSpace(orgId, internal.checked);
      setLabel('spaces', space.spaceId, name);
      toast(`Space for ${name} created.`);
      go(`#/spaces/${space.spaceId}/people`);
    } catch (e) {
      formError(errors, e);
      submit.disabled = false;
    }
  });
  return form;
}

function inviteColleagueForm(): HTMLElement {
  const role = h('select', { name: 'role' }, h('option', { value: 'staff' }, 'Staff'), h('option', { value: 'admin' }, 'Administrator'));
  const out = h('div');
  const button = h('button', { type: 'submit', class: 'btn btn-secondary' }, 'Create invitation');
  const form = h('form', { class: 'stack', 'aria-labelledby': 'invite-staff-heading' },
    h('h2', { id: 'invite-staff-heading' }, 'Invite a colleague'),
    field('Role', role), button, out);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void act(button, async () => {
      if (!app.portal) return;
      const inv = await app.portal.invite(role.value === 'admin' ? 'admin' : 'staff', null);
      replace(out, inviteBox(inv.token, inv.expiresAt));
    });
  });
  return form;
}

export async function spacesView(): Promise<Page> {
  const portal = app.portal;
  if (!portal) throw new Error('no client');
  const list = h('ul', { class: 'space-list', 'aria-live': 'polite' });
  const draw = async () => {
    const spaces = await portal.spaces();
    await refreshPeople(() => portal.profiles(), app.account?.userId ?? null).catch(() => undefined);
    replace(list, spaces.length
      ? spaces.map(spaceCard)
      : h('li', { class: 'empty' }, isStaff()
        ? 'No spaces yet. Create one for your first customer.'
        : 'You are registered. Your advisor now adds you to your encrypted space; it appears here by itself.'));
  };
  await draw();
  app.onChange = () => void draw();
  const side = isStaff()
    ? h('aside', { class: 'stack' },
      h('section', { class: 'card' }, createSpaceForm()),
      app.account?.role === 'admin' ? h('section', { class: 'card' }, inviteColleagueForm()) : null)
    : null;
  return {
    title: 'Spaces',
    body: h('div', { class: side ? 'layout-split' : '' },
      h('section', {},
        h('h1', {}, 'Spaces'),
        h('p', { class: 'muted' }, isStaff() ? 'Each space is shared with one customer company.' : 'Spaces your advisor shares with you.'),
        list),
      side),
  };
}
