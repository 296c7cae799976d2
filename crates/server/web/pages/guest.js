// The phone signing page of an unregistered signer, reached by the SMS link: the task, the
// code that opens it (first time: the real-name check against the name and ID number the
// sender gave), the pages to read, a handwritten signature (or the name seal), then the
// signing code and 签署, or 拒签 with a reason.

import { $, ApiError, api, askReason, el, showError, t, toast } from '/static/core.js';
import { signaturePad } from '/static/pad.js';
import { dragSource, loadImage, movableMark, printedSize, showPages } from '/static/viewer.js';

const token = $('#guest-root').dataset.token;
const remembered = `qz-guest:${token}`;
let flow = null;
let signerId = null;
let seals = [];
let seal = null;
let view = null;
let shownDoc = 0;
const placements = new Map(); // document → [{page, x, y, width, mark}]
let pad = null;

function show(id) {
  for (const part of ['guest-loading', 'guest-open', 'guest-sign', 'guest-done']) $(`#${part}`).hidden = part !== id;
}

function done(titleKey, textKey) {
  $('#guest-done-title').textContent = t(titleKey);
  $('#guest-done-text').textContent = t(textKey);
  show('guest-done');
  sessionStorage.removeItem(remembered);
}

// ------------------------------------------------------------------ opening the link

async function countdown(button) {
  let left = 60;
  const label = t('common.send_code');
  button.disabled = true;
  const timer = setInterval(() => {
    left -= 1;
    button.textContent = t('common.resend_in', { s: left });
    if (left <= 0) { clearInterval(timer); button.textContent = label; button.disabled = false; }
  }, 1000);
}

$('#guest-send').addEventListener('click', async (e) => {
  const button = e.currentTarget;
  try {
    await api('POST', `/guest/${token}/code`);
    toast(t('common.code_sent'));
    countdown(button);
  } catch (err) { showError(err, $('#guest-open-error')); }
});

$('#guest-enter').addEventListener('click', async () => {
  const error = $('#guest-open-error');
  error.hidden = true;
  const code = $('#guest-code').value.trim();
  if (!/^\d{6}$/.test(code)) { error.textContent = t('guest.code_needed'); error.hidden = false; return; }
  $('#guest-enter').disabled = true;
  try {
    const opened = await api('POST', `/guest/${token}/session`, { code });
    sessionStorage.setItem(remembered, JSON.stringify({ flow: opened.flow_id, signer: opened.signer_id }));
    await enter(opened.flow_id, opened.signer_id);
  } catch (err) {
    showError(err, error);
  } finally {
    $('#guest-enter').disabled = false;
  }
});

// ------------------------------------------------------------------ reading and signing

function docPlacements() {
  if (!placements.has(shownDoc)) placements.set(shownDoc, []);
  return placements.get(shownDoc);
}

function presets() {
  const slot = flow.signers.find((s) => s.id === signerId);
  return Array.isArray(slot?.positions) ? slot.positions : [];
}

function drawPlacement(p) {
  const page = view?.byNumber(p.page);
  if (!page || !seal) return;
  p.mark = movableMark(view, page, { ...p, height: p.width * seal.size.height / seal.size.width }, {
    image: seal.image.src, label: t('guest.your_signature'),
    onChange: (m) => Object.assign(p, { page: m.page.page, x: Math.round(m.rect.x), y: Math.round(m.rect.y) }),
    onRemove: () => { const list = docPlacements(); list.splice(list.indexOf(p), 1); },
  });
}

async function useSeal(s) {
  const image = await loadImage(`/api/v1/seals/${s.id}/image?v=${s.updated_at || ''}`);
  seal = { ...s, image, size: printedSize(image) };
  for (const item of document.querySelectorAll('#guest-seals .seal-item')) item.setAttribute('aria-pressed', String(item.dataset.seal === s.id));
  for (const list of placements.values()) for (const p of list) { const img = p.mark?.node.querySelector('img'); if (img) img.src = image.src; }
}

async function loadSeals() {
  seals = (await api('GET', '/me/seals')).filter((s) => s.status === 'enabled');
  $('#guest-seals').replaceChildren(...seals.map((s) => {
    const src = `/api/v1/seals/${s.id}/image?v=${s.updated_at || ''}`;
    const item = el('div', { class: 'seal-item', tabindex: 0, role: 'button', dataset: { seal: s.id }, 'aria-pressed': String(seal?.id === s.id) },
      el('img', { src, alt: '' }), t(`guest.kind.${s.kind}`) === `guest.kind.${s.kind}` ? s.name : t(`guest.kind.${s.kind}`));
    if (view) {
      dragSource(view, item, src, async (page, at) => {
        await useSeal(s);
        const width = Math.min(seal.size.width, 140);
        const height = width * seal.size.height / seal.size.width;
        const p = { page: page.page, x: Math.max(0, Math.round(at.x - width / 2)), y: Math.max(0, Math.round(at.y - height / 2)), width: Math.round(width) };
        docPlacements().push(p);
        drawPlacement(p);
      });
    }
    return item;
  }));
  if (!seal && seals.length) await useSeal(seals.find((s) => s.kind === 'handwriting') || seals.find((s) => s.is_default) || seals[0]);
}

async function showDocument(index) {
  shownDoc = index;
  const box = $('#guest-pages');
  box.replaceChildren(el('p', { class: 'muted' }, el('span', { class: 'spinner' }), ' ', t('common.loading')));
  const sizes = await api('GET', `/flows/${flow.id}/documents/${index}/pages`);
  view = showPages(box, sizes, (page, width) => `/api/v1/flows/${flow.id}/documents/${index}/pages/${page}?width=${width}`, { pixelWidth: 720 });
  for (const p of placements.get(index) || []) drawPlacement(p);
  for (const b of document.querySelectorAll('#guest-docs button')) b.setAttribute('aria-pressed', String(Number(b.dataset.doc) === index));
  await loadSeals();
}

async function enter(flowId, signer) {
  flow = await api('GET', `/flows/${flowId}`);
  signerId = signer;
  const slot = flow.signers.find((s) => s.id === signerId);
  if (flow.status !== 'in_progress' || slot?.status !== 'waiting') {
    done(slot?.status === 'signed' ? 'guest.signed_title' : 'guest.closed_title', slot?.status === 'signed' ? 'guest.signed_text' : 'guest.closed_text');
    return;
  }
  $('#guest-title').textContent = flow.title;
  $('#guest-decline').hidden = !slot.may_decline;
  $('#guest-place-hint').textContent = presets().length ? t('guest.preset_hint') : t('guest.place_hint');
  $('#guest-docs').replaceChildren(...(flow.documents.length > 1 ? flow.documents.map((d) => el('button', { type: 'button', dataset: { doc: d.idx }, onclick: () => showDocument(d.idx) }, d.name)) : []));
  show('guest-sign');
  await showDocument(0);
}

$('#guest-draw').addEventListener('click', () => {
  $('#guest-pad').hidden = false;
  pad ||= signaturePad($('#pad'));
  pad.fit();
  $('#pad').scrollIntoView({ behavior: 'smooth' });
});
$('#pad-clear').addEventListener('click', () => pad?.clear());
$('#pad-use').addEventListener('click', async () => {
  if (!pad || pad.empty()) { toast(t('guest.draw_first'), true); return; }
  try {
    const made = await api('POST', '/me/seals/handwriting', await pad.toBlob());
    seal = null;
    await useSeal(made);
    await loadSeals();
    $('#guest-pad').hidden = true;
    toast(t('guest.drawing_saved'));
  } catch (err) { showError(err); }
});

$('#guest-sign-send').addEventListener('click', async (e) => {
  const button = e.currentTarget;
  try {
    await api('POST', '/auth/codes', { purpose: 'sign' });
    toast(t('common.code_sent'));
    countdown(button);
  } catch (err) { showError(err, $('#guest-sign-error')); }
});

$('#guest-submit').addEventListener('click', async () => {
  const error = $('#guest-sign-error');
  error.hidden = true;
  const code = $('#guest-sign-code').value.trim();
  try {
    if (!seal) throw new ApiError(400, { detail: t('guest.need_signature') });
    if (!/^\d{6}$/.test(code)) throw new ApiError(400, { detail: t('guest.code_needed') });
    const body = { signer_id: signerId, seal_id: seal.id, code };
    const placed = [...placements.entries()].flatMap(([document, list]) => list.map(({ page, x, y, width }) => ({ document, page, x, y, width })));
    if (!presets().length || placed.length) {
      const missing = flow.documents.filter((d) => !(placements.get(d.idx) || []).length);
      if (missing.length) throw new ApiError(400, { detail: t('guest.place_every', { names: missing.map((d) => d.name).join('、') }) });
      body.placements = placed;
    }
    $('#guest-submit').disabled = true;
    $('#guest-submit').textContent = t('guest.signing');
    await api('POST', `/flows/${flow.id}/sign`, body);
    done('guest.signed_title', 'guest.signed_text');
  } catch (err) {
    showError(err, error);
    $('#guest-submit').disabled = false;
    $('#guest-submit').textContent = t('guest.submit');
  }
});

$('#guest-decline').addEventListener('click', async () => {
  const reason = await askReason(t('guest.decline'), t('guest.decline_reason'));
  if (!reason) return;
  try {
    await api('POST', `/flows/${flow.id}/decline`, { signer_id: signerId, reason });
    done('guest.declined_title', 'guest.declined_text');
  } catch (err) { showError(err); }
});

(async () => {
  const saved = JSON.parse(sessionStorage.getItem(remembered) || 'null');
  if (saved) {
    try { await enter(saved.flow, saved.signer); return; } catch { sessionStorage.removeItem(remembered); }
  }
  try {
    const task = await api('GET', `/guest/${token}`);
    $('#guest-task').textContent = task.title;
    $('#guest-invite').textContent = t('guest.invite', { name: task.name, sender: task.initiator, phone: task.phone });
    show('guest-open');
  } catch (err) {
    if (err.status === 404 || err.status === 410 || err.code === 'link_used') done('guest.link_gone_title', 'guest.link_gone_text');
    else { show('guest-open'); showError(err, $('#guest-open-error')); }
  }
})();
