// The audit trail for administrators: filter by category or text, page through, verify the chain,
// export as CSV. On opening, this device checks the chain itself (SDK `checkAudit`: the relay's
// signed head, every hash, and the head it verified before) and shows the verdict; a rolled-back
// or rewritten history is an alarm, not a toast.

import { field, h, replace } from '../dom.js';
import type { Page } from '../main.js';
import { act, app } from '../state.js';
import { AuditRecord, SdkError } from '../sdk.js';
import { AuditRow, CATEGORIES, Names, groupRows, inCategory, rowCells, toCsv } from './auditText.js';

/** File names this device can read, by file id (the relay's audit knows only the ids). */
async function fileNames(): Promise<Names> {
  const files = new Map<string, string>();
  const portal = app.portal;
  if (!portal) return { files };
  for (const space of await portal.spaces()) {
    if (!space.joined) continue;
    try {
      for (const doc of await portal.documents(space.spaceId)) {
        for (const v of doc.versions) if (v.name) files.set(v.fileId, v.name);
      }
    } catch {
      // A space this device can no longer read: its ids stay ids.
    }
  }
  return { files };
}

export async function auditView(): Promise<Page> {
  const portal = app.portal;
  if (!portal) throw new Error('no client');
  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Load more');
  const category = h('select', { name: 'category', id: 'audit-category' },
    h('option', { value: '' }, 'Everything'),
    CATEGORIES.map(([key, text]) => h('option', { value: key }, text)));
  const search = h('input', { name: 'search', type: 'search', id: 'audit-search', placeholder: 'e.g. download, Cara, report.pdf' });
  const shown = h('p', { class: 'muted small', 'aria-live': 'polite', id: 'audit-count' });
  const verifyOut = h('div', { 'aria-live': 'polite' });
  const checkOut = h('div', { id: 'audit-check' });
  const names = await fileNames();
  let entries: AuditRecord[] = [];
  let after: number | undefined;
  let visible: Record<string, string>[] = [];

  const draw = () => {
    const cat = category.value;
    const needle = search.value.trim().toLowerCase();
    const rows: AuditRow[] = groupRows(entries.filter((e) => inCategory(e.action, cat)));
    visible = rows.map((r) => rowCells(r, names))
      .filter((c) => !needle || Object.values(c).some((v) => v.toLowerCase().includes(needle)));
    replace(tbody, visible.map((c) => h('tr', { 'data-action': c.code },
      h('td', { class: 'nowrap' }, c.entries),
      h('td', { class: 'nowrap' }, c.time),
      h('td', {}, c.who, c.device ? h('span', { class: 'muted small' }, ` · device ${c.device}`) : null),
      h('td', { title: c.code }, c.what),
      h('td', { class: 'ellipsis' }, c.object),
      h('td', { class: 'nowrap' }, c.size),
      h('td', {}, c.ip))));
    shown.textContent = `${visible.length} row${visible.length === 1 ? '' : 's'} from ${entries.length} entries loaded.`;
  };

  const load = async (reset: boolean) => {
    if (reset) {
      after = undefined;
      entries = [];
    }
    const page = await portal.audit({ after, limit: 500 });
    entries = entries.concat(page.entries);
    after = page.nextAfter ?? undefined;
    more.hidden = page.nextAfter === null || page.nextAfter === undefined;
    draw();
  };
  await load(true);
  more.addEventListener('click', () => void act(more, () => load(false)));
  category.addEventListener('change', draw);
  search.addEventListener('input', draw);

  const filter = h('form', { class: 'filter-row', role: 'search', 'aria-label': 'Filter the audit trail' },
    field('Show', category), field('Search', search));
  filter.addEventListener('submit', (ev) => ev.preventDefault());
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
  // What is on screen, with the names this device resolved (the relay's own export has ids only).
  const exportCsv = h('button', { type: 'button', class: 'btn btn-secondary', id: 'audit-export' }, 'Export CSV');
  exportCsv.addEventListener('click', () => void act(exportCsv, async () => {
    save(new Blob([toCsv(visible)], { type: 'text/csv' }), 'sealroom-audit.csv');
  }));
  const exportRaw = h('button', { type: 'button', class: 'btn btn-ghost' }, 'Relay export (ids)');
  exportRaw.addEventListener('click', () => void act(exportRaw, async () => {
    const data = await portal.auditExport('csv');
    save(new Blob([data as BlobPart], { type: 'text/csv' }), 'sealroom-audit-relay.csv');
  }));

  return {
    title: 'Audit',
    body: h('div', { class: 'stack' },
      h('h1', {}, 'Audit trail'),
      h('p', { class: 'muted' }, 'Every action on the relay, hash-chained. Content is never logged: only who did what to which id, and when.'),
      checkOut,
      h('div', { class: 'toolbar' }, filter, h('div', { class: 'actions' }, recheck, verify, exportCsv, exportRaw)),
      verifyOut,
      shown,
      h('div', { class: 'table-wrap' }, h('table', { class: 'table table-dense' },
        h('caption', { class: 'visually-hidden' }, 'Audit entries, oldest first'),
        h('thead', {}, h('tr', {}, ['Entry', 'Time', 'Who', 'What', 'Object', 'Size', 'IP'].map((c) => h('th', { scope: 'col' }, c)))),
        tbody)),
      more),
  };
}

function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
