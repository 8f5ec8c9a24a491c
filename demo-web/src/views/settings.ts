// Account, this device's fingerprint, and notification settings.

import { field, groups, h, replace } from '../dom.js';
import type { Page } from '../main.js';
import { act, app, toast } from '../state.js';
import { NotifyMode } from '../sdk.js';

const MODES: [NotifyMode, string, string][] = [
  ['immediate', 'Immediately', 'An email as soon as something new is waiting.'],
  ['hourly', 'Hourly digest', 'At most one email per hour.'],
  ['daily', 'Daily digest', 'At most one email per day.'],
  ['off', 'Off', 'No email; check the portal yourself.'],
];

export async function settingsView(): Promise<Page> {
  const portal = app.portal;
  const account = app.account;
  if (!portal || !account) throw new Error('no client');
  const [key, pref, own] = await Promise.all([portal.devicePublicKey(), portal.notificationPreference(), portal.ownProfile()]);

  // The profile others see: signed by this device and sent inside the encrypted rooms only.
  const pName = h('input', { type: 'text', name: 'name', autocomplete: 'name', required: true, maxlength: 100, value: own?.name ?? null });
  const pOrg = h('input', { type: 'text', name: 'organisation', autocomplete: 'organization', maxlength: 100, value: own?.organisation ?? null });
  const pTitle = h('input', { type: 'text', name: 'title', autocomplete: 'organization-title', maxlength: 100, value: own?.title ?? null });
  const pSave = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Update profile');
  const pSaved = h('p', { class: 'muted', 'aria-live': 'polite' });
  const profileForm = h('form', { class: 'stack', 'aria-labelledby': 'profile-heading', 'data-form': 'profile' },
    h('h2', { id: 'profile-heading' }, 'Your profile'),
    h('p', { class: 'muted' }, 'Shown to the people in your spaces. It is signed by this device and sent only inside the encrypted rooms: the server never sees it.'),
    field('Your name', pName),
    field('Organisation (optional)', pOrg),
    field('Title (optional)', pTitle),
    h('div', { class: 'actions' }, pSave, pSaved));
  profileForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void act(pSave, async () => {
      const p = await portal.setProfile({ name: pName.value, organisation: pOrg.value || null, title: pTitle.value || null });
      replace(pSaved, `Profile updated: ${p.name}.`);
      toast('Profile saved and sent to your spaces.');
    });
  });

  const email = h('input', { type: 'email', name: 'email', autocomplete: 'email', value: pref.email ?? null });
  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save');
  const saved = h('p', { class: 'muted', 'aria-live': 'polite' });
  const fieldset = h('fieldset', { class: 'radios' },
    h('legend', {}, 'Email me about new messages and documents'),
    MODES.map(([mode, text, hint]) => {
      const id = `mode-${mode}`;
      return h('div', { class: 'radio' },
        h('input', { type: 'radio', name: 'mode', value: mode, id, checked: pref.mode === mode, 'aria-describedby': `${id}-hint` }),
        h('label', { for: id }, text),
        h('span', { class: 'hint', id: `${id}-hint` }, hint));
    }));
  // The relay says whether it has a mail server at all: without one, no setting sends mail.
  const noMail = pref.mailConfigured === false;
  const form = h('form', { class: 'stack', 'aria-labelledby': 'notify-heading', 'data-mail': noMail ? 'none' : 'configured' },
    h('h2', { id: 'notify-heading' }, 'Notifications'),
    noMail ? h('p', { class: 'notice', id: 'no-mail', role: 'note' },
      'This relay sends no email (no mail server configured). You can keep your choice here; '
      + 'it takes effect once the operator sets up a mail server. Until then, check the portal yourself.') : null,
    fieldset,
    field('Email address', email, 'Emails never contain the content, only that something is waiting.'),
    h('div', { class: 'actions' }, save, saved));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const mode = (new FormData(form).get('mode') ?? 'immediate') as NotifyMode;
    void act(save, async () => {
      const p = await portal.setNotificationMode(mode, email.value.trim() || null);
      const choice = MODES.find(([m]) => m === p.mode)?.[1] ?? p.mode;
      if (p.mailConfigured === false) {
        replace(saved, `Saved: ${choice}. This relay sends no email (no mail server configured), so none will arrive for now.`);
        toast('Saved, but this relay sends no email.', 'error');
      } else {
        replace(saved, `Saved: ${choice}.`);
        toast('Notification settings saved.');
      }
    });
  });

  return {
    title: 'Settings',
    body: h('div', { class: 'stack' },
      h('h1', {}, 'Settings'),
      h('div', { class: 'grid-2' },
        h('section', { class: 'card', 'aria-labelledby': 'account-heading' },
          h('h2', { id: 'account-heading' }, 'Your account'),
          h('dl', { class: 'facts' },
            h('dt', {}, 'Name'), h('dd', {}, h('bdi', {}, own?.name ?? '—')),
            h('dt', {}, 'Role'), h('dd', {}, h('span', { class: `role role-${account.role}` }, account.role)),
            h('dt', {}, 'User id'), h('dd', {}, h('code', {}, account.userId)),
            h('dt', {}, 'This device'), h('dd', {}, h('code', {}, account.deviceId))),
          h('h3', {}, 'Device fingerprint'),
          h('p', { class: 'muted' }, 'The public key of this browser’s device. When a colleague approves a new device, they compare it with this.'),
          h('code', { class: 'fingerprint', id: 'fingerprint', 'aria-label': `Fingerprint ${groups(key, 4)}` }, groups(key, 4))),
        h('section', { class: 'card' }, profileForm),
        h('section', { class: 'card' }, form))),
  };
}
