// Classification labels, malware scan states and access refusals as the portal shows them. Every
// label and verdict comes from the SDK, which checked who signed it (the uploader signs the
// label, the space's scanner its verdict, staff the policy and releases); the relay sees none
// of them.

import { h } from '../dom.js';
import type { Classification, FileAccess, FileVersion, SpacePolicy } from '../sdk.js';
import { app } from '../state.js';

/** The four labels staff can allow, least to most sensitive. */
export const KNOWN_LABELS: Classification[] = ['public', 'internal', 'confidential', 'restricted'];

/** What each label means, for the upload form and the policy page. */
const LABEL_MEANING: Record<string, string> = {
  public: 'may be shared with anyone',
  internal: 'for the two companies’ staff',
  confidential: 'for the people in this space',
  restricted: 'for named people only; handle with care',
};

/** The latest policy this page read per space (the People table shows the scanner from it). */
const policies = new Map<string, SpacePolicy>();

/** Reads the space's policy from the SDK and remembers it for `scannerOf`. */
export async function loadPolicy(spaceId: string): Promise<SpacePolicy | null> {
  const portal = app.portal;
  if (!portal) return null;
  const policy = await portal.spacePolicy(spaceId);
  policies.set(spaceId, policy);
  return policy;
}

/** The user id of the space's malware scanner, as the last policy read names it. */
export function scannerOf(spaceId: string): string | null {
  return policies.get(spaceId)?.scanner ?? null;
}

/** "Confidential" for `confidential`; a label of a newer peer as it is. */
export function labelName(c: Classification): string {
  return c.charAt(0).toUpperCase() + c.slice(1);
}

export function labelMeaning(c: Classification): string {
  return LABEL_MEANING[c] ?? 'a label of this space';
}

/** The label of a version as a badge ("Classification: Confidential" for screen readers). */
export function labelBadge(v: FileVersion, policy: SpacePolicy | null): HTMLElement {
  const c = v.classification ?? policy?.default ?? null;
  if (!c) return h('span', { class: 'badge', 'data-classification': '' }, 'no label');
  const known = KNOWN_LABELS.includes(c) ? c : 'other';
  return h('span', { class: `badge badge-label label-${known}`, 'data-classification': c, title: `Classification: ${labelName(c)} (${labelMeaning(c)})` },
    h('span', { class: 'visually-hidden' }, 'Classification: '), labelName(c));
}

/** The Malware scanner badge of the People table. */
export function scannerBadge(): HTMLElement {
  return h('span', { class: 'badge badge-scanner', 'data-badge': 'scanner', title: 'A service of your provider that checks uploads for malware. It reads the files it scans, like any member.' },
    'Malware scanner');
}

/** The scan state of a version, with one sentence saying what it means for the reader. */
export function scanView(v: FileVersion): HTMLElement {
  const scan = v.scan ?? { state: 'not_required' };
  const me = app.account?.userId;
  const mine = v.senderUserId === me;
  let badge: HTMLElement;
  let explain: string;
  switch (scan.state) {
    case 'waiting':
      badge = h('span', { class: 'badge badge-warn' }, 'Waiting for scan');
      explain = mine
        ? 'The malware scanner has not checked your file yet. Others can open it once it is found clean.'
        : 'The malware scanner has not checked this file yet. It opens once it is found clean.';
      break;
    case 'clean':
      badge = h('span', { class: 'badge badge-ok' }, 'Scanned: clean');
      explain = 'The malware scanner checked this file and found nothing.';
      break;
    case 'infected':
      badge = h('span', { class: 'badge badge-danger' }, 'Blocked: malware found');
      explain = v.access === 'open' && !mine
        ? `The scanner found “${scan.signature}”. Staff opened it anyway; open it only if you trust it.`
        : `The scanner found “${scan.signature}”, so the file is blocked${mine ? ' for everyone else' : ''}.`;
      break;
    case 'failed':
      badge = h('span', { class: 'badge badge-danger' }, 'Blocked: scan failed');
      explain = 'The malware scanner could not check this file, so it is blocked until staff decide.';
      break;
    default:
      // Nothing to explain beyond the badge: the policy asks for no scan of this label.
      return h('div', { class: 'scan', 'data-scan': scan.state },
        h('span', { class: 'badge', title: 'This space’s policy asks for no malware scan of this label.' }, 'No scan required'));
  }
  return h('div', { class: 'scan', 'data-scan': scan.state, 'data-signature': scan.state === 'infected' ? scan.signature : null },
    badge, h('p', { class: 'small muted scan-explain' }, explain));
}

/** Why a version does not open for this device, in plain words (null: it opens). */
export function accessText(v: FileVersion): string | null {
  return refusalText(v.access, v);
}

/** The plain text of an access code (or of the same code in a refused download). */
export function refusalText(code: FileAccess | string, v: FileVersion): string | null {
  const label = v.classification ? labelName(v.classification) : 'this label';
  switch (code) {
    case 'open':
      return null;
    case 'awaiting_release':
      return 'Not released yet: a second member of staff must approve this file before you can download it.';
    case 'download_not_allowed':
      return `Not for download: this space does not let customers download files labelled ${label}.`;
    case 'label_not_allowed':
      return `Cannot be opened: the label ${label} is not allowed in this space.`;
    case 'awaiting_scan':
      return 'Not yet: the file opens once the malware scanner has found it clean.';
    case 'infected':
      return v.scan.state === 'infected'
        ? `Blocked: the malware scanner found “${v.scan.signature}” in this file. It cannot be downloaded.`
        : 'Blocked: the malware scanner found malware in this file. It cannot be downloaded.';
    case 'scan_failed':
      return 'Blocked: the malware scanner could not check this file. It cannot be downloaded.';
    default:
      return null;
  }
}

/** The refusal codes of downloads, as `errorText` context (a listing can be a sync behind). */
export function refusalContext(v: FileVersion): Record<string, string> {
  const out: Record<string, string> = {};
  for (const code of ['awaiting_release', 'download_not_allowed', 'label_not_allowed', 'awaiting_scan', 'infected', 'scan_failed']) {
    const text = refusalText(code, v);
    if (text) out[code] = text;
  }
  return out;
}

/** Whether the version waits for a four-eyes release under `policy` (customers cannot open it yet). */
export function awaitsRelease(v: FileVersion, policy: SpacePolicy | null): boolean {
  if (v.internal || !policy || v.releasedBy.length > 0) return false;
  const c = v.classification ?? policy.default;
  return policy.labels.some((l) => l.classification === c && (l.fourEyes ?? false));
}
