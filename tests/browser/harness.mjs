/**
 * Harness for the browser tests: starts the real relay binary on a free port with the demo portal
 * (SEALROOM_WEB_DIR=demo-web/dist) and a fresh data directory, and launches Debian Chromium through
 * playwright-core with the headless flags documented in DEVELOPERS.md.
 *
 * Environment: SEALROOM_RELAY_BIN (default target/debug/sealroom-server, then
 * $CARGO_TARGET_DIR/debug/sealroom-server), CHROMIUM (default /usr/bin/chromium); for the scanner
 * test SEALROOM_SCANNER_BIN (default target/debug/sealroom-scanner) and SEALROOM_TEST_CLAMD.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WEB_DIR = join(ROOT, 'demo-web', 'dist');
export const SCREENSHOTS = join(ROOT, 'target', 'screenshots');

/** Chromium flags for a container without a GPU, sandbox or network (see DEVELOPERS.md). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

function relayBinary() {
  const candidates = [
    process.env.SEALROOM_RELAY_BIN,
    join(ROOT, 'target', 'debug', 'sealroom-server'),
    process.env.CARGO_TARGET_DIR && join(process.env.CARGO_TARGET_DIR, 'debug', 'sealroom-server'),
  ].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`relay binary not found (tried ${candidates.join(', ')}); build it or set SEALROOM_RELAY_BIN`);
  return found;
}

/** Starts the relay; resolves once /healthz answers. */
export async function startRelay() {
  if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error('demo-web/dist is missing: run demo-web/build.sh');
  const dataDir = mkdtempSync(join(tmpdir(), 'sealroom-browser-'));
  const log = [];
  const env = {
    ...process.env,
    SEALROOM_LISTEN: '127.0.0.1:0',
    SEALROOM_DATA_DIR: dataDir,
    SEALROOM_WEB_DIR: WEB_DIR,
    SEALROOM_LOG: 'info',
    SEALROOM_AUTH_FAILURES_PER_MINUTE: '100000',
  };
  delete env.SEALROOM_CONFIG;
  const child = spawn(relayBinary(), [], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => log.push(String(d)));
  child.stderr.on('data', (d) => log.push(String(d)));
  let exited = null;
  child.on('exit', (code) => { exited = code; });
  const addrFile = join(dataDir, 'listen-addr');
  for (let i = 0; i < 600; i++) {
    if (exited !== null) throw new Error(`relay exited (${exited}):\n${log.join('')}`);
    if (existsSync(addrFile)) {
      const addr = readFileSync(addrFile, 'utf8').trim();
      if (addr) {
        try {
          const r = await fetch(`http://${addr}/healthz`);
          if (r.ok) {
            return {
              url: `http://${addr}`,
              dataDir,
              log,
              setupToken: () => readFileSync(join(dataDir, 'setup-token'), 'utf8').trim(),
              async stop() {
                if (exited === null) {
                  child.kill('SIGTERM');
                  for (let j = 0; j < 100 && exited === null; j++) await sleep(50);
                  if (exited === null) child.kill('SIGKILL');
                }
                rmSync(dataDir, { recursive: true, force: true });
              },
            };
          }
        } catch {
          // not listening yet
        }
      }
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`relay did not become healthy:\n${log.join('')}`);
}

/** Launches Debian Chromium headless. */
export function launchChromium() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/** Saves a full-page screenshot under target/screenshots/<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Accessibility of the current page: axe-core's WCAG 2.0-2.2 A/AA rules (violations of serious
 * or critical impact), plus basics of our own: one h1, every form control has an accessible name
 * (label, aria-label or aria-labelledby), every button and link has text, images have alt text.
 * Returns a list of problems (empty when fine).
 */
export async function a11yProblems(page) {
  // Evaluated through the DevTools protocol, so the portal's Content-Security-Policy (no inline
  // scripts) does not apply to the checker.
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  const axe = await page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
    });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `axe ${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
  const own = await page.evaluate(() => {
    const problems = [];
    const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) || el.classList.contains('visually-hidden');
    const h1s = [...document.querySelectorAll('h1')].filter(visible);
    if (h1s.length !== 1) problems.push(`expected one h1, found ${h1s.length}`);
    if (!document.documentElement.lang) problems.push('html has no lang');
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden') continue;
      const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
      if (!named) problems.push(`unlabelled ${el.tagName.toLowerCase()} name=${el.name || '?'}`);
    }
    for (const el of document.querySelectorAll('button, a[href]')) {
      const text = (el.textContent || '').trim() || el.getAttribute('aria-label');
      if (!text) problems.push(`${el.tagName.toLowerCase()} without text`);
    }
    for (const el of document.querySelectorAll('img')) {
      if (!el.hasAttribute('alt')) problems.push('img without alt');
    }
    return problems;
  });
  return [...axe, ...own];
}

// ---- the malware scanner (scanner.test.mjs) ------------------------------------------------------

/**
 * clamd's address: SEALROOM_TEST_CLAMD (scripts/test.sh sources scripts/services/clamav.sh before
 * the browser step), else the script is run here to start (or reuse) it. No clamd is a failure,
 * never a skip.
 */
export function clamdAddress() {
  if (process.env.SEALROOM_TEST_CLAMD) return process.env.SEALROOM_TEST_CLAMD;
  const r = spawnSync('bash', ['-c', 'source scripts/services/clamav.sh >&2 && printf %s "$SEALROOM_TEST_CLAMD"'], {
    cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0 || !r.stdout) {
    throw new Error('clamd is needed: source scripts/services/clamav.sh (SEALROOM_TEST_CLAMD); it did not start');
  }
  return r.stdout;
}

/** The `sealroom-scanner` binary: SEALROOM_SCANNER_BIN, target/debug, $CARGO_TARGET_DIR/debug. */
export function scannerBinary() {
  const candidates = [
    process.env.SEALROOM_SCANNER_BIN,
    join(ROOT, 'target', 'debug', 'sealroom-scanner'),
    process.env.CARGO_TARGET_DIR && join(process.env.CARGO_TARGET_DIR, 'debug', 'sealroom-scanner'),
  ].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`scanner binary not found (tried ${candidates.join(', ')}); run \`cargo build -p sealroom-scanner\``);
  return found;
}

/** `sealroom-scanner register`: the scanner's service user from a staff invitation; its user id. */
export function registerScanner(relayUrl, stateDir, token) {
  const r = spawnSync(scannerBinary(), ['register', '--relay', relayUrl, '--token', token, '--state', stateDir], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  });
  const words = (r.stdout ?? '').trim().split(/\s+/);
  if (r.status !== 0 || words[0] !== 'registered' || !words[1]) {
    throw new Error(`scanner registration failed (${r.status}): ${r.stdout}${r.stderr}`);
  }
  return words[1];
}

/**
 * `sealroom-scanner run`: its stdout lines as they come (`ready`, `scanning`, `verdict`, `idle`).
 * `waitFor(pred)` resolves with the first line (seen or to come) that matches; `stop()` ends it.
 */
export function startScanner(relayUrl, stateDir, clamd) {
  const child = spawn(scannerBinary(), ['run', '--relay', relayUrl, '--clamd', clamd, '--state', stateDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = [];
  const stderr = [];
  const waiters = [];
  let exited = null;
  let rest = '';
  child.stdout.on('data', (d) => {
    rest += String(d);
    const parts = rest.split('\n');
    rest = parts.pop();
    for (const line of parts) {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pred(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr.on('data', (d) => stderr.push(String(d)));
  child.on('exit', (code) => {
    exited = code;
    for (const w of waiters.splice(0)) w.reject(new Error(`the scanner exited (${code}); it said ${JSON.stringify(lines)} ${stderr.join('')}`));
  });
  return {
    lines,
    stderr,
    waitFor(pred) {
      const seen = lines.find(pred);
      if (seen) return Promise.resolve(seen);
      if (exited !== null) return Promise.reject(new Error(`the scanner exited (${exited}); it said ${JSON.stringify(lines)} ${stderr.join('')}`));
      return new Promise((resolve, reject) => waiters.push({ pred, resolve, reject }));
    },
    async stop() {
      if (exited !== null) return;
      child.kill('SIGTERM');
      for (let i = 0; i < 100 && exited === null; i++) await sleep(50);
      if (exited === null) child.kill('SIGKILL');
    },
  };
}

/** How long a step of the browser tests may wait for the portal (a 50 MiB transfer included). */
export const LONG = 180_000;

/**
 * The relay and Chromium shared by the tests of one file: `before` starts them, `after` stops
 * them. Read `suite.relay` and `suite.browser` inside the tests (they are set once `before` ran).
 */
export function sharedSuite() {
  const suite = { relay: null, browser: null };
  before(async () => {
    suite.relay = await startRelay();
    suite.browser = await launchChromium();
  });
  after(async () => {
    await suite.browser?.close();
    await suite.relay?.stop();
  });
  return suite;
}

/** Waits until the portal has loaded the SDK and drawn its first page. */
export async function ready(page) {
  await page.waitForSelector('body[data-ready="true"]', { timeout: LONG });
}
