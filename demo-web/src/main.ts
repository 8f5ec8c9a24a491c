// Entry point: opens the client, draws the shell and routes by the location hash
// (#/setup, #/join?token=…, #/spaces, #/spaces/<id>/<tab>, #/settings, #/audit), so the relay
// only has to serve index.html at `/`.

import { h, replace } from './dom.js';
import { Portal } from './sdk.js';
import { app, errorText, isStaff, startSync, syncState } from './state.js';
import { auditView } from './views/audit.js';
import { joinView, setupView, welcomeView } from './views/onboarding.js';
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
    replace(who, h('span', { class: `role role-${app.account.role}` }, app.account.role), ' ',
      h('span', { id: 'sync-state', class: 'sync-state', title: syncState.title || null }, syncState.text));
  }
}

let renderSeq = 0;

async function render(): Promise<void> {
  const seq = ++renderSeq;
  const main = document.getElementById('main');
  if (!main) return;
  const { path, query } = route();
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
    } else if (path[0] === 'audit' && app.account.role === 'admin') {
      page = await auditView();
    } else if (path[0] === 'join' || path[0] === 'setup') {
      page = { title: 'Already registered', body: h('p', {}, 'This browser already has a Sealroom device. ', h('a', { href: '#/spaces' }, 'Go to your spaces')) };
    } else {
      page = await spacesView();
    }
  } catch (e) {
    page = { title: 'Something went wrong', body: h('p', { class: 'form-error', role: 'alert' }, errorText(e)) };
  }
  if (seq !== renderSeq) return;
  drawNav(path);
  document.title = `${page.title} · Sealroom`;
  replace(main, page.body);
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

async function boot(): Promise<void> {
  try {
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
