// 发起签署: the start wizard. Files are uploaded as soon as they are chosen (with progress),
// signers are added by kind, preset positions are dragged onto the page images, and the flow
// is created in one request.

import { $, $$, ApiError, api, el, me, modal, showError, t, toast, upload } from '/static/core.js';
import { dragSource, movableMark, showPages } from '/static/viewer.js';

const COLOURS = ['#1d5fbf', '#c8102e', '#1a7f37', '#8a3b6d', '#b26a00', '#3b8a8a'];
// Preset boxes at the printed size of the seal that will go there: a 42 mm official seal for
// an organization, a name seal or signature (about 20 mm) for a person.
const presetSize = (signer) => (signer.kind === 'org' ? 119 : 60);
const files = []; // {name, size, blob, kind, sizes}
const signers = []; // {kind, label, user_id|phone|org_id|name+id_number, may_decline, positions: Map}
let settings = { business_types: [], file_types: ['pdf'], max_file_mb: 10, max_documents: 20, default_deadline_days: null };
let step = 1;
let activeSigner = 0;
let shownDoc = 0;
let view = null;

function go(to) {
  step = to;
  for (const panel of $$('[data-panel]')) panel.hidden = Number(panel.dataset.panel) !== to;
  for (const li of $$('#steps li')) {
    if (Number(li.dataset.step) === to) li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
  }
  if (to === 3) showPresetStep();
  if (to === 4) showSummary();
  scrollTo(0, 0);
}

// ------------------------------------------------------------------ step 1: files

function kindOf(file) {
  const name = file.name.toLowerCase();
  if (name.endsWith('.pdf') || file.type === 'application/pdf') return 'pdf';
  if (name.endsWith('.docx')) return 'docx';
  if (name.endsWith('.doc')) return 'doc';
  return null;
}

function renderFiles() {
  const list = $('#file-list');
  list.replaceChildren(...files.map((f, i) => el('li', { class: 'spread file' },
    el('span', {}, `${f.name} · ${(f.size / 1024).toFixed(0)} KB `, f.kind !== 'pdf' ? el('span', { class: 'muted small' }, t('start.word_note')) : null),
    f.blob ? el('span', { class: 'status ok' }, t('start.uploaded'))
      : el('span', { class: 'progress upload' }, el('div', { 'data-file': i })),
    el('button', { type: 'button', class: 'link', onclick: () => { files.splice(i, 1); renderFiles(); } }, t('common.delete')))));
  if (!$('#title').value && files[0]) $('#title').value = files[0].name.replace(/\.(pdf|docx?|PDF|DOCX?)$/, '');
}

async function addFiles(chosen) {
  const error = $('#files-error');
  error.hidden = true;
  for (const file of chosen) {
    const kind = kindOf(file);
    if (!kind || !settings.file_types.includes(kind)) {
      error.textContent = t('start.bad_type', { name: file.name, types: settings.file_types.join(', ') });
      error.hidden = false;
      continue;
    }
    if (file.size > settings.max_file_mb * 1024 * 1024) {
      error.textContent = t('start.too_big', { name: file.name, mb: settings.max_file_mb });
      error.hidden = false;
      continue;
    }
    if (file.size === 0) {
      error.textContent = t('start.empty_file', { name: file.name });
      error.hidden = false;
      continue;
    }
    if (files.length >= settings.max_documents) {
      error.textContent = t('start.too_many', { n: settings.max_documents });
      error.hidden = false;
      break;
    }
    const entry = { name: file.name, size: file.size, kind, blob: null, sizes: null };
    files.push(entry);
    renderFiles();
    const index = files.indexOf(entry);
    try {
      entry.blob = await upload(file, (share) => {
        const bar = $(`[data-file="${index}"]`);
        if (bar) bar.style.width = `${Math.round(share * 100)}%`;
      });
    } catch (err) {
      files.splice(files.indexOf(entry), 1);
      showError(err, error);
    }
    renderFiles();
  }
}

const zone = $('#dropzone');
zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
zone.addEventListener('dragleave', () => zone.classList.remove('over'));
zone.addEventListener('drop', (e) => { e.preventDefault(); zone.classList.remove('over'); addFiles([...e.dataTransfer.files]); });
$('#file-input').addEventListener('change', (e) => { addFiles([...e.target.files]); e.target.value = ''; });

$('#to-2').addEventListener('click', () => {
  const error = $('#files-error');
  if (!files.length) { error.textContent = t('start.need_file'); error.hidden = false; return; }
  if (files.some((f) => !f.blob)) { error.textContent = t('start.wait_upload'); error.hidden = false; return; }
  if (!$('#title').value.trim()) { error.textContent = t('start.need_subject'); error.hidden = false; $('#title').focus(); return; }
  error.hidden = true;
  if (!signers.length) addSigner({ kind: 'me', label: me?.name || t('start.me'), user_id: me?.id });
  go(2);
});

// ------------------------------------------------------------------ step 2: signers

function addSigner(signer) {
  signers.push({ may_decline: true, positions: [], ...signer });
  renderSigners();
}

function signerLabel(s) {
  switch (s.kind) {
    case 'me': return `${t('start.me')}（${s.label}）`;
    case 'person': return `${t('start.kind_person')} · ${s.phone}`;
    case 'org': return `${t('start.kind_org')} · ${s.label}`;
    default: return `${t('start.kind_guest')} · ${s.name} ${s.phone}`;
  }
}

function renderSigners() {
  const box = $('#signers');
  if (!signers.length) { box.replaceChildren(el('div', { class: 'empty' }, t('start.no_signers'))); return; }
  box.replaceChildren(...signers.map((s, i) => el('div', { class: 'signer spread', dataset: { signer: i } },
    el('span', {}, el('span', { class: 'swatch', 'data-colour': i }), `${i + 1}. ${signerLabel(s)}`),
    $('#order').value === 'staged' ? el('label', { class: 'row small' }, t('start.stage'), el('input', {
      type: 'number', min: 1, max: 20, value: s.stage || 1, class: 'stage',
      'aria-label': t('start.stage_of', { n: i + 1 }),
      onchange: (e) => { s.stage = Math.max(1, Math.min(20, Number(e.target.value) || 1)); },
    })) : null,
    el('label', { class: 'row small' }, el('input', {
      type: 'checkbox', checked: s.may_decline ? true : null,
      onchange: (e) => { s.may_decline = e.target.checked; },
    }), t('start.may_decline')),
    el('span', { class: 'row' },
      i > 0 ? el('button', { type: 'button', class: 'link', onclick: () => { signers.splice(i - 1, 0, ...signers.splice(i, 1)); renderSigners(); } }, t('start.move_up')) : null,
      el('button', { type: 'button', class: 'link', onclick: () => { signers.splice(i, 1); renderSigners(); } }, t('common.delete'))))));
  for (const swatch of $$('.swatch', box)) swatch.style.background = COLOURS[Number(swatch.dataset.colour) % COLOURS.length];
}

function signerForm(title, fields, make) {
  return modal(title, (close) => {
    const error = el('p', { class: 'error', role: 'alert', hidden: true });
    const inputs = fields.map(([id, label, type = 'text', extra = {}]) => [id, el('input', { id, type, required: true, ...extra }), label]);
    return el('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        const values = Object.fromEntries(inputs.map(([id, input]) => [id, input.value.trim()]));
        try { close(await make(values)); } catch (err) { showError(err, error); }
      },
    }, ...inputs.flatMap(([id, input, label]) => [el('label', { for: id }, label), input]), error,
    el('div', { class: 'actions' }, el('button', { class: 'primary', type: 'submit' }, t('common.ok')),
      el('button', { type: 'button', onclick: () => close() }, t('common.cancel'))));
  });
}

const phoneOk = (phone) => /^1\d{10}$/.test(phone);

$('#add-me').addEventListener('click', () => {
  if (signers.some((s) => s.kind === 'me')) { toast(t('start.me_added'), true); return; }
  addSigner({ kind: 'me', label: me?.name || '', user_id: me?.id });
});
$('#add-person').addEventListener('click', async () => {
  const signer = await signerForm(t('start.dlg_person'), [['s-phone', t('common.phone'), 'tel', { maxlength: 11, inputmode: 'numeric' }]], (v) => {
    if (!phoneOk(v['s-phone'])) throw new ApiError(400, { detail: t('start.bad_phone') });
    return { kind: 'person', phone: v['s-phone'] };
  });
  if (signer) addSigner(signer);
});
$('#add-org').addEventListener('click', async () => {
  const mine = await api('GET', '/me').then((m) => m.orgs || []).catch(() => []);
  const signer = await modal(t('start.dlg_org'), (close) => {
    const select = el('select', { id: 's-org' },
      el('option', { value: '' }, t('start.pick_org')),
      ...mine.map((o) => el('option', { value: o.org_id }, o.name)));
    const code = el('input', { id: 's-credit', type: 'text', maxlength: 18 });
    const error = el('p', { class: 'error', role: 'alert', hidden: true });
    return el('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          if (select.value) {
            close({ kind: 'org', org_id: select.value, label: select.selectedOptions[0].textContent });
          } else if (code.value.trim()) {
            const org = await api('GET', `/orgs/lookup?credit_code=${encodeURIComponent(code.value.trim())}`);
            close({ kind: 'org', org_id: org.id, label: org.name });
          } else {
            throw new ApiError(400, { detail: t('start.org_needed') });
          }
        } catch (err) { showError(err, error); }
      },
    }, el('label', { for: 's-org' }, t('start.my_orgs')), select,
    el('label', { for: 's-credit' }, t('start.credit_code')), code, error,
    el('div', { class: 'actions' }, el('button', { class: 'primary', type: 'submit' }, t('common.ok')),
      el('button', { type: 'button', onclick: () => close() }, t('common.cancel'))));
  });
  if (signer) addSigner(signer);
});
$('#add-guest').addEventListener('click', async () => {
  const signer = await signerForm(t('start.dlg_guest'), [
    ['g-name', t('start.guest_name')],
    ['g-phone', t('common.phone'), 'tel', { maxlength: 11, inputmode: 'numeric' }],
    ['g-id', t('start.guest_id'), 'text', { maxlength: 18 }],
  ], (v) => {
    if (!phoneOk(v['g-phone'])) throw new ApiError(400, { detail: t('start.bad_phone') });
    if (!/^\d{17}[\dXx]$/.test(v['g-id'])) throw new ApiError(400, { detail: t('start.bad_id') });
    return { kind: 'guest', name: v['g-name'], phone: v['g-phone'], id_number: v['g-id'].toUpperCase() };
  });
  if (signer) addSigner(signer);
});
$('#order').addEventListener('change', () => renderSigners());
$('#to-3').addEventListener('click', () => {
  const error = $('#signers-error');
  if (!signers.length) { error.textContent = t('start.need_signer'); error.hidden = false; return; }
  error.hidden = true;
  go(3);
});

// ------------------------------------------------------------------ step 3: preset positions

const presetGhost = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><rect x="2" y="2" width="96" height="96" fill="rgba(29,95,191,.15)" stroke="#1d5fbf" stroke-width="3" stroke-dasharray="6 4"/></svg>')}`;

async function showDocument(index) {
  shownDoc = index;
  for (const b of $$('#doc-switch button')) b.setAttribute('aria-pressed', String(Number(b.dataset.doc) === index));
  const file = files[index];
  const pages = $('#pages');
  if (file.kind !== 'pdf') {
    pages.replaceChildren(el('div', { class: 'empty card' }, t('start.word_no_preview')));
    view = null;
    return;
  }
  pages.replaceChildren(el('p', { class: 'muted' }, el('span', { class: 'spinner' }), ' ', t('common.loading')));
  try {
    file.sizes ||= await api('GET', `/blobs/${file.blob.id}/pages`);
    view = showPages(pages, file.sizes, (page, width) => `/api/v1/blobs/${file.blob.id}/pages/${page}?width=${width}`);
    for (const [si, signer] of signers.entries()) {
      for (const position of signer.positions.filter((p) => p.document === index)) drawPreset(si, position);
    }
  } catch (err) {
    showError(err, pages);
  }
}

function drawPreset(signerIndex, position) {
  const page = view?.byNumber(position.page);
  if (!page) return;
  const signer = signers[signerIndex];
  const mark = movableMark(view, page, { x: position.x, y: position.y, width: position.width, height: position.width }, {
    cls: 'preset', label: `${signerIndex + 1}. ${signer.label || signer.name || signer.phone || ''}`,
    onChange: (m) => Object.assign(position, { page: m.page.page, x: round(m.rect.x), y: round(m.rect.y) }),
    onRemove: () => { signer.positions.splice(signer.positions.indexOf(position), 1); renderPresetSigners(); },
  });
  mark.node.style.borderColor = COLOURS[signerIndex % COLOURS.length];
  mark.node.dataset.signer = signerIndex;
}

const round = (v) => Math.round(v * 10) / 10;

function renderPresetSigners() {
  const box = $('#preset-signers');
  box.replaceChildren(...signers.map((s, i) => {
    const item = el('div', { class: 'seal-item preset-source', tabindex: 0, role: 'button', 'aria-pressed': String(i === activeSigner), dataset: { signer: i }, title: t('start.drag_hint') },
      el('span', { class: 'swatch', 'data-colour': i }), `${i + 1}. ${signerLabel(s)}`,
      el('div', { class: 'muted small' }, t('start.n_positions', { n: s.positions.length })));
    item.querySelector('.swatch').style.background = COLOURS[i % COLOURS.length];
    item.addEventListener('pointerdown', () => { activeSigner = i; });
    if (view) {
      dragSource(view, item, presetGhost, (page, at) => {
        const size = presetSize(s);
        const position = { document: shownDoc, page: page.page, x: round(at.x - size / 2), y: round(at.y - size / 2), width: size };
        position.x = Math.max(0, Math.min(position.x, page.width - size));
        position.y = Math.max(0, Math.min(position.y, page.height - size));
        s.positions.push(position);
        drawPreset(i, position);
        renderPresetSigners();
      });
    }
    return item;
  }));
}

async function showPresetStep() {
  $('#doc-switch').replaceChildren(...files.map((f, i) => el('button', { type: 'button', dataset: { doc: i }, onclick: async () => { await showDocument(i); renderPresetSigners(); } }, f.name)));
  await showDocument(shownDoc < files.length ? shownDoc : 0);
  renderPresetSigners();
}
$('#to-4').addEventListener('click', () => go(4));

// ------------------------------------------------------------------ step 4: confirm and start

function showSummary() {
  const order = $('#order');
  $('#summary').replaceChildren(
    el('dl', { class: 'kv' },
      el('dt', {}, t('start.subject')), el('dd', {}, $('#title').value.trim()),
      el('dt', {}, t('start.business_type')), el('dd', {}, $('#business-type').value.trim() || '—'),
      el('dt', {}, t('start.deadline')), el('dd', {}, $('#deadline').value || t('inbox.no_deadline')),
      el('dt', {}, t('start.order')), el('dd', {}, order.selectedOptions[0].textContent),
      el('dt', {}, t('start.step_files')), el('dd', {}, files.map((f) => f.name).join('、')),
      el('dt', {}, t('start.step_signers')), el('dd', {}, el('ol', {}, ...signers.map((s) => el('li', {}, signerLabel(s), ' · ', t('start.n_positions', { n: s.positions.length })))))));
}

function signerBody(s) {
  const body = { may_decline: s.may_decline, ...($('#order').value === 'staged' ? { stage: s.stage || 1 } : {}), positions: s.positions.map(({ document, page, x, y, width }) => ({ document, page, x, y, width })) };
  if (s.kind === 'me') body.user_id = s.user_id;
  else if (s.kind === 'person') body.phone = s.phone;
  else if (s.kind === 'org') body.org_id = s.org_id;
  else Object.assign(body, { name: s.name, phone: s.phone, id_number: s.id_number });
  return body;
}

$('#start-submit').addEventListener('click', async () => {
  const error = $('#start-error');
  error.hidden = true;
  const button = $('#start-submit');
  button.disabled = true;
  $('#start-working').hidden = false;
  try {
    const body = {
      title: $('#title').value.trim(),
      documents: files.map((f) => ({ blob_id: f.blob.id, name: f.name })),
      signers: signers.map(signerBody),
      order: $('#order').value,
    };
    if ($('#business-type').value.trim()) body.business_type = $('#business-type').value.trim();
    if ($('#deadline').value) body.deadline = $('#deadline').value;
    const flow = await api('POST', '/flows', body, { headers: { 'Idempotency-Key': [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('') } });
    toast(t('start.started'));
    const mine = signers[0]?.kind === 'me' || ($('#order').value === 'unordered' && signers.some((s) => s.kind === 'me'));
    location.href = mine ? `/flows/${flow.id}/sign` : `/flows/${flow.id}`;
  } catch (err) {
    showError(err, error);
    button.disabled = false;
    $('#start-working').hidden = true;
  }
});

for (const back of $$('[data-back]')) back.addEventListener('click', () => go(Number(back.dataset.back)));

(async () => {
  try {
    settings = { ...settings, ...(await api('GET', '/settings/flows')) };
  } catch (err) { showError(err); }
  $('#file-rules').textContent = t('start.rules', { types: settings.file_types.join(' / ').toUpperCase(), mb: settings.max_file_mb, n: settings.max_documents });
  $('#business-types').replaceChildren(...settings.business_types.map((b) => el('option', { value: b })));
  if (settings.default_deadline_days) {
    const day = new Date(Date.now() + settings.default_deadline_days * 86400000);
    $('#deadline').value = day.toISOString().slice(0, 10);
  }
  $('#deadline').min = new Date().toISOString().slice(0, 10);
  go(1);
})();
