/**
 * Browser end-to-end tests of the demo portal in real Debian Chromium (playwright-core), against
 * the real relay binary serving demo-web/dist. Two browser contexts, staff and customer, each
 * with its own IndexedDB: first-run setup with the setup token, a space, an invitation link,
 * registration, admission to the encrypted room, a 50 MiB upload with progress, download with
 * identical bytes (SHA-256), messages both ways, an internal note the customer never sees,
 * notification settings, the audit view, and removal of the customer. Screenshots of the main
 * pages go to target/screenshots/.
 *
 * Run: demo-web/build.sh && (cd tests/browser && npm ci && node --test --test-reporter=tap)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LONG, ROOT, a11yProblems, ready, screenshot, sharedSuite, startRelay } from './harness.mjs';
import { startHostile } from '../node/hostile.mjs';

const BIG = 50 * 1024 * 1024;

const suite = sharedSuite();

function sha256File(path) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
  });
}

test('the relay serves the portal shell with the right content types', async () => {
  for (const [path, type] of [
    ['/', 'text/html'],
    ['/styles.css', 'text/css'],
    ['/js/main.js', 'javascript'],
    ['/sdk/sealroom.js', 'javascript'],
    ['/sdk/sealroom_bg.wasm', 'application/wasm'],
  ]) {
    const r = await fetch(suite.relay.url + path);
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get('content-type') ?? '', new RegExp(type), path);
    await r.arrayBuffer();
  }
});

test('first page loads in Chromium, is keyboard reachable and labelled', async () => {
  const context = await suite.browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(suite.relay.url + '/');
  await ready(page);
  // The WASM SDK loaded and opened this profile's store: the welcome page, not the SDK error.
  await page.getByRole('heading', { level: 1, name: 'Your documents, sealed end to end' }).waitFor({ timeout: 10_000 });
  await screenshot(page, '01-welcome');
  assert.deepEqual(await a11yProblems(page), []);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.className), 'skip-link');
  await page.goto(suite.relay.url + '/#/setup');
  await page.waitForSelector('h1');
  assert.deepEqual(await a11yProblems(page), []);
  // Narrow screen: the layout reflows without horizontal scrolling.
  await page.setViewportSize({ width: 380, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `horizontal overflow of ${overflow}px at 380px width`);
  await screenshot(page, '02-setup-mobile');
  assert.deepEqual(errors, []);
  await context.close();
});

test('staff and customer: invite, 50 MiB upload and download, messages both ways, removal', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sealroom-files-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bigPath = join(dir, 'statement-2026.bin');
  writeFileSync(bigPath, randomBytes(BIG));
  const bigHash = await sha256File(bigPath);

  const staffCtx = await suite.browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
  const custCtx = await suite.browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
  t.after(() => Promise.all([staffCtx.close(), custCtx.close()]));
  const staff = await staffCtx.newPage();
  const cust = await custCtx.newPage();
  const pageErrors = [];
  staff.on('pageerror', (e) => pageErrors.push(`staff: ${e}`));
  cust.on('pageerror', (e) => pageErrors.push(`customer: ${e}`));
  // What the pages said and which requests failed, kept for the report of a failed step.
  const trail = [];
  for (const [who, p] of [['staff', staff], ['customer', cust]]) {
    p.on('console', (m) => trail.push(`${new Date().toISOString()} ${who} console.${m.type()}: ${m.text()}`));
    p.on('requestfailed', (r) => trail.push(`${new Date().toISOString()} ${who} request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  }
  staff.on('dialog', (d) => d.accept());
  for (const p of [staff, cust]) p.setDefaultTimeout(LONG);

  // A step is a subtest; on failure both pages are saved as target/screenshots/failed-*.png.
  let stepNo = 0;
  const step = (name, fn) => t.test(name, async () => {
    stepNo += 1;
    try {
      await fn();
    } catch (e) {
      await screenshot(staff, `failed-${stepNo}-staff`).catch(() => undefined);
      await screenshot(cust, `failed-${stepNo}-customer`).catch(() => undefined);
      // The relay's request log and the pages' trail, for a failure seen only on CI.
      mkdirSync(join(ROOT, 'target', 'test-logs'), { recursive: true });
      writeFileSync(join(ROOT, 'target', 'test-logs', `browser-failed-${stepNo}.log`),
        `${e?.stack ?? e}\n\n== pages\n${trail.join('\n')}\n\n== relay\n${suite.relay.log.join('')}`);
      const relayTail = suite.relay.log.join('').split('\n').filter(Boolean).slice(-25);
      if (e && typeof e === 'object') e.message += `\n-- pages (last 15):\n${trail.slice(-15).join('\n')}\n-- relay (last 25):\n${relayTail.join('\n')}`;
      throw e;
    }
  });

  let inviteLink;
  let spaceUrl;

  await step('first-run setup of the admin with the setup token', async () => {
    await staff.goto(suite.relay.url + '/#/setup');
    await ready(staff);
    // A wrong token: a sentence a person understands, the field marked and focused, the code kept.
    await staff.getByLabel('Setup token').fill('not-the-token');
    await staff.getByLabel('Organisation name').fill('Northwind Advisory');
    await staff.getByLabel('Your name').fill('Ada Admin');
    await staff.getByRole('button', { name: 'Create organisation' }).click();
    const problem = staff.locator('.form-error[role="alert"]');
    await problem.waitFor();
    assert.match(await problem.textContent(), /^That setup token is not right\. .*\(code: relay_unauthenticated\)$/);
    assert.doesNotMatch(await problem.textContent(), /relay refused the request/);
    const tokenField = staff.getByLabel('Setup token');
    assert.equal(await tokenField.getAttribute('aria-invalid'), 'true');
    assert.equal(await tokenField.evaluate((el) => el === document.activeElement), true);
    assert.equal(await tokenField.getAttribute('aria-errormessage'), await problem.getAttribute('id'));
    await screenshot(staff, '02b-setup-wrong-token');
    await staff.getByLabel('Setup token').fill(suite.relay.setupToken());
    await staff.getByLabel('Organisation name').fill('Northwind Advisory');
    await staff.getByLabel('Your name').fill('Ada Admin');
    await staff.getByRole('button', { name: 'Create organisation' }).click();
    await staff.getByRole('heading', { level: 1, name: 'Spaces' }).waitFor();
  });

  await step('staff creates a space and an invitation link', async () => {
    await staff.getByLabel('Customer company').fill('Kestrel Ltd');
    await staff.getByRole('button', { name: 'Create space' }).click();
    await staff.getByRole('heading', { level: 1, name: 'Kestrel Ltd' }).waitFor();
    spaceUrl = staff.url().replace(/\/people$/, '');
    await staff.getByRole('button', { name: 'Invite a customer' }).click();
    inviteLink = await staff.locator('#invite-link').inputValue();
    assert.match(inviteLink, /#\/join\?token=/);
    await screenshot(staff, '03-staff-people-invite');
  });

  await step('customer registers with the invitation link', async () => {
    // A made-up link: checked with the relay before anything is shown, its own text never is.
    const fake = new URL(inviteLink);
    fake.hash = '#/join?' + new URLSearchParams({ token: 'A'.repeat(43), by: 'Your Bank Security Team', label: 'URGENT: verify your account' });
    await cust.goto(fake.href);
    await ready(cust);
    await cust.getByRole('heading', { level: 1, name: 'This link is not a valid invitation' }).waitFor();
    assert.doesNotMatch(await cust.locator('main').textContent(), /Your Bank|URGENT/);
    assert.equal(await cust.getByLabel('Your name').count(), 0, 'no form for a link the relay does not know');
    // The genuine link: the names are the relay's records, and the link's own text is ignored.
    const tampered = new URL(inviteLink);
    const params = new URLSearchParams(tampered.hash.replace(/^#\/join\?/, ''));
    params.set('by', 'Your Bank Security Team');
    params.set('label', 'URGENT: verify your account');
    tampered.hash = '#/join?' + params;
    await cust.goto(tampered.href);
    await cust.reload();
    await ready(cust);
    await cust.getByRole('heading', { level: 1, name: 'Accept your invitation' }).waitFor();
    const verified = cust.locator('[data-state="invitation-valid"]');
    await verified.waitFor();
    assert.match(await verified.textContent(), /^Ada Admin invited you to join Kestrel Ltd as a customer\.Checked with the server/);
    assert.doesNotMatch(await cust.locator('main').textContent(), /Your Bank|URGENT/);
    assert.deepEqual(await a11yProblems(cust), []);
    await screenshot(cust, '03b-customer-invitation-checked');
    await cust.getByLabel('Your name').fill('Cara Customer');
    await cust.getByRole('button', { name: 'Create my account' }).click();
    await cust.getByRole('heading', { level: 1, name: 'Spaces' }).waitFor();
    // The space is labelled with the relay's name for it, not the tampered link's.
    assert.doesNotMatch(await cust.locator('main').textContent(), /URGENT/);
    // The used link, opened anywhere else, says so before any form.
    const other = await suite.browser.newContext();
    const otherPage = await other.newPage();
    await otherPage.goto(inviteLink);
    await otherPage.getByRole('heading', { level: 1, name: 'This invitation was already used' }).waitFor({ timeout: LONG });
    await other.close();
  });

  await step('staff admits the customer; both see safety numbers', async () => {
    // The invitation the customer used no longer reads "Invitation ready" (issue 18 point 12).
    await staff.locator('.invite-box[data-invitation="used"]', { hasText: 'Invitation used' }).waitFor({ timeout: LONG });
    assert.equal(await staff.locator('#invite-link').count(), 0, 'the used link is withdrawn');
    const row = staff.locator('tr[data-role="customer"]');
    await row.getByRole('button', { name: 'Admit to room' }).click();
    // Issue 18 point 1: the admit step shows the name the customer's device signed beside the
    // safety number, before anything is shared.
    const card = staff.locator('[data-state="admission"]');
    await card.waitFor();
    assert.equal(await card.locator('.admission-name').textContent(), 'Cara Customer');
    assert.match(await card.locator('code.safety').textContent(), /^\d{5}( \d{5}){11}$/);
    assert.deepEqual(await a11yProblems(staff), []);
    await screenshot(staff, '04a-staff-admit-step-name-and-safety-number');
    await card.getByRole('button', { name: 'Admit Cara Customer' }).click();
    await row.locator('code.safety').waitFor();
    // The customer joins through the welcome and opens the space.
    await cust.locator('.space-link').filter({ hasText: 'Encrypted room joined' }).click();
    await cust.getByRole('tab', { name: 'People' }).or(cust.getByRole('link', { name: 'People' })).click();
    await cust.locator('tr[data-role="owner"] code.safety').waitFor();
    const staffView = await staff.locator('tr[data-role="customer"] code.safety').textContent();
    const custView = await cust.locator('tr[data-role="customer"] code.safety').textContent();
    assert.equal(staffView, custView, 'both sides compute the same safety number for the customer');
    assert.match(staffView, /^\d{5}( \d{5}){11}$/);
    // Names everywhere, from the profiles each device signed into the room (never "User f0de35").
    await staff.locator('tr[data-role="customer"] .person', { hasText: 'Cara Customer' }).waitFor({ timeout: LONG });
    await cust.locator('tr[data-role="owner"] .person', { hasText: 'Ada Admin' }).waitFor({ timeout: LONG });
    assert.match(await staff.locator('#who').textContent(), /Signed in as Ada Admin/);
    assert.deepEqual(await a11yProblems(staff), []);
    await screenshot(cust, '04-customer-people');
  });

  await step('staff uploads a 50 MiB document with progress', async () => {
    await staff.goto(spaceUrl + '/documents');
    await staff.getByRole('heading', { level: 2, name: 'Upload a document' }).waitFor();
    await staff.locator('#upload-file').setInputFiles(bigPath);
    await staff.getByRole('button', { name: 'Encrypt and upload' }).click();
    await staff.locator('.progress progress').first().waitFor();
    const done = staff.locator('.progress[data-state="done"]');
    await done.waitFor({ timeout: 600_000 });
    // 50 MiB goes up in 4 MiB appends: the SDK reported progress several times on the way.
    assert.ok(Number(await done.getAttribute('data-sdk-updates')) >= 2, 'progress events during the upload');
    const row = staff.locator('tr', { hasText: 'statement-2026.bin' });
    await row.waitFor();
    assert.match(await row.textContent(), /v1 · latest/);
    assert.match(await row.textContent(), /50\.0 MiB|50 MiB/);
    assert.deepEqual(await a11yProblems(staff), []);
    await screenshot(staff, '05-staff-documents');
  });

  await step('customer downloads it with identical bytes', async () => {
    await cust.goto(spaceUrl + '/documents');
    const row = cust.locator('tr', { hasText: 'statement-2026.bin' });
    await row.waitFor();
    assert.match(await row.textContent(), /v1 · latest/);
    const [download] = await Promise.all([
      cust.waitForEvent('download', { timeout: 600_000 }),
      row.getByRole('button', { name: /^Download/ }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'statement-2026.bin');
    const path = await download.path();
    assert.equal(await sha256File(path), bigHash);
    await screenshot(cust, '06-customer-documents');
  });

  await step('customer uploads a document, staff sees it', async () => {
    const note = join(dir, 'signed-engagement-letter.txt');
    writeFileSync(note, 'Signed engagement letter, Kestrel Ltd, 2026.\n');
    await cust.locator('#upload-file').setInputFiles(note);
    await cust.getByRole('button', { name: 'Encrypt and upload' }).click();
    await cust.locator('tr', { hasText: 'signed-engagement-letter.txt' }).waitFor();
    await staff.locator('tr', { hasText: 'signed-engagement-letter.txt' }).waitFor();
  });

  await step('an upload cut off by a reload resumes from the same file, with no duplicate', async () => {
    const reportPath = join(dir, 'annual-report-2026.bin');
    writeFileSync(reportPath, randomBytes(40 * 1024 * 1024));
    const reportHash = await sha256File(reportPath);
    await staff.goto(spaceUrl + '/documents');
    await staff.locator('#upload-file').setInputFiles(reportPath);
    await staff.getByRole('button', { name: 'Encrypt and upload' }).click();
    const bar = staff.locator('.progress').last();
    // Past the first 4 MiB append and its checkpoint (25 %): progress counts bytes handed to the
    // SDK, which seals the next 4 MiB chunk while an append travels and waits for (and
    // checkpoints) that append only once the next chunk is sealed, so 10 MiB handed means the
    // first append is acknowledged and its checkpoint stored.
    await staff.waitForFunction(() => Number(document.querySelector('.progress:last-of-type progress')?.value ?? 0) >= 25);
    // Leaving now asks first (the browser's own question, from a beforeunload handler).
    assert.equal(await staff.evaluate(() => {
      const ev = new Event('beforeunload', { cancelable: true });
      window.dispatchEvent(ev);
      return ev.defaultPrevented;
    }), true, 'leaving during an upload asks first');
    assert.notEqual(await bar.getAttribute('data-state'), 'done');
    await staff.reload();
    await ready(staff);
    const pending = staff.locator('[data-state="pending-uploads"] li', { hasText: 'annual-report-2026.bin' });
    await pending.waitFor();
    assert.match(await pending.textContent(), /MiB of 40(\.0)? MiB sent/);
    assert.equal(await staff.locator('tr', { hasText: 'annual-report-2026.bin' }).count(), 0, 'not published half-way');
    // Another file of another size is refused before anything is sent.
    const other = join(dir, 'other.bin');
    writeFileSync(other, randomBytes(1024));
    let [chooser] = await Promise.all([staff.waitForEvent('filechooser'), pending.getByRole('button', { name: /^Resume/ }).click()]);
    await chooser.setFiles(other);
    await pending.getByText(/That is not the same file/).waitFor();
    [chooser] = await Promise.all([staff.waitForEvent('filechooser'), pending.getByRole('button', { name: /^Resume/ }).click()]);
    await chooser.setFiles(reportPath);
    const row = staff.locator('tr', { hasText: 'annual-report-2026.bin' });
    await row.waitFor({ timeout: 600_000 });
    assert.match(await row.textContent(), /v1 · latest/);
    await staff.locator('[data-state="pending-uploads"]').waitFor({ state: 'detached' });
    assert.equal(await staff.locator('tr', { hasText: 'annual-report-2026.bin' }).count(), 1, 'one document, not two');
    // The customer gets the same bytes.
    const custRow = cust.locator('tr', { hasText: 'annual-report-2026.bin' });
    await cust.goto(spaceUrl + '/documents');
    await custRow.waitFor();
    assert.equal(await cust.locator('tr', { hasText: 'annual-report-2026.bin' }).count(), 1);
    const [download] = await Promise.all([
      cust.waitForEvent('download', { timeout: 600_000 }),
      custRow.getByRole('button', { name: /^Download/ }).click(),
    ]);
    assert.equal(await sha256File(await download.path()), reportHash);
    await screenshot(staff, '06e-staff-resumed-upload');
  });

  await step('a new version takes the latest badge', async () => {
    const row = staff.locator('tr', { hasText: 'statement-2026.bin' });
    const documentId = await row.getAttribute('data-document');
    const v2 = join(dir, 'statement-2026-corrected.txt');
    writeFileSync(v2, 'Corrected statement 2026, replaces the first version.\n');
    await staff.locator(`#ver-${documentId}`).setInputFiles(v2);
    const updated = staff.locator(`tr[data-document="${documentId}"]`);
    await updated.filter({ hasText: 'v2 · latest' }).waitFor();
    assert.match(await updated.textContent(), /statement-2026-corrected\.txt/);
    assert.match(await updated.textContent(), /1 earlier/);
    const custRow = cust.locator(`tr[data-document="${documentId}"]`);
    await custRow.filter({ hasText: 'v2 · latest' }).waitFor();
    await custRow.locator('summary').click();
    await custRow.getByRole('button', { name: /Download v1/ }).waitFor();
    // Each earlier version says who uploaded it.
    assert.match(await custRow.locator('li[data-version="1"]').textContent(), /^v1 · .* · by Ada Admin/);
    await screenshot(cust, '06b-customer-document-versions');
  });

  await step('"New version" works from the keyboard; replacing a colleague\'s document asks first', async () => {
    const row = staff.locator('tr', { hasText: 'statement-2026-corrected.txt' });
    // Keyboard: Tab reaches the button (the hidden file input is not a tab stop), Enter opens the chooser.
    const button = row.getByRole('button', { name: 'New version of statement-2026-corrected.txt', exact: true });
    const [chooser] = await Promise.all([staff.waitForEvent('filechooser'), button.press('Enter')]);
    await chooser.setFiles([]);
    await button.focus();
    await staff.keyboard.press('Tab');
    assert.equal(await staff.evaluate(() => document.activeElement?.id.startsWith('ver-')), false, 'the hidden file input is not a tab stop');
    // The customer is asked before replacing the staff's document; saying no changes nothing.
    const custRow = cust.locator('tr', { hasText: 'statement-2026-corrected.txt' });
    let asked = '';
    cust.once('dialog', (d) => { asked = d.message(); void d.dismiss(); });
    let chose = false;
    cust.once('filechooser', () => { chose = true; });
    await custRow.getByRole('button', { name: /^New version of/ }).click();
    assert.match(asked, /was uploaded by Ada Admin\. Your file becomes version 3/);
    await cust.waitForTimeout(300);
    assert.equal(chose, false, 'declining opens no file chooser');
    assert.match(await custRow.textContent(), /v2 · latest/);
  });

  await step('names that deceive are shown and saved cleaned; empty files are refused', async () => {
    const rlo = 'تقرير الأسنان \u202Efdp.exe';
    await staff.locator('#upload-file').setInputFiles({ name: rlo, mimeType: 'application/octet-stream', buffer: Buffer.from('MZ not really a program') });
    await staff.getByRole('button', { name: 'Encrypt and upload' }).click();
    await staff.locator('[data-file-name="تقرير الأسنان fdp.exe"]').waitFor();
    await staff.locator('#upload-file').setInputFiles({ name: '../../etc/passwd', mimeType: 'text/plain', buffer: Buffer.from('root:x:0:0\n') });
    await staff.getByRole('button', { name: 'Encrypt and upload' }).click();
    await staff.locator('[data-file-name="_.._etc_passwd"]').waitFor();
    await staff.locator('#upload-file').setInputFiles({ name: 'empty.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(0) });
    await staff.getByRole('button', { name: 'Encrypt and upload' }).click();
    const empty = staff.locator('.form-error[data-code="empty_file"]');
    await empty.waitFor();
    assert.match(await empty.textContent(), /empty\.pdf is empty \(0 bytes\), so it was not uploaded/);

    // The customer sees the names without direction tricks, with the real extension beside them.
    const exe = cust.locator('[data-file-name="تقرير الأسنان fdp.exe"]');
    await exe.waitFor();
    assert.equal(await exe.locator('.badge-ext').textContent(), '.exe');
    assert.match(await exe.textContent(), /name cleaned/);
    assert.equal((await exe.locator('bdi').textContent()).includes('\u202E'), false);
    const passwd = cust.locator('tr', { has: cust.locator('[data-file-name="_.._etc_passwd"]') });
    await passwd.waitFor();
    const [download] = await Promise.all([
      cust.waitForEvent('download'),
      passwd.getByRole('button', { name: /^Download/ }).click(),
    ]);
    assert.equal(download.suggestedFilename(), '_.._etc_passwd');
    assert.equal(await cust.locator('[data-file-name^="empty"]').count(), 0, 'no empty document was published');
    assert.deepEqual(await a11yProblems(cust), []);
    await screenshot(cust, '06c-customer-cleaned-names');
  });

  await step('the documents page works at 390 px: no sideways scrolling, buttons on screen', async () => {
    await cust.setViewportSize({ width: 390, height: 844 });
    await cust.locator('tr', { hasText: 'statement-2026-corrected.txt' }).waitFor();
    const overflow = await cust.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    const wide = await cust.evaluate(() => [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
      .slice(0, 5).map((el) => `${el.tagName}.${el.className}`));
    assert.ok(overflow <= 0, `horizontal overflow of ${overflow}px at 390px width: ${wide.join(', ')}`);
    const box = await cust.locator('tr', { hasText: 'statement-2026-corrected.txt' }).getByRole('button', { name: /^Download statement/ }).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `Download button at ${JSON.stringify(box)}`);
    await screenshot(cust, '06d-customer-documents-390px');
    await cust.setViewportSize({ width: 1280, height: 860 });
  });

  await step('messages both ways', async () => {
    await staff.goto(spaceUrl + '/messages');
    await staff.getByRole('heading', { level: 2, name: 'Messages' }).waitFor();
    await staff.getByLabel('Message', { exact: true }).fill('Your 2026 statement is ready for review.');
    await staff.getByRole('button', { name: 'Send' }).click();
    await staff.locator('.message', { hasText: 'Your 2026 statement is ready' }).waitFor();
    await cust.goto(spaceUrl + '/messages');
    await cust.locator('.message', { hasText: 'Your 2026 statement is ready' }).waitFor();
    await cust.getByLabel('Message', { exact: true }).fill('Thanks! Which quarter does KX-4471 cover?');
    await cust.keyboard.press('Control+Enter');
    await cust.locator('.message.mine', { hasText: 'KX-4471' }).waitFor();
    await staff.locator('.message', { hasText: 'KX-4471' }).waitFor();
    // The sender's signed name and the time it was sent (issue 18 points 1 and 12).
    const received = staff.locator('.message', { hasText: 'KX-4471' });
    await received.locator('.person', { hasText: 'Cara Customer' }).waitFor();
    assert.match(await received.locator('time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/);
    // The conversation is named by its first message, on both sides.
    await cust.locator('.thread .thread-title', { hasText: 'Your 2026 statement is ready for review.' }).waitFor();
    await staff.locator('.thread .thread-title', { hasText: 'Your 2026 statement is ready for review.' }).waitFor();
    assert.equal(await staff.getByText(/^Conversation \d+$/).count(), 0);
    await screenshot(cust, '07-customer-messages');
    await screenshot(staff, '08-staff-messages');
  });

  await step('a message of the other profile appears live: no reload, no click', async () => {
    await cust.locator('.message', { hasText: 'KX-4471' }).waitFor();
    // A mark that a reload would wipe, and the live loop's event count before the post.
    const before = await cust.evaluate(() => {
      window.__sameDocument = true;
      return Number(document.body.dataset.liveEvents ?? '0');
    });
    await staff.getByLabel('Message', { exact: true }).fill('Q3 and Q4: both are in the statement, live.');
    await staff.getByRole('button', { name: 'Send' }).click();
    // The fallback sync runs every 30 s; the live loop brings it well before (no timed assertion:
    // the event count below says which path delivered it).
    await cust.locator('.message', { hasText: 'both are in the statement, live' }).waitFor({ timeout: LONG });
    assert.equal(await cust.evaluate(() => window.__sameDocument === true), true, 'the page was not reloaded');
    const after = await cust.evaluate(() => Number(document.body.dataset.liveEvents ?? '0'));
    assert.ok(after > before, `the live loop delivered events (${before} -> ${after})`);
  });

  await step('internal notes are for staff only', async () => {
    await staff.goto(spaceUrl + '/notes');
    await staff.getByLabel('Internal note', { exact: true }).fill('Kestrel may churn: offer the loyalty discount.');
    await staff.getByRole('button', { name: 'Add note' }).click();
    await staff.locator('.message', { hasText: 'loyalty discount' }).waitFor();
    await screenshot(staff, '09-staff-internal-notes');
    await cust.goto(spaceUrl + '/documents');
    await cust.getByRole('heading', { level: 2, name: 'Documents' }).waitFor();
    assert.equal(await cust.getByRole('link', { name: 'Internal notes' }).count(), 0);
  });

  await step('notification settings and fingerprint', async () => {
    await cust.goto(suite.relay.url + '/#/settings');
    await cust.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
    assert.match(await cust.locator('#fingerprint').textContent(), /^[0-9a-f]{4}( [0-9a-f]{4}){15}$/);
    await cust.getByLabel('Daily digest').check();
    await cust.getByLabel('Email address').fill('cara@kestrel.example');
    await cust.getByRole('button', { name: 'Save', exact: true }).click();
    await cust.getByText('Saved: Daily digest.').waitFor();
    // This relay runs without a mail server: the page says so instead of saving silently.
    assert.match(await cust.locator('#no-mail').textContent(), /^This relay sends no email \(no mail server configured\)/);
    // The profile others see: signed by this device, sent only inside the rooms.
    assert.equal(await cust.getByLabel('Your name').inputValue(), 'Cara Customer');
    await cust.getByLabel('Title (optional)').fill('Finance lead');
    await cust.getByRole('button', { name: 'Update profile' }).click();
    await cust.getByText('Profile updated: Cara Customer.').waitFor();
    assert.deepEqual(await a11yProblems(cust), []);
    await screenshot(cust, '10-customer-settings');
    await cust.reload();
    await ready(cust);
    assert.equal(await cust.getByLabel('Daily digest').isChecked(), true);
  });

  await step('admin audit view verifies the chain', async () => {
    await staff.goto(suite.relay.url + '/#/audit');
    await staff.getByRole('heading', { level: 1, name: 'Audit trail' }).waitFor();
    await staff.locator('tbody tr').first().waitFor();
    // The client's own verdict (checkAudit), shown as the view opens.
    const verdict = staff.locator('#audit-check [data-verdict="intact"]');
    await verdict.waitFor();
    assert.match(await verdict.textContent(), /Checked on this device: \d+ entries verified.*signed head #\d+/);
    await staff.getByRole('button', { name: 'Verify chain' }).click();
    await staff.getByText(/Chain intact/).waitFor();
    // Plain words and names instead of codes and ids; one download is one row, however many
    // range requests it took.
    await staff.getByLabel('Show').selectOption({ label: 'Files' });
    await staff.getByLabel('Search').fill('statement-2026.bin');
    const downloads = staff.locator('tbody tr[data-action="blob.download"]');
    await downloads.first().waitFor();
    assert.equal(await downloads.count(), 1, 'the customer downloaded the 50 MiB file once');
    assert.match(await downloads.textContent(), /Downloaded a file( \(\d+ requests\))?statement-2026\.bin50(\.0)? MiB/);
    assert.equal(await staff.locator('tbody tr[data-action="message.post"]').count(), 0, 'the Files category shows files only');
    await staff.getByLabel('Search').fill('');
    await staff.getByLabel('Show').selectOption({ label: 'Messages and notes' });
    await staff.locator('tbody tr[data-action="message.post"]').first().waitFor();
    assert.match(await staff.locator('tbody tr[data-action="message.post"]').first().textContent(), /Sent a message or note/);
    // The CSV holds what is on screen, with the resolved names.
    await staff.getByLabel('Show').selectOption({ label: 'Files' });
    const [csv] = await Promise.all([staff.waitForEvent('download'), staff.getByRole('button', { name: 'Export CSV' }).click()]);
    const text = readFileSync(await csv.path(), 'utf8');
    assert.match(text, /^entries,time,who,device,what,object,size,ip,code\r\n/);
    assert.match(text, /Downloaded a file.*,statement-2026\.bin,50(\.0)? MiB,.*,blob\.download\r\n/);
    assert.doesNotMatch(text, /message\.post/);
    assert.deepEqual(await a11yProblems(staff), []);
    await screenshot(staff, '11-admin-audit');
  });

  await step('an existing customer adds a second space by invitation: no second registration', async () => {
    await staff.goto(suite.relay.url + '/#/spaces');
    await staff.getByRole('heading', { level: 1, name: 'Spaces' }).waitFor();
    await staff.getByLabel('For', { exact: true }).selectOption({ label: 'Kestrel Ltd' });
    await staff.getByRole('button', { name: 'Create space' }).click();
    await staff.getByRole('button', { name: 'Invite a customer' }).waitFor();
    const secondUrl = staff.url().replace(/\/people$/, '');
    assert.notEqual(secondUrl, spaceUrl);
    await staff.getByRole('button', { name: 'Invite a customer' }).click();
    const link = await staff.locator('#invite-link').inputValue();
    await cust.goto(link);
    await cust.reload();
    await ready(cust);
    await cust.getByRole('heading', { level: 1, name: 'Add a space to your account' }).waitFor();
    assert.match(await cust.locator('[data-state="invitation-existing"]').textContent(), /Ada Admin invited you to a further space with Kestrel Ltd/);
    assert.deepEqual(await a11yProblems(cust), []);
    await screenshot(cust, '11b-customer-adds-second-space');
    await cust.getByRole('button', { name: 'Add this space to my account' }).click();
    await cust.getByRole('heading', { level: 1, name: 'Spaces' }).waitFor();
    await cust.locator('.space-card').nth(1).waitFor();
    assert.equal(await cust.locator('.space-card').count(), 2, 'both spaces, one account');
    // Staff see her waiting in the new space and admit her with the name her device signed.
    const row = staff.locator('tr[data-role="customer"]');
    await row.getByRole('button', { name: 'Admit to room' }).click({ timeout: LONG });
    const card = staff.locator('[data-state="admission"]');
    assert.equal(await card.locator('.admission-name').textContent(), 'Cara Customer');
    await card.getByRole('button', { name: 'Admit Cara Customer' }).click();
    await cust.locator('.space-card', { hasText: 'Encrypted room joined' }).nth(1).waitFor({ timeout: LONG });
  });

  await step('staff removes the customer, who loses access', async () => {
    // The customer has the conversation open while staff remove them.
    await cust.goto(spaceUrl + '/messages');
    await cust.locator('.message', { hasText: 'KX-4471' }).waitFor();
    // Staff come from the second space's People page, which shows the same customer: the
    // portal must not let a click reach that page once the first space's is on its way (it
    // did: CI, 2026-12-07, the customer was removed from the second space instead).
    await staff.goto(spaceUrl + '/people');
    const row = staff.locator('tr[data-role="customer"]');
    await row.getByRole('button', { name: 'Remove' }).click();
    assert.equal(await staff.locator('#main').getAttribute('aria-busy'), null, 'the new page is drawn');
    assert.ok(staff.url().startsWith(spaceUrl), 'still on the first space');
    // The portal confirms a removal with a toast; a failure shows an error toast for 9 s. Once
    // (CI, 2026-12-07) the row stayed for 180 s with no trace: name what the page said.
    await staff.locator('#status .toast-ok', { hasText: 'removed.' }).waitFor({ timeout: LONG }).catch(async (e) => {
      const errors = await staff.locator('#alerts .toast').allTextContents();
      throw new Error(`no removal confirmation; error toasts: ${JSON.stringify(errors)}; ${e.message}`);
    });
    await row.waitFor({ state: 'detached' });
    // Without a reload, the open conversation gives way to the no-access page: no message box.
    await cust.getByRole('heading', { level: 1, name: 'You no longer have access to this space' }).waitFor({ timeout: 60_000 });
    assert.equal(await cust.locator('textarea').count(), 0, 'no message box after removal');
    const text = await cust.locator('[data-state="no-access"]').textContent();
    assert.match(text, /You were removed from Kestrel Ltd/);
    assert.doesNotMatch(text, /adds you|stay on this device/);
    // After a reload the relay refuses the removed customer the space and its room.
    await cust.reload();
    await ready(cust);
    await cust.getByRole('heading', { level: 1, name: 'You no longer have access to this space' }).waitFor({ timeout: 60_000 });
    assert.match(await cust.locator('[data-state="no-access"]').textContent(), /Code for support: (relay_(not_found|forbidden)|removed_from_space)/);
    await screenshot(cust, '12-customer-removed');
    // A space that was never shared with this browser says so, not "no longer".
    const spaceId = /#\/spaces\/([^/]+)/.exec(spaceUrl)[1];
    const other = spaceId.replace(/[0-9a-f]/g, (c) => ((parseInt(c, 16) + 7) % 16).toString(16));
    await cust.goto(suite.relay.url + `/#/spaces/${other}/documents`);
    await cust.getByRole('heading', { level: 1, name: 'This space is not shared with you' }).waitFor();
    assert.deepEqual(await a11yProblems(cust), []);
  });

  await step('the header names who is signed in; sign-out says what it wipes, then wipes it', async () => {
    assert.match(await cust.locator('#who').textContent(), /Signed in as Cara Customer/);
    await cust.getByRole('link', { name: 'Sign out' }).click();
    const page = cust.locator('[data-state="sign-out"]');
    await page.waitFor();
    assert.match(await page.textContent(), /What signing out deletes.*device keys.*What it keeps.*Your account/s);
    assert.deepEqual(await a11yProblems(cust), []);
    await screenshot(cust, '12b-customer-sign-out');
    await cust.getByRole('button', { name: 'Sign out of this browser' }).click();
    // After the reload this browser has no device: the welcome page, no name in the header.
    await cust.waitForURL(/#\/$/, { timeout: LONG });
    await ready(cust);
    await cust.getByRole('heading', { level: 2, name: 'I have an invitation' }).waitFor({ timeout: LONG });
    assert.doesNotMatch(await cust.locator('#who').textContent(), /Signed in/);
    assert.equal(await cust.evaluate(() => localStorage.getItem('sealroom.portal.labels')), null, 'local labels are gone');
  });

  assert.deepEqual(pageErrors, []);
});

test('the audit view raises the alarm when the relay rolls its audit history back', async (t) => {
  // Its own relay, with the hostile proxy (tests/src/bin/hostile-proxy) in front: the browser
  // only ever talks to the proxy, which serves the portal and the API of the relay behind it.
  const own = await startRelay();
  const hostile = await startHostile(own.url);
  const context = await suite.browser.newContext({ viewport: { width: 1280, height: 860 } });
  t.after(async () => {
    await context.close();
    await hostile.stop();
    await own.stop();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(LONG);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  await page.goto(hostile.url + '/#/setup');
  await ready(page);
  await page.getByLabel('Setup token').fill(own.setupToken());
  await page.getByLabel('Organisation name').fill('Northwind Advisory');
  await page.getByLabel('Your name').fill('Ada Admin');
  await page.getByRole('button', { name: 'Create organisation' }).click();
  await page.getByRole('heading', { level: 1, name: 'Spaces' }).waitFor();

  const openAudit = async () => {
    await page.goto(hostile.url + '/#/audit');
    await page.reload();
    await ready(page);
    await page.getByRole('heading', { level: 1, name: 'Audit trail' }).waitFor();
  };
  const headOf = async () => {
    const text = await page.locator('#audit-check [data-verdict="intact"]').textContent();
    return Number(/signed head #(\d+)/.exec(text)[1]);
  };
  await openAudit();
  const first = await headOf();

  // The relay records more; the device checks again and remembers the newer head.
  await page.goto(hostile.url + '/#/spaces');
  await page.getByLabel('Customer company').fill('Kestrel Ltd');
  await page.getByRole('button', { name: 'Create space' }).click();
  await page.getByRole('heading', { level: 1, name: 'Kestrel Ltd' }).waitFor();
  await openAudit();
  assert.ok((await headOf()) > first);

  // The relay now serves the first (genuinely signed) head again: a rollback.
  await hostile.rule({ method: 'GET', path: '/v1/audit/head', action: 'replay', index: 0 });
  await openAudit();
  const alarm = page.locator('#audit-check [data-verdict="alarm"]');
  await alarm.waitFor();
  assert.equal(await alarm.getAttribute('data-code'), 'audit_rolled_back');
  assert.equal(await alarm.getAttribute('role'), 'alert');
  assert.match(await alarm.textContent(), /Audit history rewritten\..*older audit history/);
  assert.deepEqual(await a11yProblems(page), []);
  await screenshot(page, '13-admin-audit-alarm');
  // The relay's own verdict, through the same relay, still says all is well.
  await page.getByRole('button', { name: 'Verify chain' }).click();
  await page.getByText(/Chain intact/).waitFor();
  assert.deepEqual(errors, []);
});
