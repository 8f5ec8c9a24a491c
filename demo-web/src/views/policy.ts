// The "Labels and scanning" tab of a space (staff): which classification labels the space
// allows and what each one means for customers (download, malware scan first, a second staff
// member's approval), the default label, and the space's malware scanner. The policy is signed
// by this device and posted into the space's room, where every member's SDK checks that staff
// sent it; the relay never sees it, only which user is the scanner.

import { h, replace, shortId } from '../dom.js';
import { personName, refreshPeople } from '../names.js';
import { act, app, formError, toast } from '../state.js';
import type { Classification, LabelRule, Space, SpacePolicy } from '../sdk.js';
import { KNOWN_LABELS, labelMeaning, labelName, loadPolicy } from './labels.js';

interface RowControls { c: Classification; allowed: HTMLInputElement; download: HTMLInputElement; scan: HTMLInputElement; fourEyes: HTMLInputElement }

export async function policyTab(space: Space, panel: HTMLElement): Promise<void> {
  const portal = app.portal;
  if (!portal) return;
  const policy = await loadPolicy(space.spaceId);
  if (!policy) return;
  await refreshPeople(() => portal.profiles(), app.account?.userId ?? null).catch(() => undefined);
  const labels = [...KNOWN_LABELS, ...policy.labels.map((l) => l.classification).filter((c) => !KNOWN_LABELS.includes(c))];
  const rules = new Map(policy.labels.map((l) => [l.classification, l]));

  const check = (name: string, checked: boolean) => h('input', { type: 'checkbox', 'aria-label': name, checked });
  const rows: RowControls[] = labels.map((c) => {
    const rule: LabelRule | undefined = rules.get(c);
    const n = labelName(c);
    return {
      c,
      allowed: check(`${n}: allowed in this space`, !!rule),
      download: check(`${n}: customers may download`, rule ? rule.customerDownload : true),
      scan: check(`${n}: malware scan before anyone else opens it`, rule?.scanRequired ?? false),
      fourEyes: check(`${n}: a second member of staff approves before customers open it`, rule?.fourEyes ?? false),
    };
  });

  const defaultLabel = h('select', { id: 'policy-default', name: 'default' },
    labels.map((c) => h('option', { value: c, selected: c === policy.default }, labelName(c))));
  // The scanner is a staff member of the space (its service user, added on the People page),
  // never the space's owner.
  const scanner = h('select', { id: 'policy-scanner', name: 'scanner', 'aria-describedby': 'policy-scanner-hint' },
    h('option', { value: '' }, 'No scanner'),
    space.members.filter((m) => m.role === 'staff').map((m) => h('option', { value: m.userId, selected: m.userId === policy.scanner },
      `${personName(m.userId)} (${shortId(m.userId)})`)));
  const problem = h('div', { 'aria-live': 'assertive' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save policy');
  const form = h('form', { class: 'stack', 'aria-labelledby': 'policy-heading', 'data-form': 'policy' },
    h('h2', { id: 'policy-heading' }, 'Labels and malware scanning'),
    h('p', {}, 'Every document carries a label, chosen at upload and sealed with the file. Choose which labels this space allows and what each one means. '
      + 'Everyone’s device checks that the rules come from your organisation’s staff.'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table table-cards' },
      h('caption', { class: 'visually-hidden' }, 'Rules per label'),
      h('thead', {}, h('tr', {}, ['Label', 'Allowed', 'Customers may download', 'Malware scan first', 'Second staff approval'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((r) => h('tr', { 'data-rule': r.c },
        h('th', { scope: 'row' }, labelName(r.c), h('p', { class: 'small muted' }, labelMeaning(r.c))),
        h('td', { 'data-label': 'Allowed' }, r.allowed),
        h('td', { 'data-label': 'Customers may download' }, r.download),
        h('td', { 'data-label': 'Malware scan first' }, r.scan),
        h('td', { 'data-label': 'Second staff approval' }, r.fourEyes)))))),
    h('div', { class: 'field' }, h('label', { for: 'policy-default' }, 'Default label'), defaultLabel),
    h('div', { class: 'field' }, h('label', { for: 'policy-scanner' }, 'Malware scanner'), scanner,
      h('p', { class: 'hint', id: 'policy-scanner-hint' },
        'A service user of your organisation running sealroom-scanner, added to this space on the People page. '
        + 'It reads each new upload to scan it, so everyone in the space sees it in People with its own badge and safety number. '
        + 'Without a scanner, files whose label needs a scan stay closed.')),
    problem, save);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const allowed = rows.filter((r) => r.allowed.checked);
    if (!allowed.length) {
      formError(problem, new Error('Allow at least one label.'));
      return;
    }
    if (!allowed.some((r) => r.c === defaultLabel.value)) {
      formError(problem, new Error(`The default label, ${labelName(defaultLabel.value)}, must be allowed.`));
      return;
    }
    formError(problem, null);
    void act(save, async () => {
      const current = (await loadPolicy(space.spaceId))?.scanner ?? null;
      const next: SpacePolicy = {
        labels: allowed.map((r) => ({
          classification: r.c, customerDownload: r.download.checked, scanRequired: r.scan.checked, fourEyes: r.fourEyes.checked,
        })),
        default: defaultLabel.value,
        scanner: current,
      };
      await portal.setSpacePolicy(space.spaceId, next);
      const chosen = scanner.value || null;
      // Naming the scanner also tells the relay, which then takes scan releases from it only.
      if (chosen !== current) await portal.setSpaceScanner(space.spaceId, chosen);
      await loadPolicy(space.spaceId);
      toast(chosen ? 'Policy saved. The malware scanner checks new uploads whose label needs a scan.' : 'Policy saved.');
    });
  });
  replace(panel, form);
}
