// The audit trail for administrators: filter by action, page through, verify the hash chain,
// export as CSV.

import { field, h, replace } from '../dom.js';
import type { Page } from '../main.js';
import { act, app, userLabel } from '../state.js';
import { AuditRecord } from '../sdk.js';

export async function auditView(): Promise<Page> {
  const portal = app.portal;
  if (!portal) throw new Error('no client');
  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Load more');
  const action = h('input', { name: 'action', placeholder: 'e.g. blob.upload', list: 'audit-actions' });
  const verifyOut = h('div', { 'aria-live': 'polite' });
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
  const verify = h('button', { type: 'button', class: 'btn btn-primary' }, 'Verify chain');
  verify.addEventListener('click', () => void act(verify, async () => {
    const r = await portal.verifyAudit();
    replace(verifyOut, h('p', { class: r.ok ? 'ok' : 'form-error', role: 'status' },
      r.ok ? `Chain intact: ${r.verified} entries verified; head #${r.headSeq} ${r.headHash.slice(0, 16)}…`
        : `Chain broken at entry #${r.firstBadSeq ?? '?'} after ${r.verified} good entries.`));
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
      h('div', { class: 'toolbar' }, filter, h('div', { class: 'actions' }, verify, exportCsv)),
      verifyOut,
      h('div', { class: 'table-wrap' }, h('table', { class: 'table table-dense' },
        h('caption', { class: 'visually-hidden' }, 'Audit entries, oldest first'),
        h('thead', {}, h('tr', {}, ['#', 'Time', 'Action', 'Actor', 'Object', 'Detail', 'IP'].map((c) => h('th', { scope: 'col' }, c)))),
        tbody)),
      more),
  };
}
