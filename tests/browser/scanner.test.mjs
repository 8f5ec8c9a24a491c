/**
 * Issue 23 in the demo portal, in real Debian Chromium against the real relay, the real
 * `sealroom-scanner` binary and real ClamAV (clamd from scripts/services/clamav.sh with the
 * project's own EICAR signature). Three browser contexts: Ada (admin, the space's owner), Sue (a
 * second member of staff) and Cara (customer). Ada adds Sue and the scanner's service user to the
 * space and sets its policy (confidential files are scanned, restricted ones need a second staff
 * member's approval, the scanner named). Then: Cara's EICAR upload ends blocked on Ada's page with
 * the signature name and no download, until Ada opens it anyway (confirmed, audited); Cara's clean
 * upload ends clean and downloads; the label of Ada's restricted upload shows on Cara's page, which
 * refuses the download in plain words until Sue approves the release; the scanner shows in People
 * with its badge and safety number. Screenshots go to target/screenshots/scan-*.png.
 *
 * Needs: target/debug/sealroom-server and sealroom-scanner (`cargo build --workspace --bins`),
 * demo-web/dist (demo-web/build.sh), clamd (SEALROOM_TEST_CLAMD, else the script is run here;
 * without clamd the test fails, it never skips).
 *
 * Run: cd tests/browser && node --test --test-concurrency=1 scanner.test.mjs
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LONG, a11yProblems, clamdAddress, ready, registerScanner, screenshot, sharedSuite, startScanner,
} from './harness.mjs';

/** The EICAR test file, in two halves so that this source is not itself flagged. */
const EICAR = Buffer.concat([
  Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-'),
  Buffer.from('ANTIVIRUS-TEST-FILE!$H+H*'),
]);
/** The name clamd gives the project's EICAR signature (scripts/services/clamav/sealroom-test.ndb). */
const EICAR_NAME = 'Sealroom.Test.EICAR.UNOFFICIAL';

const suite = sharedSuite();

test('malware scanning, labels and a four-eyes release in the portal', async (t) => {
  const clamd = clamdAddress();
  const scannerState = mkdtempSync(join(tmpdir(), 'sealroom-scanner-'));
  t.after(() => rmSync(scannerState, { recursive: true, force: true }));
  const opts = { viewport: { width: 1280, height: 900 }, acceptDownloads: true };
  const [adaCtx, sueCtx, caraCtx] = await Promise.all([suite.browser.newContext(opts), suite.browser.newContext(opts), suite.browser.newContext(opts)]);
  t.after(() => Promise.all([adaCtx.close(), sueCtx.close(), caraCtx.close()]));
  const ada = await adaCtx.newPage();
  const sue = await sueCtx.newPage();
  const cara = await caraCtx.newPage();
  const pages = { ada, sue, cara };
  const pageErrors = [];
  const dialogs = [];
  for (const [name, p] of Object.entries(pages)) {
    p.setDefaultTimeout(LONG);
    p.on('pageerror', (e) => pageErrors.push(`${name}: ${e}`));
    p.on('dialog', (d) => { dialogs.push(`${name}: ${d.message()}`); void d.accept(); });
  }
  let scanner;
  t.after(() => scanner?.stop());

  let stepNo = 0;
  const step = (name, fn) => t.test(name, async () => {
    stepNo += 1;
    try {
      await fn();
    } catch (e) {
      for (const [who, p] of Object.entries(pages)) await screenshot(p, `scan-failed-${stepNo}-${who}`).catch(() => undefined);
      if (scanner) e.message += `\nscanner said: ${JSON.stringify(scanner.lines)} ${scanner.stderr.join('')}`;
      throw e;
    }
  });

  let spaceUrl;
  let sueId;
  let scannerId;
  const docsRow = (page, name) => page.locator('#documents tr', { has: page.locator(`[data-file-name="${name}"]`) });

  await step('set-up: the admin, a space, a customer admitted', async () => {
    await ada.goto(suite.relay.url + '/#/setup');
    await ready(ada);
    await ada.getByLabel('Setup token').fill(suite.relay.setupToken());
    await ada.getByLabel('Organisation name').fill('Northwind Advisory');
    await ada.getByLabel('Your name').fill('Ada Admin');
    await ada.getByRole('button', { name: 'Create organisation' }).click();
    await ada.getByRole('heading', { level: 1, name: 'Spaces' }).waitFor();
    await ada.getByLabel('Customer company').fill('Kestrel Ltd');
    await ada.getByRole('button', { name: 'Create space' }).click();
    await ada.getByRole('heading', { level: 1, name: 'Kestrel Ltd' }).waitFor();
    spaceUrl = ada.url().replace(/\/people$/, '');
    await ada.getByRole('button', { name: 'Invite a customer' }).click();
    const link = await ada.locator('#invite-link').inputValue();
    await cara.goto(link);
    await cara.reload();
    await ready(cara);
    await cara.getByRole('heading', { level: 1, name: 'Accept your invitation' }).waitFor();
    await cara.getByLabel('Your name').fill('Cara Customer');
    await cara.getByRole('button', { name: 'Create my account' }).click();
    await cara.getByRole('heading', { level: 1, name: 'Spaces' }).waitFor();
    const row = ada.locator('tr[data-role="customer"]');
    await row.getByRole('button', { name: 'Admit to room' }).click();
    await ada.locator('[data-state="admission"]').getByRole('button', { name: 'Admit Cara Customer' }).click();
    await row.locator('code.safety').waitFor();
    await cara.locator('.space-link').filter({ hasText: 'Encrypted room joined' }).waitFor();
  });

  await step('a second member of staff and the scanner\'s service user join the space', async () => {
    await ada.goto(suite.relay.url + '/#/spaces');
    await ada.getByRole('heading', { level: 2, name: 'Invite a colleague' }).waitFor();
    await ada.getByRole('button', { name: 'Create invitation' }).click();
    const link = await ada.locator('#invite-link').inputValue();
    await sue.goto(link);
    await sue.reload();
    await ready(sue);
    await sue.getByRole('heading', { level: 1, name: 'Accept your invitation' }).waitFor();
    await sue.getByLabel('Your name').fill('Sue Second');
    await sue.getByRole('button', { name: 'Create my account' }).click();
    await sue.getByRole('heading', { level: 1, name: 'Spaces' }).waitFor();
    await sue.goto(suite.relay.url + '/#/settings');
    await sue.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
    sueId = (await sue.locator('dl.facts dd').nth(2).textContent()).trim();
    assert.match(sueId, /^[0-9a-f-]{8,}$/);

    // The scanner: a staff service user whose device the scanner binary registers.
    await ada.locator('.invite-box[data-invitation="used"]').waitFor();
    await ada.getByRole('button', { name: 'Create invitation' }).click();
    await ada.locator('.invite-box[data-invitation="valid"]').waitFor();
    scannerId = registerScanner(suite.relay.url, scannerState, (await ada.locator('#invite-token').textContent()).trim());

    await ada.goto(spaceUrl + '/people');
    for (const id of [sueId, scannerId]) {
      await ada.getByLabel('Colleague’s user id').fill(id);
      await ada.getByRole('button', { name: 'Add to this space' }).click();
      await ada.locator(`tr[data-user="${id}"][data-role="staff"]`).waitFor();
      // The page is drawn again after an addition: a fresh, empty form.
      await ada.waitForFunction(() => document.querySelector('#colleague-id')?.value === '');
    }
    scanner = startScanner(suite.relay.url, scannerState, clamd);
    await scanner.waitFor((l) => l.startsWith(`ready ${scannerId} `));
    await sue.goto(suite.relay.url + '/#/spaces');
    await sue.locator('.space-link').filter({ hasText: 'Encrypted room joined' }).waitFor();
  });

  await step('staff set the policy: scan confidential files, four eyes for restricted, the scanner named', async () => {
    await ada.goto(spaceUrl + '/policy');
    await ada.getByRole('heading', { level: 2, name: 'Labels and malware scanning' }).waitFor();
    await ada.getByLabel('Confidential: malware scan before anyone else opens it').check();
    await ada.getByLabel('Restricted: a second member of staff approves before customers open it').check();
    assert.equal(await ada.getByLabel('Default label').inputValue(), 'confidential');
    await ada.getByLabel('Malware scanner').selectOption(scannerId);
    assert.deepEqual(await a11yProblems(ada), []);
    await screenshot(ada, 'scan-01-staff-policy');
    await ada.getByRole('button', { name: 'Save policy' }).click();
    await ada.locator('#status .toast-ok', { hasText: 'Policy saved' }).waitFor();
    // People: the scanner with its own badge and safety number.
    await ada.goto(spaceUrl + '/people');
    const row = ada.locator(`tr[data-user="${scannerId}"]`);
    await row.locator('[data-badge="scanner"]', { hasText: 'Malware scanner' }).waitFor();
    assert.match(await row.locator('code.safety').textContent(), /^\d{5}( \d{5}){11}$/);
    assert.deepEqual(await a11yProblems(ada), []);
    await screenshot(ada, 'scan-02-staff-people-scanner');
  });

  await step('the customer uploads the EICAR file: blocked on staff\'s page with the signature name', async () => {
    await cara.goto(spaceUrl + '/documents');
    // The upload form says what the chosen label means here, from the policy staff set.
    await cara.locator('#upload-label-hint', { hasText: 'Checked for malware before anyone else opens it.' }).waitFor();
    assert.equal(await cara.getByLabel('Label', { exact: true }).inputValue(), 'confidential');
    assert.deepEqual(await cara.locator('#upload-label option').allTextContents(),
      ['Public', 'Internal', 'Confidential (default)', 'Restricted']);
    await cara.locator('#upload-file').setInputFiles({ name: 'invoice-scan.com', mimeType: 'application/octet-stream', buffer: EICAR });
    await cara.getByRole('button', { name: 'Encrypt and upload' }).click();
    await docsRow(cara, 'invoice-scan.com').waitFor();
    const verdict = await scanner.waitFor((l) => l.startsWith('verdict ') && l.includes(' infected '));
    assert.match(verdict, new RegExp(`infected ${EICAR_NAME.replace(/\./g, '\\.')}$`));

    await ada.goto(spaceUrl + '/documents');
    const row = docsRow(ada, 'invoice-scan.com');
    await row.locator(`[data-scan="infected"][data-signature="${EICAR_NAME}"]`).waitFor();
    assert.match(await row.locator('[data-scan]').textContent(), new RegExp(`Blocked: malware found.*${EICAR_NAME}`));
    assert.match(await row.locator('[data-classification]').textContent(), /Confidential/);
    const refused = row.locator('.refused[data-access="infected"]');
    assert.match(await refused.textContent(), new RegExp(`malware scanner found “${EICAR_NAME}” in this file\\. It cannot be downloaded`));
    assert.equal(await row.getByRole('button', { name: /^Download/ }).count(), 0, 'no download of a blocked file');
    assert.deepEqual(await a11yProblems(ada), []);
    await screenshot(ada, 'scan-03-staff-eicar-blocked');
    // Sue sees the same verdict; her copy of the policy came through the room.
    await sue.goto(spaceUrl + '/documents');
    await docsRow(sue, 'invoice-scan.com').locator('.refused[data-access="infected"]').waitFor();
  });

  await step('staff open the blocked file anyway: asked first, then it downloads; audited', async () => {
    const row = docsRow(ada, 'invoice-scan.com');
    await row.getByRole('button', { name: 'Open anyway: invoice-scan.com' }).click();
    await ada.locator('#status .toast-ok', { hasText: 'opened for staff' }).waitFor();
    assert.match(dialogs.at(-1), new RegExp(`ada: Open “invoice-scan.com” anyway\\? The scanner found “${EICAR_NAME}”`));
    const [download] = await Promise.all([
      ada.waitForEvent('download'),
      row.getByRole('button', { name: 'Download invoice-scan.com' }).click(),
    ]);
    assert.deepEqual(readFileSync(await download.path()), EICAR);
    // The relay recorded the override.
    await ada.goto(suite.relay.url + '/#/audit');
    await ada.getByRole('heading', { level: 1, name: 'Audit trail' }).waitFor();
    await ada.getByLabel('Show').selectOption({ label: 'Files' });
    const override = ada.locator('tbody tr[data-action="blob.release"]', { hasText: 'staff opened a blocked file anyway' });
    await override.first().waitFor();
    assert.match(await override.first().textContent(), /Ada Admin|You/);
    await screenshot(ada, 'scan-04-admin-audit-override');
  });

  await step('a clean upload ends clean and downloads', async () => {
    const text = Buffer.from('Quarterly figures, Kestrel Ltd, Q3 2026.\n');
    await cara.locator('#upload-file').setInputFiles({ name: 'figures-q3.txt', mimeType: 'text/plain', buffer: text });
    await cara.getByRole('button', { name: 'Encrypt and upload' }).click();
    await docsRow(cara, 'figures-q3.txt').waitFor();
    await ada.goto(spaceUrl + '/documents');
    const row = docsRow(ada, 'figures-q3.txt');
    await row.locator('[data-scan="clean"]', { hasText: 'Scanned: clean' }).waitFor();
    const [download] = await Promise.all([
      ada.waitForEvent('download'),
      row.getByRole('button', { name: 'Download figures-q3.txt' }).click(),
    ]);
    assert.deepEqual(readFileSync(await download.path()), text);
    await screenshot(ada, 'scan-05-staff-clean');
  });

  await step('a restricted staff upload: labelled on the customer\'s page, held until a second staff member approves', async () => {
    await ada.getByLabel('Label', { exact: true }).selectOption('restricted');
    assert.match(await ada.locator('#upload-label-hint').textContent(), /once a second member of staff approves it/);
    const text = Buffer.from('Draft settlement terms, restricted.\n');
    await ada.locator('#upload-file').setInputFiles({ name: 'settlement-terms.txt', mimeType: 'text/plain', buffer: text });
    await ada.getByRole('button', { name: 'Encrypt and upload' }).click();
    const mine = docsRow(ada, 'settlement-terms.txt');
    await mine.locator('[data-release="awaiting"]').waitFor();
    assert.equal(await mine.getByRole('button', { name: /^Approve release/ }).count(), 0, 'the uploader cannot approve her own file');

    await cara.goto(spaceUrl + '/documents');
    const held = docsRow(cara, 'settlement-terms.txt');
    await held.locator('[data-classification="restricted"]', { hasText: 'Restricted' }).waitFor();
    const refused = held.locator('.refused[data-access="awaiting_release"]');
    await refused.waitFor();
    assert.match(await refused.textContent(), /a second member of staff must approve this file before you can download it/);
    assert.equal(await held.getByRole('button', { name: /^Download/ }).count(), 0);
    assert.deepEqual(await a11yProblems(cara), []);
    await screenshot(cara, 'scan-06-customer-awaiting-release');

    await sue.goto(spaceUrl + '/documents');
    const toApprove = docsRow(sue, 'settlement-terms.txt');
    await toApprove.getByRole('button', { name: 'Approve release of settlement-terms.txt' }).click();
    await toApprove.locator('[data-release="released"]', { hasText: 'Sue Second' }).or(toApprove.locator('[data-release="released"]', { hasText: 'You' })).waitFor();
    await screenshot(sue, 'scan-07-second-staff-released');

    // The customer's page updates by itself: the release is a signed room event.
    await held.getByRole('button', { name: 'Download settlement-terms.txt' }).waitFor();
    assert.match(await held.locator('[data-release="released"]').textContent(), /Released by Sue Second/);
    const [download] = await Promise.all([
      cara.waitForEvent('download'),
      held.getByRole('button', { name: 'Download settlement-terms.txt' }).click(),
    ]);
    assert.deepEqual(readFileSync(await download.path()), text);
    await screenshot(cara, 'scan-08-customer-released');
  });

  await step('the customer sees the labels, her blocked upload and the scanner in People', async () => {
    const eicar = docsRow(cara, 'invoice-scan.com');
    await eicar.locator('[data-scan="infected"]').waitFor();
    // Her own file: she has its bytes; everyone else is blocked.
    assert.match(await eicar.locator('.scan-explain').textContent(), /blocked for everyone else/);
    await docsRow(cara, 'figures-q3.txt').locator('[data-scan="clean"]').waitFor();
    await cara.goto(spaceUrl + '/people');
    const row = cara.locator(`tr[data-user="${scannerId}"]`);
    await row.locator('[data-badge="scanner"]', { hasText: 'Malware scanner' }).waitFor();
    const custView = await row.locator('code.safety').textContent();
    await ada.goto(spaceUrl + '/people');
    assert.equal(await ada.locator(`tr[data-user="${scannerId}"] code.safety`).textContent(), custView,
      'both sides compute the same safety number for the scanner');
    assert.deepEqual(await a11yProblems(cara), []);
    await screenshot(cara, 'scan-09-customer-people-scanner');
  });

  assert.deepEqual(pageErrors, []);
});
