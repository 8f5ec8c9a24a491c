// Before this browser has a device: the welcome page, first-run setup of the relay's admin with
// the setup token, and registration by invitation.

import { field, h } from '../dom.js';
import type { Page } from '../main.js';
import { signedIn } from '../main.js';
import { app, errorCode, errorText, formError, setLabel } from '../state.js';
import type { InvitationCheck } from '../sdk.js';

function defaultDeviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom/.test(ua) ? 'Chromium' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Windows/.test(ua) ? 'Windows' : /Mac OS/.test(ua) ? 'macOS' : /Android/.test(ua) ? 'Android' : /Linux/.test(ua) ? 'Linux' : /iPhone|iPad/.test(ua) ? 'iOS' : '';
  return os ? `${browser} on ${os}` : browser;
}

function input(name: string, opts: { type?: string; required?: boolean; value?: string; autocomplete?: string; placeholder?: string } = {}): HTMLInputElement {
  return h('input', {
    name,
    type: opts.type ?? 'text',
    required: opts.required ?? false,
    value: opts.value ?? null,
    autocomplete: opts.autocomplete ?? 'off',
    placeholder: opts.placeholder ?? null,
    spellcheck: 'false',
  });
}

/** The first empty field of `fields` (the one an "invalid input" error most likely means). */
function firstEmpty(fields: HTMLInputElement[]): HTMLInputElement | null {
  return fields.find((f) => !f.value.trim()) ?? null;
}

export function welcomeView(): Page {
  const token = input('token', { required: true, placeholder: 'Paste the invitation link or token' });
  const form = h('form', { class: 'stack', 'aria-labelledby': 'join-heading' },
    h('h2', { id: 'join-heading' }, 'I have an invitation'),
    h('p', {}, 'Your advisor sent you a link or a code. Paste it here to create your encrypted account.'),
    field('Invitation link or token', token),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Continue'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const raw = token.value.trim();
    const m = /token=([^&#\s]+)/.exec(raw);
    const q = raw.indexOf('#/join?');
    location.hash = q >= 0 ? raw.slice(q) : `#/join?token=${encodeURIComponent(m ? decodeURIComponent(m[1]) : raw)}`;
  });
  return {
    title: 'Welcome',
    body: h('div', { class: 'welcome' },
      h('section', { class: 'hero' },
        h('h1', {}, 'Your documents, sealed end to end'),
        h('p', { class: 'lead' }, 'Sealroom encrypts every document and message in your browser before it leaves your device. '
          + 'The relay only ever stores ciphertext: not even the people running it can read your files.')),
      h('div', { class: 'grid-2' },
        h('section', { class: 'card' }, form),
        h('section', { class: 'card', 'aria-labelledby': 'setup-heading' },
          h('h2', { id: 'setup-heading' }, 'Setting up a new relay?'),
          h('p', {}, 'The first person creates the provider organisation and becomes its administrator, with the one-time setup token the relay wrote to ',
            h('code', {}, '<data dir>/setup-token'), '.'),
          h('a', { href: '#/setup', class: 'btn btn-secondary' }, 'First-run setup')))),
  };
}

export function setupView(): Page {
  const token = input('setup-token', { required: true });
  const org = input('org', { required: true, autocomplete: 'organization', placeholder: 'Northwind Advisory' });
  const name = input('name', { required: true, autocomplete: 'name' });
  const email = input('email', { type: 'email', autocomplete: 'email' });
  const device = input('device', { required: true, value: defaultDeviceName() });
  const errors = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create organisation');
  const form = h('form', { class: 'stack' },
    field('Setup token', token, 'One-time token from the relay’s data directory (file setup-token).'),
    field('Organisation name', org),
    field('Your name', name),
    field('Email for notifications (optional)', email, 'Notifications never contain content, only that something is waiting.'),
    field('Name of this device', device),
    errors,
    h('div', { class: 'actions' }, submit, h('a', { href: '#/', class: 'btn btn-ghost' }, 'Back')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!app.portal) return;
    submit.disabled = true;
    formError(errors, null);
    try {
      const account = await app.portal.bootstrap(token.value.trim(), org.value.trim(), name.value.trim(), email.value.trim() || null, device.value.trim());
      setLabel('users', account.userId, name.value.trim());
      await signedIn();
    } catch (e) {
      const code = errorCode(e);
      formError(errors, e, {
        field: code === 'relay_unauthenticated' ? token : code === 'invalid_input' ? firstEmpty([org, name, device]) : null,
        context: {
          relay_unauthenticated: 'That setup token is not right. Copy it again from the file setup-token in the relay’s data directory.',
          relay_conflict: 'This relay is already set up. Ask its administrator for an invitation instead.',
          relay_rate_limited: 'Too many wrong setup tokens. Wait a minute, then try again.',
        },
      });
      submit.disabled = false;
    }
  });
  return {
    title: 'First-run setup',
    body: h('section', { class: 'card narrow' },
      h('h1', {}, 'First-run setup'),
      h('p', {}, 'Create the provider organisation and its first administrator. Your device key is generated here and never leaves this browser.'),
      form),
  };
}

/**
 * The invitation page. What it shows comes from the relay (`checkInvitation`): who invited whom
 * into which organisation, or that the link was used, expired or is no invitation at all;
 * never the names written into the link, which anyone can forge.
 */
export async function joinView(query: URLSearchParams): Promise<Page> {
  const given = query.get('token') ?? '';
  let check: InvitationCheck | null = null;
  let checkError: unknown = null;
  if (given && app.portal) {
    try {
      check = await app.portal.checkInvitation(given.trim());
    } catch (e) {
      checkError = e;
    }
  }
  if (check && check.state !== 'valid') {
    const [title, heading, text] = check.state === 'used'
      ? ['Invitation already used', 'This invitation was already used',
        'Each invitation link works once. If you registered with it, open Sealroom in the browser you used then. Otherwise ask the person who invited you for a new link.']
      : check.state === 'revoked'
        ? ['Invitation withdrawn', 'This invitation was withdrawn',
          'The person who sent it, or an administrator, cancelled this link, so it no longer works. If you still expect to join, ask your contact, through a channel you trust, for a new invitation.']
        : ['Invitation expired', 'This invitation has expired',
          `It was valid until ${new Date(check.expiresAt * 1000).toLocaleString()}. Ask the person who invited you for a new link.`];
    return {
      title,
      body: h('section', { class: 'card narrow', 'data-state': `invitation-${check.state}` },
        h('h1', {}, heading),
        h('p', {}, text),
        h('a', { href: '#/', class: 'btn btn-secondary' }, 'Back')),
    };
  }
  if (given && errorCode(checkError) === 'relay_unauthenticated') {
    return {
      title: 'Not an invitation',
      body: h('section', { class: 'card narrow', 'data-state': 'invitation-invalid' },
        h('h1', {}, 'This link is not a valid invitation'),
        h('p', {}, 'The server does not know this invitation. The link may be cut off or mistyped, or it was not sent by your advisor. '
          + 'Do not enter anything on pages such a link leads to; ask your contact, through a channel you trust, for a new invitation.'),
        h('p', { class: 'muted small' }, 'Code for support: ', h('code', {}, 'relay_unauthenticated')),
        h('a', { href: '#/', class: 'btn btn-secondary' }, 'Back')),
    };
  }
  const token = input('invite-token', { required: true, value: given });
  const name = input('name', { required: true, autocomplete: 'name' });
  const email = input('email', { type: 'email', autocomplete: 'email' });
  const device = input('device', { required: true, value: defaultDeviceName() });
  const errors = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create my account');
  const form = h('form', { class: 'stack' },
    field('Invitation token', token),
    field('Your name', name),
    field('Email for notifications (optional)', email, 'We only tell you that something new is waiting, never what.'),
    field('Name of this device', device),
    errors,
    h('div', { class: 'actions' }, submit, h('a', { href: '#/', class: 'btn btn-ghost' }, 'Back')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!app.portal) return;
    submit.disabled = true;
    formError(errors, null);
    try {
      const account = await app.portal.register(token.value.trim(), name.value.trim(), email.value.trim() || null, device.value.trim());
      setLabel('users', account.userId, name.value.trim());
      // Labels from the relay's check, not from the link's text.
      if (check?.inviterUserId && check.inviterName) setLabel('users', check.inviterUserId, check.inviterName);
      if (check?.spaceId && check.orgName) setLabel('spaces', check.spaceId, check.orgName);
      await signedIn();
    } catch (e) {
      const code = errorCode(e);
      const linkProblem = 'This invitation link was already used, withdrawn, has expired or is incomplete. Ask the person who invited you for a new one.';
      formError(errors, e, {
        field: ['relay_unauthenticated', 'relay_not_found', 'relay_gone'].includes(code) ? token : code === 'invalid_input' ? firstEmpty([name, device]) : null,
        context: { relay_unauthenticated: linkProblem, relay_not_found: linkProblem, relay_gone: linkProblem },
      });
      submit.disabled = false;
    }
  });
  const roleText = check?.role === 'customer' ? 'as a customer' : check?.role ? `as ${check.role}` : '';
  return {
    title: 'Accept invitation',
    body: h('section', { class: 'card narrow' },
      h('h1', {}, 'Accept your invitation'),
      check
        ? h('div', { class: 'verified', 'data-state': 'invitation-valid' },
          h('p', { class: 'lead' }, h('bdi', {}, check.inviterName ?? 'Someone'), ' invited you to join ', h('strong', {}, h('bdi', {}, check.orgName ?? 'an organisation')), ` ${roleText}.`),
          h('p', { class: 'muted' }, `Checked with the server: the invitation is valid until ${new Date(check.expiresAt * 1000).toLocaleString()}. `
            + 'These names are the ones the server holds, not text from the link.'))
        : h('p', { class: 'lead' }, 'You were invited to an encrypted space.'),
      checkError ? h('p', { class: 'form-error', role: 'alert' }, 'The invitation could not be checked right now: ', errorText(checkError)) : null,
      h('p', {}, 'Your encryption keys are created in this browser. Nobody else, including the relay, ever sees them.'),
      form),
  };
}

/**
 * The invitation page in a browser that already has a device: a customer invitation into a
 * further space of the same organisation is added to this account (no second registration).
 * What it shows comes from the relay's check, never from the link's text.
 */
export async function joinExistingView(query: URLSearchParams): Promise<Page> {
  const given = (query.get('token') ?? '').trim();
  let check: InvitationCheck | null = null;
  let checkError: unknown = null;
  if (given && app.portal) {
    try {
      check = await app.portal.checkInvitation(given);
    } catch (e) {
      checkError = e;
    }
  }
  if (!check || check.state !== 'valid' || check.role !== 'customer' || app.account?.role !== 'customer') {
    const why = !check
      ? (checkError ? errorText(checkError) : 'This link is not a valid invitation.')
      : check.state !== 'valid'
        ? `This invitation ${check.state === 'used' ? 'was already used' : check.state === 'revoked' ? 'was withdrawn by the person who sent it' : 'has expired'}.`
        : 'This invitation is for a new account. Open it in another browser (or profile) to register with it.';
    return {
      title: 'Invitation',
      body: h('section', { class: 'card narrow', 'data-state': 'invitation-not-added' },
        h('h1', {}, 'This invitation cannot be added to your account'),
        h('p', {}, why),
        h('a', { href: '#/spaces', class: 'btn btn-secondary' }, 'Go to your spaces')),
    };
  }
  const valid = check;
  const add = h('button', { type: 'button', class: 'btn btn-primary', id: 'accept-invitation' }, 'Add this space to my account');
  const errors = h('div', { 'aria-live': 'assertive' });
  add.addEventListener('click', () => {
    if (!app.portal) return;
    add.disabled = true;
    formError(errors, null);
    void app.portal.acceptInvitation(given).then((spaceId) => {
      if (valid.orgName) setLabel('spaces', spaceId, valid.orgName);
      if (valid.inviterUserId && valid.inviterName) setLabel('users', valid.inviterUserId, valid.inviterName);
      location.hash = '#/spaces';
    }, (e) => {
      add.disabled = false;
      formError(errors, e, {
        context: {
          relay_forbidden: 'This invitation is for another organisation. Open it in another browser to create a separate account.',
          relay_gone: 'This invitation was already used or has expired. Ask for a new link.',
        },
      });
    });
  });
  return {
    title: 'Add a space',
    body: h('section', { class: 'card narrow', 'data-state': 'invitation-existing' },
      h('h1', {}, 'Add a space to your account'),
      h('div', { class: 'verified' },
        h('p', { class: 'lead' }, h('bdi', {}, valid.inviterName ?? 'Someone'), ' invited you to a further space with ', h('strong', {}, h('bdi', {}, valid.orgName ?? 'your organisation')), '.'),
        h('p', { class: 'muted' }, 'Checked with the server. You keep this browser’s account and device: no second registration. '
          + 'Staff then admit your device to the new space’s encrypted room.')),
      errors,
      h('div', { class: 'row-actions' }, add, h('a', { href: '#/spaces', class: 'btn btn-ghost' }, 'Not now'))),
  };
}
