// The audit trail in words a compliance officer reads: plain actions, categories to filter by,
// ids resolved to names on this device (the relay only ever stores ids), repeated requests of
// one download grouped into one row, and a CSV of exactly what is on screen.

import { bytes, shortId } from '../dom.js';
import { safeFileName } from '../names.js';
import { label, spaceLabel, userLabel } from '../state.js';
import type { AuditRecord } from '../sdk.js';

/** What each relay action code means. */
export const ACTION_TEXT: Record<string, string> = {
  'org.create': 'Created an organisation',
  'invite.create': 'Created an invitation',
  'invite.revoke': 'Revoked an invitation',
  'user.register': 'Registered an account',
  'device.register': 'Registered a device',
  'device.approve': 'Approved a new device',
  'device.approve_fail': 'Failed to approve a device',
  'device.remove': 'Removed a device',
  'device.certify': 'Vouched for a device',
  'role.change': 'Changed a role',
  'space.create': 'Created a space',
  'membership.add': 'Added someone to a space',
  'membership.remove': 'Removed someone from a space',
  'keypackage.upload': 'Published device keys',
  'keypackage.claim': 'Fetched someone’s device keys',
  'handshake.commit': 'Changed who holds a room’s keys',
  'welcome.send': 'Handed room keys to a new device',
  'message.post': 'Sent a message or note',
  'message.delete': 'Deleted a message',
  'message.expire': 'A message expired',
  'blob.upload_create': 'Started an upload',
  'blob.upload': 'Uploaded a file',
  'blob.download': 'Downloaded a file',
  'blob.delete': 'Deleted a file',
  'blob.release': 'Released a held file',
  'notification.send': 'Sent a notification email',
  'notification.fail': 'A notification email failed',
  'notify.preference_set': 'Changed email notifications',
  'retention.policy_set': 'Changed the retention policy',
  'retention.delete': 'Deleted data past its retention',
  'user.erase': 'Erased a user',
  'audit.export': 'Exported the audit trail',
  'backup.create': 'Made a backup',
  'recovery.store': 'Stored a recovery backup',
  'recovery.fetch': 'Fetched a recovery backup',
  'recovery.delete': 'Deleted a recovery backup',
  'totp.change': 'Changed two-step sign-in',
};

/** Filter categories and the actions in each. */
export const CATEGORIES: [string, string, string[]][] = [
  ['files', 'Files', ['blob.upload_create', 'blob.upload', 'blob.download', 'blob.delete', 'blob.release']],
  ['messages', 'Messages and notes', ['message.post', 'message.delete', 'message.expire']],
  ['people', 'People and access', ['invite.create', 'invite.revoke', 'user.register', 'space.create', 'membership.add', 'membership.remove', 'role.change', 'user.erase', 'org.create']],
  ['devices', 'Devices and sign-in', ['device.register', 'device.approve', 'device.approve_fail', 'device.remove', 'device.certify', 'totp.change', 'recovery.store', 'recovery.fetch', 'recovery.delete']],
  ['keys', 'Encryption keys', ['keypackage.upload', 'keypackage.claim', 'handshake.commit', 'welcome.send']],
  ['notifications', 'Notifications', ['notification.send', 'notification.fail', 'notify.preference_set']],
  ['admin', 'Administration', ['retention.policy_set', 'retention.delete', 'audit.export', 'backup.create']],
];

export function actionText(action: string): string {
  return ACTION_TEXT[action] ?? action;
}

/** Which release a `blob.release` entry records (its detail names the kind). */
const RELEASE_KIND: Record<string, string> = {
  four_eyes: 'second staff approval',
  scan: 'malware scan found it clean',
  scan_override: 'staff opened a blocked file anyway',
};

function releaseKind(r: AuditRecord): string {
  if (r.action !== 'blob.release' || !r.detail) return '';
  const kind = /(?:^| )kind=(\S+)/.exec(r.detail)?.[1];
  return kind ? `: ${RELEASE_KIND[kind] ?? kind}` : '';
}

/** Whether an entry belongs to a category ('' = all). */
export function inCategory(action: string, category: string): boolean {
  if (!category) return true;
  return CATEGORIES.find(([key]) => key === category)?.[2].includes(action) ?? false;
}

/** Ids this device can name: files (by file id), spaces and users come from local labels. */
export interface Names { files: Map<string, string> }

/** The object of an entry as a person reads it. */
export function objectText(r: AuditRecord, names: Names): string {
  const id = r.objectId;
  if (!id) return '';
  const file = names.files.get(id);
  if (file) return safeFileName(file);
  if (label('spaces', id)) return spaceLabel(id);
  if (label('users', id)) return userLabel(id);
  if (r.action.startsWith('blob.')) return `a file (${shortId(id)})`;
  return shortId(id);
}

/** One row on screen: an entry, or consecutive repeats of the same request grouped. */
export interface AuditRow {
  first: AuditRecord;
  last: AuditRecord;
  count: number;
  size: number | null;
}

/** Actions whose back-to-back repeats (same actor, device, object) are one thing to a reader. */
const GROUPED = new Set(['blob.download', 'blob.upload', 'notification.fail', 'notification.send', 'keypackage.upload']);
/** Repeats further apart than this stay separate rows. */
const GROUP_WINDOW_MS = 10 * 60 * 1000;

/** Groups consecutive repeats: one 120 MB download in 31 range requests is one row. */
export function groupRows(entries: AuditRecord[], into: AuditRow[] = []): AuditRow[] {
  for (const r of entries) {
    const prev = into[into.length - 1];
    if (prev && GROUPED.has(r.action) && prev.last.action === r.action && prev.last.actorUser === r.actorUser
      && prev.last.device === r.device && prev.last.objectId === r.objectId && r.timeMs - prev.last.timeMs <= GROUP_WINDOW_MS) {
      prev.last = r;
      prev.count += 1;
      prev.size = prev.size === null && r.size === null ? null : (prev.size ?? 0) + (r.size ?? 0);
    } else {
      into.push({ first: r, last: r, count: 1, size: r.size });
    }
  }
  return into;
}

/** The columns of a row as text (screen and CSV share them). */
export function rowCells(row: AuditRow, names: Names): Record<string, string> {
  const r = row.first;
  return {
    entries: row.count > 1 ? `#${r.seq}–#${row.last.seq}` : `#${r.seq}`,
    time: new Date(r.timeMs).toLocaleString(),
    who: r.actorUser ? userLabel(r.actorUser) : 'The relay',
    device: r.device ? shortId(r.device) : '',
    what: actionText(r.action) + releaseKind(r) + (row.count > 1 ? ` (${row.count} requests)` : ''),
    object: objectText(r, names),
    size: row.size === null ? '' : bytes(row.size),
    ip: r.ip ?? '',
    code: r.action,
  };
}

export const CSV_COLUMNS = ['entries', 'time', 'who', 'device', 'what', 'object', 'size', 'ip', 'code'];

/** RFC 4180 CSV; cells that a spreadsheet would run as a formula are prefixed with a quote. */
export function toCsv(rows: Record<string, string>[]): string {
  const cell = (v: string) => {
    const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
    return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  return [CSV_COLUMNS.join(','), ...rows.map((r) => CSV_COLUMNS.map((c) => cell(r[c] ?? '')).join(','))].join('\r\n') + '\r\n';
}
