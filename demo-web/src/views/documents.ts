// The Documents tab of a space: the list (see documentTable.ts), the upload form with the
// classification label, and unfinished uploads to resume. Labels, scan verdicts and releases
// arrive as room content without an event of their own, so the list is re-read after every
// sync and redrawn when anything in it changed.

import { bytes, field, h, replace } from '../dom.js';
import { safeFileName } from '../names.js';
import { act, app, asUpload, errorText, isStaff, toast } from '../state.js';
import type { Classification, PendingUpload, SpacePolicy } from '../sdk.js';
import { documentTable } from './documentTable.js';
import { labelMeaning, labelName, loadPolicy } from './labels.js';
import { progressBar } from './widgets.js';

export async function documentsTab(spaceId: string, panel: HTMLElement): Promise<void> {
  const portal = app.portal;
  if (!portal) return;
  const list = h('div', { id: 'documents' });
  const uploads = h('div', { class: 'uploads', 'aria-live': 'polite' });

  let shown = '';
  let missingNames = false;
  let policy: SpacePolicy | null = await loadPolicy(spaceId).catch(() => null);
  // Redrawn only when the documents changed, and keyboard focus moves to the same control of the
  // new table, so a sync never pulls the focus from under someone using the keyboard.
  const draw = async () => {
    const docs = await portal.documents(spaceId);
    policy = await loadPolicy(spaceId).catch(() => policy);
    // The SDK's order: the document whose latest version arrived last comes first.
    const visible = docs.filter((d) => !d.latest.internal || isStaff());
    missingNames = visible.some((d) => d.versions.some((v) => !v.name));
    const signature = JSON.stringify([visible, policy]);
    if (signature === shown && list.firstChild) return;
    shown = signature;
    const focused = document.activeElement;
    const focusLabel = focused && list.contains(focused) ? focused.getAttribute('aria-label') : null;
    replace(list, visible.length ? documentTable(spaceId, visible, policy, upload, uploads, draw) : h('p', { class: 'empty' }, 'No documents yet.'));
    drawLabels();
    if (focusLabel) {
      const again = [...list.querySelectorAll<HTMLElement>('[aria-label]')].find((el) => el.getAttribute('aria-label') === focusLabel);
      again?.focus();
    }
  };

  const upload = async (file: File, documentId: string | null, internal: boolean, classification: Classification | null) => {
    if (file.size === 0) {
      // An empty file is almost always a mistake (a failed export, a placeholder): say so
      // instead of publishing a document that opens to nothing.
      uploads.appendChild(h('p', { class: 'form-error', role: 'alert', 'data-code': 'empty_file' },
        `${safeFileName(file.name)} is empty (0 bytes), so it was not uploaded. Choose the file again once it has content.`));
      return;
    }
    const p = progressBar(`Encrypting and uploading ${safeFileName(file.name)}`);
    uploads.appendChild(p.el);
    try {
      const v = await asUpload(() => portal.uploadFile(spaceId, file, documentId, internal, (done, total) => p.set(done, total), classification));
      p.el.dataset.sdkUpdates = p.el.dataset.updates ?? '0';
      p.set(1, 1);
      p.el.classList.add('done');
      p.el.dataset.state = 'done';
      toast(`${safeFileName(file.name)} uploaded as version ${v.version}${v.classification ? `, labelled ${labelName(v.classification)}` : ''}.`);
      await draw();
      setTimeout(() => p.el.remove(), 4000);
    } catch (e) {
      p.el.dataset.state = 'failed';
      p.el.appendChild(h('p', { class: 'form-error', role: 'alert' }, errorText(e, {
        label_not_allowed: 'This space no longer allows that label. Choose another one and upload again.',
      })));
    }
  };

  const fileInput = h('input', { type: 'file', id: 'upload-file', name: 'file', required: true });
  const internal = h('input', { type: 'checkbox', id: 'upload-internal' });
  // The labels the space's policy allows, its default chosen; sealed and signed with the file.
  const label = h('select', { id: 'upload-label', name: 'classification', 'aria-describedby': 'upload-label-hint' });
  const labelHint = h('span', {});
  let labelsShown = '';
  const drawLabels = () => {
    const allowed = JSON.stringify([policy?.labels, policy?.default]);
    if (allowed === labelsShown) return;
    labelsShown = allowed;
    const current = label.value;
    replace(label, allowedLabels(policy).map((c) => h('option', {
      value: c, selected: current ? c === current : c === policy?.default,
    }, `${labelName(c)}${c === policy?.default ? ' (default)' : ''}`)));
    if (current && !allowedLabels(policy).includes(current)) label.value = policy?.default ?? '';
    describeLabel();
  };
  // What the chosen label means here: the space's rule for it, in words.
  const describeLabel = () => {
    const c = label.value;
    const rule = policy?.labels.find((l) => l.classification === c);
    const parts = c ? [`${labelName(c)}: ${labelMeaning(c)}.`] : [];
    if (rule && !rule.customerDownload) parts.push('Customers cannot download it.');
    if (rule?.scanRequired) parts.push('Checked for malware before anyone else opens it.');
    if (rule?.fourEyes) parts.push('Customers can open it once a second member of staff approves it.');
    labelHint.textContent = parts.join(' ');
  };
  label.addEventListener('change', describeLabel);
  drawLabels();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Encrypt and upload');
  const form = h('form', { class: 'upload-form', 'aria-labelledby': 'upload-heading' },
    h('h2', { id: 'upload-heading' }, 'Upload a document'),
    field('File', fileInput, 'Encrypted in this browser before upload. Large files are streamed.'),
    h('div', { class: 'field' },
      h('label', { for: 'upload-label' }, 'Label'),
      label,
      h('p', { class: 'hint', id: 'upload-label-hint' }, labelHint, ' The label is sealed with the file; only the space’s members see it.')),
    isStaff() ? h('div', { class: 'check' }, internal, h('label', { for: 'upload-internal' }, 'Internal (staff only)')) : null,
    submit);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const file = fileInput.files?.[0];
    if (!file) return;
    void act(submit, async () => {
      await upload(file, null, internal.checked, label.value || null);
      form.reset();
      describeLabel();
    });
  });

  // Uploads a reload or a crash interrupted: resumed from the same file, never a second document.
  const pending = h('div', { id: 'pending-uploads' });
  const drawPending = async () => {
    const mine = (await portal.pendingUploads()).filter((u) => u.spaceId === spaceId);
    replace(pending, mine.length ? pendingUploads(mine, uploads, async () => { await drawPending(); await draw(); }) : null);
  };
  await portal.refreshFiles(spaceId).catch((e) => toast(errorText(e), 'error'));
  await draw();
  await drawPending().catch((e) => toast(errorText(e), 'error'));
  app.onChange = (events) => {
    // A new file's name, type and size come from its manifest: read manifests before drawing.
    if (events.some((e) => (e.type === 'newFile' || e.type === 'newVersion' || e.type === 'historyReceived') && e.spaceId === spaceId)) {
      void portal.refreshFiles(spaceId).catch((e) => toast(errorText(e), 'error')).then(() => draw());
    } else if (events.some((e) => e.type === 'removedFromSpace')) {
      void draw();
    }
  };
  // A file announced in the room before its manifest (name, type, size) reached the relay is
  // listed without a name: read manifests again on the next ticks until every name is there.
  // Scan verdicts, releases and policy changes come without an event: every sync re-reads the
  // list (drawn again only when it changed; one such read at a time, since an upload holds the
  // client's queue).
  let redrawing = false;
  app.onTick = () => {
    if (missingNames) void portal.refreshFiles(spaceId).then(() => draw()).catch(() => undefined);
    else if (!redrawing) {
      redrawing = true;
      void draw().catch(() => undefined).finally(() => { redrawing = false; });
    }
  };
  replace(panel, h('div', { class: 'layout-split' },
    h('section', { 'aria-labelledby': 'docs-heading' }, h('h2', { id: 'docs-heading' }, 'Documents'), list),
    h('aside', { class: 'card' }, pending, form, uploads)));
}

/** The unfinished uploads of this space, each with Resume (pick the same file) and Discard. */
function pendingUploads(list: PendingUpload[], uploads: HTMLElement, changed: () => Promise<void>): HTMLElement {
  return h('section', { class: 'pending stack', 'data-state': 'pending-uploads', 'aria-labelledby': 'pending-heading' },
    h('h2', { id: 'pending-heading' }, 'Unfinished uploads'),
    h('ul', { class: 'plain' }, list.map((u) => {
      const name = safeFileName(u.name);
      const chooser = h('input', { type: 'file', class: 'visually-hidden', tabindex: '-1', 'aria-label': `The file ${name}, to resume its upload` });
      const resume = h('button', { type: 'button', class: 'btn btn-primary', 'aria-label': `Resume ${name}` }, 'Resume');
      const discard = h('button', { type: 'button', class: 'btn btn-ghost', 'aria-label': `Discard ${name}` }, 'Discard');
      const problem = h('div', { 'aria-live': 'assertive' });
      resume.addEventListener('click', () => chooser.click());
      chooser.addEventListener('change', () => {
        const file = chooser.files?.[0];
        chooser.value = '';
        if (!file || !app.portal) return;
        if (file.size !== u.sourceLen) {
          replace(problem, h('p', { class: 'form-error', role: 'alert' },
            `That is not the same file: ${safeFileName(file.name)} has ${bytes(file.size)}, the upload was for ${bytes(u.sourceLen)}. Choose ${name}.`));
          return;
        }
        replace(problem);
        void act(resume, async () => {
          const p = progressBar(`Resuming ${name}`);
          uploads.appendChild(p.el);
          try {
            // The SDK re-seals the file, checks what the relay already holds and sends the rest.
            const v = await asUpload(() => app.portal!.resumeUpload(u.uploadId, file, (d, t) => p.set(d, t)));
            p.set(1, 1);
            p.el.dataset.state = 'done';
            toast(`${name} uploaded as version ${v.version}.`);
          } catch (e) {
            p.el.dataset.state = 'failed';
            replace(problem, h('p', { class: 'form-error', role: 'alert' }, errorText(e, {
              invalid_input: `The file differs from the one the upload started with. Choose the original ${name}, or discard the upload.`,
            })));
          }
          await changed();
        });
      });
      discard.addEventListener('click', () => {
        if (!confirm(`Discard the unfinished upload of ${name}? What was sent is deleted.`)) return;
        void act(discard, async () => {
          await app.portal?.cancelUpload(u.uploadId);
          await changed();
        });
      });
      return h('li', { 'data-upload': u.uploadId },
        h('p', {}, h('strong', {}, name), ` · ${bytes(u.uploaded)} of ${bytes(u.sealedLen)} sent`),
        h('div', { class: 'row-actions' }, resume, discard, chooser), problem);
    })));
}


/** The labels the policy allows uploads with (the SDK's default policy before staff set one). */
function allowedLabels(policy: SpacePolicy | null): Classification[] {
  return policy ? policy.labels.map((l) => l.classification) : [];
}
