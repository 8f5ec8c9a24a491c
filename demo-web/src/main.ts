// Entry point: opens the client, draws the shell and routes by the location hash
// (#/setup, #/join?token=…, #/spaces, #/spaces/<id>/<tab>, #/settings, #/audit), so the relay
// only has to serve index.html at `/`.

import { h, replace } from './dom.js';
import { Portal } from './sdk.js';
import { app, errorText, isStaff, startSync, syncState } from './state.js';
import { auditView } from './views/audit.js';
import { joinExistingView, joinView, setupView, welcomeView } from './views/onboarding.js';
import { settingsView } from './views/settings.js';
import { spaceView } from './views/space.js';
import { spacesView } from './views/spaces.js';

/** A route's result: the page's heading (for the title and focus) and its content. */
export interface Page { title: string; body: Node }

function route(): { path: string[]; query: URLSearchParams } {
  const raw = location.hash.replace(/^#\/?/, '');
  const [pathPart, queryPart] = raw.split('?', 2);
  return { path: pathPart.split('/').filter(Boolean), query: new URLSearchParams(queryPart ?? '') };
}

export function go(hash: string): void {
  if (location.hash === hash) void render();
  else location.hash = hash;
}

function navLink(href: string, text: string, active: boolean): HTMLElement {
  return h('a', { href, class: 'nav-link', 'aria-current': active ? 'page' : null }, text);
}

function drawNav(path: string[]): void {
  const nav = document.getElementById('nav');
  if (!nav) return;
  if (!app.account) {
    replace(nav);
    return;
  }
  const first = path[0] ?? 'spaces';
  replace(
    nav,
    navLink('#/spaces', 'Spaces', first === 'spaces'),
    navLink('#/settings', 'Settings', first === 'settings'),
    app.account.role === 'admin' ? navLink('#/audit', 'Audit', first === 'audit') : null,
  );
  const who = document.getElementById('who');
  if (who) {
    replace(who, h('span', { class: 'signed-in', 'data-signed-in': ownName ?? '' }, 'Signed in as ', h('bdi', {}, ownName ?? app.account.userId.slice(0, 6))), ' ',
      h('span', { class: `role role-${app.account.role}` }, app.account.role), ' ',
      h('a', { href: '#/signout', class: 'nav-link sign-out' }, 'Sign out'), ' ',
      h('span', { id: 'sync-state', class: 'sync-state', title: syncState.title || null }, syncState.text));
  }
}

/** This user's own profile name (signed by this device), for the header. */
let ownName: string | null = null;

async function readOwnName(): Promise<void> {
  ownName = (await app.portal?.ownProfile().catch(() => null))?.name ?? null;
}

let renderSeq = 0;

async function render(): Promise<void> {
  const seq = ++renderSeq;
  const main = document.getElementById('main');
  if (!main) return;
  const { path, query } = route();
  // Until the new page replaces it, the old one takes no clicks or keys: a button pressed in
  // that moment would act on what the old page showed (another space, say), not the new one.
  main.toggleAttribute('inert', true);
  main.setAttribute('aria-busy', 'true');
  app.onChange = null;
  app.onTick = null;
  let page: Page;
  try {
    if (!app.portal) {
      page = sdkMissingPage();
    } else if (!app.account) {
      if (path[0] === 'setup') page = setupView();
      else if (path[0] === 'join') page = await joinView(query);
      else page = welcomeView();
    } else if (path[0] === 'spaces' && path[1]) {
      page = await spaceView(path[1], path[2] ?? 'documents');
    } else if (path[0] === 'settings') {
      page = await settingsView();
    } else if (path[0] === 'signout') {
      page = signOutPage();
    } else if (path[0] === 'audit' && app.account.role === 'admin') {
      page = await auditView();
    } else if (path[0] === 'join') {
      page = await joinExistingView(query);
    } else if (path[0] === 'setup') {
      page = { title: 'Already registered', body: h('p', {}, 'This browser already has a Sealroom device. ', h('a', { href: '#/spaces' }, 'Go to your spaces')) };
    } else {
      page = await spacesView();
    }
  } catch (e) {
    page = { title: 'Something went wrong', body: h('p', { class: 'form-error', role: 'alert' }, errorText(e)) };
  }
  if (seq !== renderSeq) return;
  if (app.account) await readOwnName();
  drawNav(path);
  document.title = `${page.title} · Sealroom`;
  replace(main, page.body);
  main.toggleAttribute('inert', false);
  main.removeAttribute('aria-busy');
  const heading = main.querySelector('h1');
  // Focus moves to the new page's heading on navigation; on the first load it stays at the top
  // of the document, so the first Tab reaches the skip link.
  if (heading && !firstRender) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: false });
  }
  firstRender = false;
}

let firstRender = true;

function sdkMissingPage(): Page {
  return {
    title: 'Sealroom SDK unavailable',
    body: h('section', { class: 'card narrow' },
      h('h1', {}, 'The encryption SDK did not load'),
      h('p', {}, 'This portal encrypts everything in your browser with the Sealroom WebAssembly SDK, served from ',
        h('code', {}, 'sdk/'), '. It is missing or failed to start: ', h('code', { id: 'sdk-error' }, bootError)),
      h('p', {}, 'Build it with ', h('code', {}, 'scripts/build-wasm.sh'), ' and ', h('code', {}, 'demo-web/build.sh'), '.')),
  };
}

let bootError = '';

/** Set before the reload that finishes a sign-out: the next start deletes this browser's store. */
const SIGNED_OUT_KEY = 'sealroom.portal.signed-out';

/** Sign-out: what it wipes and what it keeps, then the revocation and the wipe. */
function signOutPage(): Page {
  const button = h('button', { type: 'button', class: 'btn btn-danger', id: 'sign-out' }, 'Sign out of this browser');
  const problem = h('div', { 'aria-live': 'assertive' });
  button.addEventListener('click', () => {
    button.disabled = true;
    void (async () => {
      try {
        if (app.portal && app.account) await app.portal.revokeThisDevice(app.account.deviceId);
      } catch (e) {
        button.disabled = false;
        replace(problem, h('p', { class: 'form-error', role: 'alert' }, `Could not sign out: ${errorText(e)}`));
        return;
      }
      localStorage.setItem(SIGNED_OUT_KEY, '1');
      location.hash = '#/';
      location.reload();
    })();
  });
  return {
    title: 'Sign out',
    body: h('section', { class: 'card narrow stack', 'data-state': 'sign-out' },
      h('h1', {}, 'Sign out of this browser'),
      h('h2', {}, 'What signing out deletes'),
      h('ul', {},
        h('li', {}, 'This browser’s device keys: the server stops accepting this device at once, and it is removed from your spaces’ encrypted rooms.'),
        h('li', {}, 'Everything this browser stored: decrypted messages, document names and your local labels.')),
      h('h2', {}, 'What it keeps'),
      h('ul', {},
        h('li', {}, 'Your account, your spaces, and every document and message in them, for the other members and your other devices.'),
        h('li', {}, 'Files you saved to this computer.')),
      h('p', {}, 'To use this browser again, link it as a new device from one of your other devices, or ask for a new invitation. '
        + 'If this is your only device and you have no recovery backup, you cannot read your spaces from a new device until staff admit it.'),
      problem,
      h('div', { class: 'row-actions' }, button, h('a', { href: '#/spaces', class: 'btn btn-secondary' }, 'Cancel'))),
  };
}

/** Finishes a sign-out begun before the last reload: deletes this browser's store and labels. */
async function finishSignOut(): Promise<void> {
  if (localStorage.getItem(SIGNED_OUT_KEY) !== '1') return;
  await new Promise<void>((resolve) => {
    const r = indexedDB.deleteDatabase('sealroom:portal');
    r.onsuccess = () => resolve();
    r.onerror = () => resolve();
    r.onblocked = () => resolve();
  });
  localStorage.removeItem('sealroom.portal.labels');
  localStorage.removeItem(SIGNED_OUT_KEY);
}

async function boot(): Promise<void> {
  try {
    await finishSignOut();
    app.portal = await Portal.open(location.origin);
    if (await app.portal.isRegistered()) {
      app.account = await app.portal.account();
      startSync();
    }
  } catch (e) {
    bootError = errorText(e);
    app.portal = null;
  }
  document.body.dataset.ready = 'true';
  window.addEventListener('hashchange', () => void render());
  await render();
}

/** Called by onboarding views once this browser has an account. */
export async function signedIn(): Promise<void> {
  if (!app.portal) return;
  app.account = await app.portal.account();
  startSync();
  go('#/spaces');
}

/** Re-renders the current route (after an action changed what it shows). */
export function rerender(): Promise<void> {
  return render();
}

export { isStaff };
void boot();
