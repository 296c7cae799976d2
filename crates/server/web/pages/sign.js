// The signing page: the documents as page images, the caller's seals on the right (personal
// seals for a person's slot, the organization's seals for its slot) to drag onto the pages,
// multi-page and cross-page (骑缝章) stamping, 一键盖章 for preset positions, then the intent:
// an SMS code, auto-sign, or confirmation on the phone / token for co-sign and token
// certificates (the server answers 202 with a pending signature, watched live here).

import { $, $$, ApiError, api, askReason, el, me, modal, showError, t, toast } from '/static/core.js';
import { dragSource, loadImage, movableMark, printedSize, showPages } from '/static/viewer.js';

const flowId = $('#sign-root').dataset.flow;
let flow = null;
let slot = null;
let seals = [];
let seal = null; // the seal of this signature: one per signing
let shownDoc = 0;
let view = null;
// Placements per document: {mark?, page, x, y, width, height, cross_page?}
const placements = new Map();

const roundPt = (v) => Math.round(v * 10) / 10;

function mySlots(myOrgs) {
  const waiting = flow.signers.filter((s) => s.status === 'waiting');
  const stage = Math.min(...waiting.map((s) => s.stage));
  return waiting.filter((s) => (flow.status === 'in_progress') && s.stage === stage
    && (s.user_id === me.id || (s.org_id && myOrgs.includes(s.org_id))));
}

async function loadSeals() {
  const list = $('#seal-list');
  list.replaceChildren(el('span', { class: 'spinner' }));
  try {
    if (slot.user_id) {
      seals = (await api('GET', '/me/seals')).filter((s) => s.status === 'enabled');
    } else {
      const all = await api('GET', `/orgs/${slot.org_id}/seals`);
      seals = (all.items || all).filter((s) => s.status === 'enabled');
    }
  } catch (err) {
    seals = [];
    showError(err, list);
    return;
  }
  if (!seals.length) {
    list.replaceChildren(el('p', { class: 'muted small' }, slot.user_id ? t('sign.no_personal_seal') : t('sign.no_org_seal')));
    return;
  }

  const today = new Date().toLocaleDateString('zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' })
    .replace(/(\d+)\/(\d+)\/(\d+)/, '$1年$2月$3日');
  const dateItem = el('div', { class: 'seal-item date-item', tabindex: 0, role: 'button', title: t('sign.drag_hint') },
    el('div', { class: 'date-stamp' }, today), t('sign.date_stamp'));
  const dateGhost = `data:image/svg+xml,${encodeURIComponent(`<svg xmlns="http://www.w3.org/2000/svg" width="120" height="24"><text x="2" y="18" font-size="16" fill="#c8102e">${today}</text></svg>`)}`;
  if (view) dragSource(view, dateItem, dateGhost, (page, at) => placeDate(page, at, today));
  list.replaceChildren(dateItem, ...seals.map((s) => {
    const src = `/api/v1/seals/${s.id}/image`;
    const item = el('div', { class: 'seal-item', tabindex: 0, role: 'button', 'aria-pressed': String(seal?.id === s.id), dataset: { seal: s.id }, title: t('sign.drag_hint') },
      el('img', { src, alt: '' }), s.name || t(`sign.kind.${s.kind}`));
    if (view) dragSource(view, item, src, (page, at) => place(s, page, at));
    return item;
  }));
}

async function useSeal(s) {
  if (seal && seal.id !== s.id && [...placements.values()].some((l) => l.length)) {
    toast(t('sign.one_seal'));
  }
  const image = await loadImage(`/api/v1/seals/${s.id}/image`);
  seal = { ...s, image, size: printedSize(image) };
  for (const item of $$('.seal-item')) item.setAttribute('aria-pressed', String(item.dataset.seal === s.id));
  // Every mark shows the seal that will be stamped.
  for (const list of placements.values()) {
    for (const p of list) {
      if (!p.cross_page && !p.date) {
        p.height = p.width * seal.size.height / seal.size.width;
        const img = p.mark?.node.querySelector('img');
        if (img) img.src = image.src;
      }
    }
  }
  if (view) redraw();
}

async function place(s, page, at) {
  await useSeal(s);
  const { width, height } = seal.size;
  const p = { page: page.page, x: roundPt(at.x - width / 2), y: roundPt(at.y - height / 2), width: roundPt(width), height: roundPt(height) };
  docPlacements().push(p);
  drawPlacement(p);
  stats();
}

const DATE_SIZE = 12; // points
function placeDate(page, at, text) {
  // About 0.5 em per digit and 1 em per Chinese character.
  const width = roundPt(DATE_SIZE * ([...text].filter((c) => /\d/.test(c)).length * 0.55 + [...text].filter((c) => !/\d/.test(c)).length));
  const height = roundPt(DATE_SIZE * 1.2);
  const p = { page: page.page, x: roundPt(at.x - width / 2), y: roundPt(at.y - height / 2), width, height, date: text };
  docPlacements().push(p);
  drawPlacement(p);
  stats();
}

function docPlacements(doc = shownDoc) {
  if (!placements.has(doc)) placements.set(doc, []);
  return placements.get(doc);
}

function drawPlacement(p) {
  const page = view?.byNumber(p.page);
  if (!page) return;
  const remove = (m) => {
    const list = docPlacements();
    list.splice(list.indexOf(p), 1);
    stats();
  };
  if (p.date) {
    p.mark = movableMark(view, page, p, {
      cls: 'date-mark', label: p.date,
      onChange: (m) => Object.assign(p, { page: m.page.page, x: roundPt(m.rect.x), y: roundPt(m.rect.y) }),
      onRemove: remove,
    });
    return;
  }
  if (p.cross_page) {
    const strips = crossPages(p);
    const width = p.width / strips.length;
    p.mark = movableMark(view, page, { x: page.width - width, y: p.y, width, height: p.height }, {
      cls: 'cross', lockX: true, label: t('sign.cross_label', { from: p.page, to: p.cross_page.to }),
      onChange: (m) => { p.y = roundPt(m.rect.y); },
      onRemove: remove,
    });
    return;
  }
  p.mark = movableMark(view, page, p, {
    image: seal?.image.src, label: t('sign.seal_mark'),
    onChange: (m) => Object.assign(p, { page: m.page.page, x: roundPt(m.rect.x), y: roundPt(m.rect.y) }),
    onRemove: remove,
  });
}

function crossPages(p) {
  const pages = [];
  for (let n = p.page; n <= p.cross_page.to; n += p.cross_page.every_other ? 2 : 1) pages.push(n);
  return pages;
}

function redraw() {
  for (const node of $$('.mark')) node.remove();
  for (const p of docPlacements()) drawPlacement(p);
  drawPresets();
}

function drawPresets() {
  for (const preset of presets().filter((p) => p.document === shownDoc)) {
    const page = view?.byNumber(preset.page);
    if (!page) continue;
    const width = preset.width || 100;
    const mark = movableMark(view, page, { x: preset.x, y: preset.y, width, height: width }, { cls: 'preset', label: t('sign.preset') });
    mark.node.tabIndex = -1;
    mark.node.style.pointerEvents = 'none';
  }
}

function presets() {
  return Array.isArray(slot?.positions) ? slot.positions : [];
}

function stats() {
  const parts = [];
  let total = 0;
  for (const [doc, list] of placements.entries()) {
    if (!list.length) continue;
    total += list.length;
    parts.push(t('sign.stats_doc', { name: flow.documents[doc].name, n: list.length }));
  }
  $('#stats').textContent = total ? `${t('sign.stats_total', { n: total })} ${parts.join('；')}` : t('sign.stats_none');
}

async function showDocument(index) {
  shownDoc = index;
  for (const b of $$('#doc-switch button')) b.setAttribute('aria-pressed', String(Number(b.dataset.doc) === index));
  const pages = $('#pages');
  pages.replaceChildren(el('p', { class: 'muted' }, el('span', { class: 'spinner' }), ' ', t('common.loading')));
  try {
    const sizes = await api('GET', `/flows/${flowId}/documents/${index}/pages`);
    const version = flow.documents[index].version;
    view = showPages(pages, sizes, (page, width) => `/api/v1/flows/${flowId}/documents/${index}/pages/${page}?width=${width}&v=${version}`);
    view.sizes = sizes;
    redraw();
    await loadSeals();
  } catch (err) {
    showError(err, pages);
  }
}

// ------------------------------------------------------------------ dialogs

function needMark() {
  const list = docPlacements().filter((p) => !p.cross_page && !p.date);
  if (!list.length || !seal) { toast(t('sign.place_first'), true); return null; }
  return list[list.length - 1];
}

function rangeFields(total, { everyOther = false } = {}) {
  const all = el('input', { type: 'radio', name: 'range', id: 'range-all', value: 'all', checked: true });
  const some = el('input', { type: 'radio', name: 'range', id: 'range-some', value: 'some' });
  const from = el('input', { type: 'number', id: 'range-from', min: 1, max: total, value: 1 });
  const to = el('input', { type: 'number', id: 'range-to', min: 1, max: total, value: total });
  const other = el('input', { type: 'checkbox', id: 'every-other' });
  const node = el('div', {},
    el('p', { class: 'muted small' }, t('sign.pages_total', { n: total })),
    el('label', { class: 'row' }, all, t('sign.all_pages')),
    el('label', { class: 'row' }, some, t('sign.page_range')),
    el('div', { class: 'row' }, el('label', { for: 'range-from' }, t('sign.from')), from, el('label', { for: 'range-to' }, t('sign.to')), to),
    everyOther ? el('label', { class: 'row' }, other, t('sign.every_other')) : null);
  const read = () => {
    const range = all.checked ? [1, total] : [Number(from.value), Number(to.value)];
    if (!(range[0] >= 1 && range[1] <= total && range[0] <= range[1])) throw new ApiError(400, { detail: t('sign.bad_range', { n: total }) });
    return { from: range[0], to: range[1], everyOther: other.checked };
  };
  return { node, read };
}

function rangeDialog(title, total, options) {
  return modal(title, (close) => {
    const fields = rangeFields(total, options);
    const error = el('p', { class: 'error', role: 'alert', hidden: true });
    return el('form', {
      onsubmit: (e) => { e.preventDefault(); try { close(fields.read()); } catch (err) { showError(err, error); } },
    }, fields.node, error, el('div', { class: 'actions' },
      el('button', { class: 'primary', type: 'submit' }, t('common.ok')),
      el('button', { type: 'button', onclick: () => close() }, t('common.cancel'))));
  });
}

$('#multi-page').addEventListener('click', async () => {
  const last = needMark();
  if (!last) return;
  const range = await rangeDialog(t('sign.multi_page'), view.pages.length);
  if (!range) return;
  const list = docPlacements();
  for (let n = range.from; n <= range.to; n += 1) {
    if (list.some((p) => !p.cross_page && !p.date && p.page === n && Math.abs(p.x - last.x) < 1 && Math.abs(p.y - last.y) < 1)) continue;
    const page = view.byNumber(n);
    const p = { ...last, mark: null, page: n, x: Math.min(last.x, page.width - last.width), y: Math.min(last.y, page.height - last.height) };
    list.push(p);
    drawPlacement(p);
  }
  stats();
});

$('#cross-page').addEventListener('click', async () => {
  if (!seal) { toast(t('sign.pick_seal_first'), true); return; }
  if (view.pages.length < 2) { toast(t('sign.cross_needs_pages'), true); return; }
  const range = await rangeDialog(t('sign.cross_page'), view.pages.length, { everyOther: true });
  if (!range) return;
  if (range.to === range.from) { toast(t('sign.cross_needs_pages'), true); return; }
  const first = view.byNumber(range.from);
  const { width, height } = seal.size;
  const p = { page: range.from, x: 0, y: roundPt((first.height - height) / 2), width: roundPt(width), height: roundPt(height), cross_page: { to: range.to, every_other: range.everyOther } };
  docPlacements().push(p);
  drawPlacement(p);
  stats();
});

$('#clear-all').addEventListener('click', () => {
  for (const list of placements.values()) list.length = 0;
  redraw();
  stats();
});

// ------------------------------------------------------------------ signing

async function autosignActive() {
  try {
    const grants = await api('GET', '/me/autosign');
    const now = Date.now() / 1000;
    return (grants.items || grants).some((g) => !g.revoked_at && (!g.expires_at || g.expires_at > now) && (!g.ends_at || g.ends_at > now));
  } catch { return false; }
}

async function intent() {
  const auto = await autosignActive();
  return modal(t('sign.intent_title'), (close) => {
    const code = el('input', { id: 'sign-code', type: 'text', inputmode: 'numeric', maxlength: 6, autocomplete: 'one-time-code' });
    const send = el('button', { type: 'button', id: 'sign-send' }, t('common.send_code'));
    send.addEventListener('click', async () => {
      send.disabled = true;
      try {
        await api('POST', '/auth/codes', { purpose: 'sign' });
        toast(t('sign.code_sent', { phone: me.phone.replace(/^(\d{3})\d{4}(\d{4})$/, '$1****$2') }));
        let left = 60;
        const timer = setInterval(() => { left -= 1; send.textContent = t('common.resend_in', { s: left }); if (left <= 0) { clearInterval(timer); send.textContent = t('common.send_code'); send.disabled = false; } }, 1000);
      } catch (err) { send.disabled = false; showError(err, error); }
    });
    const error = el('p', { class: 'error', role: 'alert', hidden: true });
    return el('form', {
      onsubmit: (e) => {
        e.preventDefault();
        if (!/^\d{6}$/.test(code.value.trim())) { error.textContent = t('sign.code_needed'); error.hidden = false; return; }
        close({ code: code.value.trim() });
      },
    },
    el('p', {}, t('sign.intent_text')),
    el('label', { for: 'sign-code' }, t('sign.sms_code')), el('div', { class: 'field-row' }, code, send), error,
    el('p', { class: 'muted small' }, t('sign.phone_confirm_hint')),
    el('div', { class: 'actions' },
      el('button', { class: 'primary', type: 'submit', id: 'sign-confirm' }, t('sign.confirm_sign')),
      auto ? el('button', { type: 'button', id: 'sign-auto', onclick: () => close({ autosign: true }) }, t('sign.use_autosign')) : null,
      el('button', { type: 'button', id: 'sign-phone', onclick: () => close({ phone: true }) }, t('sign.on_phone')),
      el('button', { type: 'button', onclick: () => close() }, t('common.cancel'))));
  });
}

function placementsBody() {
  const out = [];
  for (const [doc, list] of placements.entries()) {
    for (const p of list) {
      const item = { document: doc, page: p.page, x: p.x, y: p.y, width: p.width };
      if (p.cross_page) item.cross_page = p.cross_page;
      if (p.date) Object.assign(item, { date: true, width: DATE_SIZE });
      out.push(item);
    }
  }
  return out;
}

async function watchPending(pending) {
  await modal(t('sign.pending_title'), (close) => {
    const state = el('p', { 'aria-live': 'polite' }, el('span', { class: 'spinner' }), ' ', t('sign.pending_wait'));
    const timer = setInterval(async () => {
      try {
        const now = await api('GET', `/pending-signatures/${pending.id}`);
        if (now.status !== 'pending') {
          clearInterval(timer);
          if (now.status === 'finished') { close(); toast(t('sign.signed')); location.href = `/flows/${flowId}`; }
          else state.textContent = t('sign.pending_ended', { status: t(`status.${now.status}`) });
        }
      } catch (err) { clearInterval(timer); showError(err, state); }
    }, 2000);
    const qr = el('div', { class: 'qr', 'aria-label': t('sign.pending_qr') });
    // The server's own SVG (no user text in it); the phone opens the companion with it.
    if (pending.qr_svg) qr.innerHTML = pending.qr_svg;
    return el('div', {},
      el('p', {}, t('sign.pending_text')),
      pending.qr_svg ? qr : null,
      el('p', { class: 'muted small' }, t('sign.pending_cli')),
      state,
      el('div', { class: 'actions' },
        el('button', {
          type: 'button', class: 'danger', onclick: async () => {
            clearInterval(timer);
            try { await api('POST', `/pending-signatures/${pending.id}/cancel`); } catch { /* already ended */ }
            close();
          },
        }, t('sign.pending_cancel')),
        el('button', { type: 'button', onclick: () => { clearInterval(timer); close(); } }, t('common.close'))));
  });
}

async function sign(usePresets) {
  // 一键盖章 with the default seal when none was picked.
  if (!seal && usePresets && seals.length) await useSeal(seals.find((s) => s.is_default) || seals[0]);
  if (!seal) { toast(t('sign.pick_seal_first'), true); return; }
  const body = { signer_id: slot.id, seal_id: seal.id };
  if (!usePresets) {
    const missing = flow.documents.filter((d) => !(placements.get(d.idx) || []).length);
    if (missing.length) {
      toast(t('sign.every_document', { names: missing.map((d) => d.name).join('、') }), true);
      return;
    }
    body.placements = placementsBody();
  }
  const sure = await modal(t('sign.confirm_title'), (close) => el('div', {},
    el('p', {}, usePresets ? t('sign.confirm_presets') : t('sign.confirm_text', { n: body.placements.length, docs: flow.documents.length })),
    el('div', { class: 'actions' },
      el('button', { class: 'primary', type: 'button', id: 'confirm-finish', onclick: () => close(true) }, t('sign.confirm_finish')),
      el('button', { type: 'button', onclick: () => close(false) }, t('sign.continue_stamping')))));
  if (!sure) return;
  const how = await intent();
  if (!how) return;
  if (how.code) body.code = how.code;
  if (how.autosign) body.autosign = true;
  const working = el('div', { class: 'card' }, el('span', { class: 'spinner' }), ' ', t('sign.signing'));
  $('#sign-root').prepend(working);
  $('#finish').disabled = true;
  try {
    const response = await api('POST', `/flows/${flowId}/sign`, body, { raw: true });
    if (response.status === 202) {
      working.remove();
      await watchPending(await response.json());
    } else {
      toast(t('sign.signed'));
      location.href = `/flows/${flowId}`;
    }
  } catch (err) {
    working.remove();
    showError(err);
  } finally {
    $('#finish').disabled = false;
  }
}

$('#finish').addEventListener('click', () => sign(false));
$('#one-click').addEventListener('click', () => sign(true));
$('#decline').addEventListener('click', async () => {
  const reason = await askReason(t('sign.decline'), t('sign.decline_reason'));
  if (!reason) return;
  try {
    await api('POST', `/flows/${flowId}/decline`, { signer_id: slot.id, reason });
    toast(t('sign.declined'));
    location.href = `/flows/${flowId}`;
  } catch (err) { showError(err); }
});

(async () => {
  try {
    const [loaded, mine] = await Promise.all([api('GET', `/flows/${flowId}`), api('GET', '/me')]);
    flow = loaded;
    $('#flow-title').textContent = flow.title;
    const slots = mySlots((mine.orgs || []).map((o) => o.org_id));
    $('#sign-loading').remove();
    if (!slots.length) {
      const box = $('#not-my-turn');
      box.replaceChildren(el('p', {}, flow.status === 'in_progress' ? t('sign.not_your_turn') : t('sign.flow_ended')), el('a', { class: 'button primary', href: `/flows/${flowId}` }, t('sign.detail')));
      box.hidden = false;
      return;
    }
    slot = slots[0];
    if (slots.length > 1) {
      const select = $('#slot');
      select.replaceChildren(...slots.map((s) => el('option', { value: s.id }, s.user_id ? t('sign.slot_me') : flow.names[s.org_id] || s.org_id)));
      select.addEventListener('change', async () => {
        slot = slots.find((s) => s.id === select.value);
        seal = null;
        for (const list of placements.values()) list.length = 0;
        $('#one-click').hidden = !presets().length;
        await showDocument(shownDoc);
        stats();
      });
      $('#slot-choice').hidden = false;
    }
    $('#decline').hidden = !slot.may_decline;
    $('#one-click').hidden = !presets().length;
    $('#workspace').hidden = false;
    $('#doc-switch').replaceChildren(...flow.documents.map((d) => el('button', { type: 'button', dataset: { doc: d.idx }, onclick: () => showDocument(d.idx) }, d.name)));
    await showDocument(0);
    stats();
  } catch (err) {
    showError(err, $('#sign-loading') || undefined);
  }
})();
