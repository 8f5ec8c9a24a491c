// The audit trail for administrators: filter by action, page through, verify the hash chain,
// export as CSV. On opening, this device checks the chain itself (SDK `checkAudit`: the relay's
// signed head, every hash, and the head it verified before) and shows the verdict; a rolled-back
// or rewritten history is an alarm, not a toast.

import { field, h, replace } from '../dom.js';
import type { Page } from '../main.js';
import { act, app, userLabel } from '../state.js';
import { AuditRecord, SdkError } from '../sdk.js';

export async function auditView(): Promise<Page> {
  const portal = app.portal;
  if (!portal) throw new Error('no client');
  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Load more');
  const action = h('input', { name: 'action', placeholder: 'e.g. blob.upload', list: 'audit-actions' });
  const verifyOut = h('div', { 'aria-live': 'polite' });
  const checkOut = h('div', { id: 'audit-check' });
  let after: number | undefined;

  const row = (r: AuditRecord) => h('tr', {},
    h('td', {}, String(r.seq)),
    h('td', {}, h('time', { datetime: new Date(r.timeMs).toISOString() }, new Date(r.timeMs).toLocaleString())),
    h('td', {}, h('code', {}, r.action)),
    h('td', {}, r.actorUser ? userLabel(r.actorUser) : 'relay'),
    h('td', { class: 'ellipsis' }, r.objectId ?? ''),
    h('td', { class: 'ellipsis' }, r.detail ?? ''),
    h('td', {}, r.ip ?? ''));

  const load = async (reset: boolean) => {
    if (reset) {
      after = undefined;
      replace(tbody);
    }
    const page = await portal.audit({ action: action.value.trim() || undefined, after, limit: 100 });
    page.entries.forEach((e) => tbody.appendChild(row(e)));
    after = page.nextAfter ?? undefined;
    more.hidden = page.nextAfter === null || page.nextAfter === undefined;
  };
  await load(true);
  more.addEventListener('click', () => void act(more, () => load(false)));

  const filter = h('form', { class: 'filter-row' }, field('Action', action), h('button', { type: 'submit', class: 'btn btn-secondary' }, 'Filter'));
  filter.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void act(null, () => load(true));
  });
  // The client's own verdict: it does not take the relay's word for the chain.
  const check = async () => {
    try {
      const r = await portal.checkAudit();
      replace(checkOut, h('div', { class: 'ok', role: 'status', 'data-verdict': 'intact' },
        h('p', {}, h('strong', {}, 'Checked on this device: '),
          `${r.entriesVerified} entries verified`,
          r.linksHidden ? ` (and ${r.linksHidden} of other organisations by their hashes)` : '',
          `; signed head #${r.headSeq} `, h('code', {}, `${r.headHash.slice(0, 16)}…`), '.'),
        h('p', { class: 'muted' }, 'Relay audit key ', h('code', {}, `${r.relayKey.slice(0, 16)}…`),
          ', pinned by this device at its first check.')));
    } catch (e) {
      const code = e instanceof SdkError ? e.code : 'error';
      if (!code.startsWith('audit_')) {
        replace(checkOut, h('p', { class: 'form-error', role: 'alert', 'data-verdict': 'unchecked' },
          `This device could not check the audit trail: ${e instanceof Error ? e.message : String(e)}`));
        return;
      }
      const what: Record<string, string> = {
        audit_rolled_back: 'The relay now shows an older audit history than this device verified before: entries were removed.',
        audit_rewritten: 'Entries this device verified before have changed: the relay rewrote the audit history.',
        audit_key_changed: 'The relay signs its audit trail with a different key than the one this device pinned.',
      };
      replace(checkOut, h('div', { class: 'form-error', role: 'alert', 'data-verdict': 'alarm', 'data-code': code },
        h('p', {}, h('strong', {}, 'Audit history rewritten. '),
          what[code] ?? 'The audit chain the relay served does not verify on this device.'),
        h('p', {}, 'Do not rely on this trail; keep the last verified head and contact whoever runs the relay. ',
          h('code', {}, code))));
    }
  };
  await check();
  const recheck = h('button', { type: 'button', class: 'btn btn-primary' }, 'Check on this device');
  recheck.addEventListener('click', () => void act(recheck, check));

  const verify = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Verify chain');
  verify.addEventListener('click', () => void act(verify, async () => {
    const r = await portal.verifyAudit();
    replace(verifyOut, h('p', { class: r.ok ? 'ok' : 'form-error', role: 'status' },
      r.ok ? `Relay's verdict: Chain intact: ${r.verified} entries verified; head #${r.headSeq} ${r.headHash.slice(0, 16)}…`
        : `Relay's verdict: Chain broken at entry #${r.firstBadSeq ?? '?'} after ${r.verified} good entries.`));
  }));
  const exportCsv = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Export CSV');
  exportCsv.addEventListener('click', () => void act(exportCsv, async () => {
    const data = await portal.auditExport('csv');
    const url = URL.createObjectURL(new Blob([data as BlobPart], { type: 'text/csv' }));
    const a = h('a', { href: url, download: 'sealroom-audit.csv' });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }));

  return {
    title: 'Audit',
    body: h('div', { class: 'stack' },
      h('h1', {}, 'Audit trail'),
      h('p', { class: 'muted' }, 'Every action on the relay, hash-chained. Content is never logged: only who did what to which id, and when.'),
      checkOut,
      h('div', { class: 'toolbar' }, filter, h('div', { class: 'actions' }, recheck, verify, exportCsv)),
      verifyOut,
      h('div', { class: 'table-wrap' }, h('table', { class: 'table table-dense' },
        h('caption', { class: 'visually-hidden' }, 'Audit entries, oldest first'),
        h('thead', {}, h('tr', {}, ['#', 'Time', 'Action', 'Actor', 'Object', 'Detail', 'IP'].map((c) => h('th', { scope: 'col' }, c)))),
        tbody)),
      more),
  };
}
