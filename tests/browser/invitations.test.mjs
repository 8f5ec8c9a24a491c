/**
 * Browser steps for issue 18 point 12 in real Chromium against the real relay: staff choose how
 * long an invitation link works, see the space's open invitations and revoke one, whose link then
 * says in plain language that it was withdrawn (before any form); documents are listed most
 * recently updated first with the date on every version; the email settings say that this relay
 * (started without a mail server) sends no email. Screenshots go to target/screenshots/inv-*.png.
 *
 * Run: demo-web/build.sh && (cd tests/browser && npm ci && node --test invitations.test.mjs)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LONG, a11yProblems, ready, screenshot, sharedSuite } from './harness.mjs';

const suite = sharedSuite();

test('invitation lifetime and revocation, dated documents, no-mail notice', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sealroom-inv-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const staffCtx = await suite.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const otherCtx = await suite.browser.newContext({ viewport: { width: 1280, height: 900 } });
  t.after(() => Promise.all([staffCtx.close(), otherCtx.close()]));
  const staff = await staffCtx.newPage();
  const other = await otherCtx.newPage();
  const pageErrors = [];
  staff.on('pageerror', (e) => pageErrors.push(`staff: ${e}`));
  other.on('pageerror', (e) => pageErrors.push(`other: ${e}`));
  staff.on('dialog', (d) => d.accept());
  for (const p of [staff, other]) p.setDefaultTimeout(LONG);

  let stepNo = 0;
  const step = (name, fn) => t.test(name, async () => {
    stepNo += 1;
    try {
      await fn();
    } catch (e) {
      await screenshot(staff, `inv-failed-${stepNo}-staff`).catch(() => undefined);
      await screenshot(other, `inv-failed-${stepNo}-other`).catch(() => undefined);
      throw e;
    }
  });

  let spaceUrl;
  let hourLink;
  let weekLink;

  await step('set-up: the admin and a space', async () => {
    await staff.goto(suite.relay.url + '/#/setup');
    await ready(staff);
    await staff.getByLabel('Setup token').fill(suite.relay.setupToken());
    await staff.getByLabel('Organisation name').fill('Northwind Advisory');
    await staff.getByLabel('Your name').fill('Ada Admin');
    await staff.getByRole('button', { name: 'Create organisation' }).click();
    await staff.getByRole('heading', { level: 1, name: 'Spaces' }).waitFor();
    await staff.getByLabel('Customer company').fill('Kestrel Ltd');
    await staff.getByRole('button', { name: 'Create space' }).click();
    await staff.getByRole('heading', { level: 1, name: 'Kestrel Ltd' }).waitFor();
    spaceUrl = staff.url().replace(/\/people$/, '');
  });

  await step('staff invite with a chosen lifetime and see the open invitations', async () => {
    await staff.goto(spaceUrl + '/people');
    await staff.getByRole('heading', { level: 3, name: 'Open invitations' }).waitFor();
    await staff.getByText('No open invitations.').waitFor();
    const lifetime = staff.getByLabel('The link works for');
    assert.equal(await lifetime.inputValue(), String(7 * 86400), 'seven days unless chosen');
    await lifetime.selectOption({ label: '1 hour' });
    const before = Date.now();
    await staff.getByRole('button', { name: 'Invite a customer' }).click();
    hourLink = await staff.locator('#invite-link').inputValue();
    // The box says until when the link works: about an hour from now, as the relay set it.
    const until = (await staff.locator('.invite-box .hint').textContent()).match(/valid until (.+)$/)?.[1];
    assert.ok(until, 'the box names the expiry');
    const items = staff.locator('#open-invitations li');
    await items.first().waitFor();
    assert.equal(await items.count(), 1);
    const expires = Date.parse(await items.first().locator('time').nth(1).getAttribute('datetime'));
    assert.ok(expires >= before + 3_540_000 && expires <= Date.now() + 3_600_000, `expiry ${new Date(expires).toISOString()}`);
    assert.match(await items.first().textContent(), /by You · works until/);

    await lifetime.selectOption({ label: '7 days' });
    await staff.getByRole('button', { name: 'Invite a customer' }).click();
    await staff.locator('#open-invitations li').nth(1).waitFor();
    weekLink = await staff.locator('#invite-link').inputValue();
    assert.notEqual(weekLink, hourLink);
    assert.equal(await staff.locator('#open-invitations li').count(), 2);
    assert.deepEqual(await a11yProblems(staff), []);
    await screenshot(staff, 'inv-01-open-invitations');
  });

  await step('staff revoke the one-hour link; it says so before anything else', async () => {
    const hourToken = new URLSearchParams(new URL(hourLink).hash.replace(/^#\/join\?/, '')).get('token');
    const weekToken = new URLSearchParams(new URL(weekLink).hash.replace(/^#\/join\?/, '')).get('token');
    assert.ok(hourToken && weekToken);
    // The one that expires first is the one-hour invitation.
    const items = staff.locator('#open-invitations li');
    const expiries = await items.evaluateAll((els) => els.map((el) => Number(el.dataset.expiresAt)));
    const hourItem = items.nth(expiries.indexOf(Math.min(...expiries)));
    const hourId = await hourItem.getAttribute('data-invitation-id');
    await hourItem.getByRole('button', { name: /^Revoke the invitation/ }).click();
    await staff.locator(`#open-invitations li[data-invitation-id="${hourId}"]`).waitFor({ state: 'detached' });
    assert.equal(await staff.locator('#open-invitations li').count(), 1);
    await screenshot(staff, 'inv-02-revoked');

    // The revoked link, opened in another browser profile: a plain sentence, no form, no names.
    await other.goto(hourLink);
    await ready(other);
    await other.getByRole('heading', { level: 1, name: 'This invitation was withdrawn' }).waitFor();
    const text = await other.locator('main').textContent();
    assert.match(text, /cancelled this link, so it no longer works/);
    assert.doesNotMatch(text, /Ada Admin|Northwind/);
    assert.equal(await other.getByLabel('Your name').count(), 0, 'no registration form for a revoked link');
    assert.deepEqual(await a11yProblems(other), []);
    await screenshot(other, 'inv-03-revoked-link');
    // The other link still works.
    await other.goto(weekLink);
    await other.reload();
    await ready(other);
    await other.getByRole('heading', { level: 1, name: 'Accept your invitation' }).waitFor();
  });

  await step('documents: most recently updated first, a date on every version', async () => {
    const a = join(dir, 'engagement-letter.txt');
    const b = join(dir, 'tax-summary.txt');
    writeFileSync(a, 'engagement letter, first version');
    writeFileSync(b, 'tax summary');
    await staff.goto(spaceUrl + '/documents');
    await staff.getByRole('heading', { level: 2, name: 'Upload a document' }).waitFor();
    for (const [path, name] of [[a, 'engagement-letter.txt'], [b, 'tax-summary.txt']]) {
      await staff.locator('#upload-file').setInputFiles(path);
      await staff.getByRole('button', { name: 'Encrypt and upload' }).click();
      await staff.locator('tr', { hasText: name }).waitFor();
    }
    // A new version of the first document makes it the most recently updated.
    writeFileSync(a, 'engagement letter, signed');
    const row = staff.locator('tr', { hasText: 'engagement-letter.txt' });
    const [chooser] = await Promise.all([
      staff.waitForEvent('filechooser'),
      row.getByRole('button', { name: 'New version of engagement-letter.txt', exact: true }).click(),
    ]);
    await chooser.setFiles(a);
    await row.getByText('v2 · latest').waitFor();
    const rows = staff.locator('#documents tbody tr');
    assert.equal(await rows.count(), 2);
    // Every row is dated (under its version), newest first; every earlier version too.
    const dates = [];
    for (let i = 0; i < 2; i++) {
      const time = rows.nth(i).locator('[data-updated] time');
      dates.push(Date.parse(await time.getAttribute('datetime')));
    }
    assert.ok(dates.every((d) => Number.isFinite(d) && Math.abs(d - Date.now()) < 3_600_000), JSON.stringify(dates));
    assert.ok(dates[0] >= dates[1], `newest first: ${dates}`);
    // The document with the new version leads (a later second, or the same second and v2).
    assert.equal(await rows.first().getAttribute('data-document'), await row.getAttribute('data-document'));
    await row.locator('details.versions summary').click();
    const earlier = row.locator('li[data-version="1"]');
    assert.match(await earlier.textContent(), /^v1 · .* · by You · /);
    assert.equal(await earlier.locator('time').count(), 1, 'the earlier version carries its date');
    assert.equal(await staff.locator('caption').first().textContent(), 'Documents in this space, the most recently updated first');
    assert.deepEqual(await a11yProblems(staff), []);
    await screenshot(staff, 'inv-04-documents-dated');
  });

  await step('email settings say that this relay sends no email', async () => {
    await staff.goto(suite.relay.url + '/#/settings');
    await staff.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
    const notice = staff.locator('#no-mail');
    await notice.waitFor();
    assert.match(await notice.textContent(), /^This relay sends no email \(no mail server configured\)\./);
    await staff.getByLabel('Daily digest').check();
    await staff.getByRole('button', { name: 'Save', exact: true }).click();
    await staff.getByText('Saved: Daily digest. This relay sends no email (no mail server configured), so none will arrive for now.').waitFor();
    assert.deepEqual(await a11yProblems(staff), []);
    await screenshot(staff, 'inv-05-settings-no-mail');
  });

  assert.deepEqual(pageErrors, []);
});
