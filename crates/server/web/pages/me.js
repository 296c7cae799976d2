// 个人中心: profile, seals and handwriting, organizations and requests, certificates and the
// co-sign invitation code, grants and auto-sign, pending signatures, messages, account trail.
import {
  $, $$, api, ApiError, askReason, confirmBox, el, empty, fmtDate, fmtTime, modal, sendCode,
  showError, t, tabs, toast, upload,
} from '/static/core.js';

/** Replaces `node`'s children, skipping null/false and flattening arrays. */
function put(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

const now = () => Math.floor(Date.now() / 1000);
const DAY = 86400;
let meData = null;
let custodyPromise = null;

// ---------------------------------------------------------------- small helpers

/** A text for `key`, or `fallback` when the catalog has none. */
function tOr(key, fallback) {
  const text = t(key);
  return text === key ? fallback : text;
}

/** A coloured chip with our own text (statuses common.json does not name). */
function chip(cls, text) {
  return el('span', { class: `status ${cls}` }, text);
}

function loading() {
  return el('p', { class: 'muted' }, el('span', { class: 'spinner' }), ' ', t('common.loading'));
}

function table(headers, rows) {
  const box = el('div', { class: 'me-scroll' }, el('table', { class: 'list me-table' },
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows)));
  labelCells(box);
  return box;
}

/** Gives each cell its column's name, shown on phones where rows stack (app.css). */
function labelCells(root) {
  for (const tbl of $$('table.me-table', root)) {
    const names = $$('thead th', tbl).map((th) => th.textContent);
    for (const row of $$('tbody tr', tbl)) {
      [...row.children].forEach((td, i) => { if (!td.dataset.label) td.dataset.label = names[i] || ''; });
    }
  }
}

function errorLine(target, err) {
  const p = el('p', { class: 'error', role: 'alert' });
  showError(err, p);
  put(target, p);
}

/** `YYYY-MM-DD` as Unix seconds of 00:00 China time. */
function dayStart(value) {
  const [y, m, d] = value.split('-').map(Number);
  return Date.UTC(y, m - 1, d) / 1000 - 8 * 3600;
}

/** Today (China time) as `YYYY-MM-DD`. */
function today(offsetDays = 0) {
  const d = new Date(Date.now() + 8 * 3600 * 1000 + offsetDays * DAY * 1000);
  return d.toISOString().slice(0, 10);
}

function downloadText(name, text, type = 'application/x-pem-file') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  el('a', { href: url, download: name }).click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** A command line shown for copying. */
function command(text) {
  const code = el('code', {}, text);
  const copy = el('button', {
    type: 'button', class: 'link small',
    onclick: async () => {
      try { await navigator.clipboard.writeText(text); toast(t('me.copied')); } catch { toast(t('me.copy_failed'), true); }
    },
  }, t('me.copy'));
  return el('div', { class: 'me-cmd' }, el('pre', {}, code), copy);
}

function orgName(id) {
  return meData?.orgs.find((o) => o.org_id === id)?.name || id;
}

function custody() {
  if (!custodyPromise) custodyPromise = api('GET', '/me/certificates').catch((err) => { custodyPromise = null; throw err; });
  return custodyPromise;
}

const sealCache = new Map();
function sealOf(id) {
  if (!sealCache.has(id)) sealCache.set(id, api('GET', `/seals/${id}`).catch(() => null));
  return sealCache.get(id);
}

async function loadMe() {
  meData = await api('GET', '/me');
  const acting = $('#me-acting');
  acting.textContent = meData.acting_for
    ? t('me.acting_as', { org: orgName(meData.acting_for) })
    : t('me.acting_self');
  acting.hidden = false;
  return meData;
}

// ---------------------------------------------------------------- 个人信息

function renderProfile() {
  const { user, identity } = meData;
  const verified = identity.status === 'verified';
  const statusChip = chip(verified ? 'verified' : (identity.status === 'pending' ? 'pending' : 'bad'),
    t(`me.identity.${identity.status}`));
  put($('#profile-info'), 
    el('dl', { class: 'kv' },
      el('dt', {}, t('me.profile.name')), el('dd', {}, user.name || '—'),
      el('dt', {}, t('common.phone')), el('dd', {}, user.phone),
      el('dt', {}, t('me.profile.email')), el('dd', {}, user.email || t('me.profile.no_email')),
      el('dt', {}, t('me.profile.identity')), el('dd', {}, statusChip, ' ',
        el('a', { href: '/identity' }, verified ? t('me.profile.identity_view') : t('me.profile.identity_go'))),
      verified ? [el('dt', {}, t('me.profile.real_name')), el('dd', {}, identity.real_name || ''),
        el('dt', {}, t('me.profile.id_number')), el('dd', {}, identity.id_masked || '')] : null,
      el('dt', {}, t('me.profile.created')), el('dd', {}, fmtTime(user.created_at))));
  $('#locale').value = user.locale === 'en' ? 'en' : 'zh-CN';
}

/** The account password was wrong: say so (the common text speaks of phone numbers). */
function wrongPassword(err, where) {
  if (err instanceof ApiError && err.code === 'bad_credentials') {
    where.textContent = t('me.profile.pw_wrong');
    where.hidden = false;
  } else showError(err, where);
}

$('#locale-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const locale = $('#locale').value;
  try {
    await api('PUT', '/me/locale', { locale });
    toast(t('common.saved'));
    // The cookie decides the pages' language: set it too.
    location.href = `/me?lang=${locale}${location.hash}`;
  } catch (err) { showError(err); }
});

$('#password-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = $('#password-error');
  error.hidden = true;
  const current = $('#pw-current').value;
  const next = $('#pw-new').value;
  if (!current || !next) { error.textContent = t('me.fill_all'); error.hidden = false; return; }
  if (next !== $('#pw-again').value) { error.textContent = t('me.profile.pw_mismatch'); error.hidden = false; return; }
  try {
    await api('POST', '/me/password', { current, new: next });
    e.target.reset();
    toast(t('me.profile.pw_done'));
  } catch (err) { wrongPassword(err, error); }
});

$('#phone-send').addEventListener('click', (e) => {
  const phone = $('#new-phone').value.trim();
  if (!/^1\d{10}$/.test(phone)) { showError(new ApiError(400, { detail: t('me.profile.phone_bad') }), $('#phone-error')); return; }
  $('#phone-error').hidden = true;
  sendCode(e.currentTarget, { purpose: 'change_phone', to: phone });
});

$('#phone-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = $('#phone-error');
  error.hidden = true;
  const body = { phone: $('#new-phone').value.trim(), code: $('#phone-code').value.trim(), password: $('#phone-password').value };
  if (!body.phone || !body.code || !body.password) { error.textContent = t('me.fill_all'); error.hidden = false; return; }
  try {
    await api('POST', '/me/phone', body);
    e.target.reset();
    toast(t('me.profile.phone_done'));
    await loadMe();
    renderProfile();
  } catch (err) { wrongPassword(err, error); }
});

$('#email-send').addEventListener('click', (e) => {
  const email = $('#new-email').value.trim();
  if (!email.includes('@')) { showError(new ApiError(400, { detail: t('me.profile.email_bad') }), $('#email-error')); return; }
  $('#email-error').hidden = true;
  sendCode(e.currentTarget, { purpose: 'change_email', to: email });
});

$('#email-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = $('#email-error');
  error.hidden = true;
  const body = { email: $('#new-email').value.trim(), code: $('#email-code').value.trim() };
  if (!body.email || !body.code) { error.textContent = t('me.fill_all'); error.hidden = false; return; }
  try {
    await api('POST', '/me/email', body);
    e.target.reset();
    toast(t('me.profile.email_done'));
    await loadMe();
    renderProfile();
  } catch (err) { showError(err, error); }
});

// ---------------------------------------------------------------- 我的印章

function sealStatusChip(status) {
  return chip(status === 'enabled' ? 'active' : 'bad', tOr(`me.seal_status.${status}`, status));
}

async function loadSeals() {
  const box = $('#seal-cards');
  put(box, loading());
  try {
    const seals = await api('GET', '/me/seals');
    if (!seals.length) {
      put(box, empty(meData?.identity.status === 'verified' ? t('me.seals.none') : t('me.seals.verify_first')));
      return seals;
    }
    put(box, ...seals.map((seal) => el('figure', { class: 'me-seal' },
      el('img', { src: `/api/v1/seals/${seal.id}/image?v=${seal.updated_at}`, alt: seal.name, loading: 'lazy' }),
      el('figcaption', {},
        el('strong', {}, seal.name),
        el('div', { class: 'small muted' }, tOr(`me.kind.${seal.kind}`, seal.kind),
          seal.is_default ? el('span', { class: 'badge' }, t('me.seals.default')) : null),
        el('div', {}, sealStatusChip(seal.status)),
        el('div', { class: 'small muted' }, fmtDate(seal.created_at)),
        el('div', { class: 'row me-seal-actions' },
          el('button', { type: 'button', class: 'link', onclick: () => showStats(seal) }, t('me.stats.open')),
          seal.kind === 'handwriting'
            ? el('button', { type: 'button', class: 'link me-danger', onclick: () => deleteSeal(seal) }, t('common.delete'))
            : null)))));
    return seals;
  } catch (err) { errorLine(box, err); return []; }
}

async function deleteSeal(seal) {
  if (!await confirmBox(t('me.seals.delete_title'), t('me.seals.delete_text'), t('common.delete'), true)) return;
  try {
    await api('DELETE', `/seals/${seal.id}`);
    toast(t('common.done'));
    loadSeals();
  } catch (err) { showError(err); }
}

/** 盖章统计: totals per day in a period and the latest stamps. */
function showStats(seal) {
  modal(t('me.stats.title', { name: seal.name }), (close) => {
    const period = el('select', { id: 'stats-period' },
      [7, 30, 90, 365].map((d) => el('option', { value: d, selected: d === 30 }, t('me.stats.days', { n: d }))));
    const out = el('div', { class: 'me-stats', 'aria-live': 'polite' });
    const load = async () => {
      put(out, loading());
      const to = now() + 1;
      const from = to - Number(period.value) * DAY;
      try {
        const [stats, uses] = await Promise.all([
          api('GET', `/seals/${seal.id}/stats?from=${from}&to=${to}`),
          api('GET', `/seals/${seal.id}/uses?limit=10`),
        ]);
        const max = Math.max(1, ...stats.by_day.map(([, n]) => n));
        put(out, 
          el('p', {}, t('me.stats.total'), ' ', el('strong', { class: 'me-big' }, String(stats.total))),
          stats.by_day.length
            ? table([t('me.stats.day'), t('me.stats.count')], stats.by_day.map(([day, n]) => {
              const bar = el('span', { class: 'me-bar' });
              bar.style.width = `${Math.round((n / max) * 100)}%`;
              return el('tr', {}, el('td', {}, day), el('td', { class: 'me-barcell' }, bar, ' ', String(n)));
            }))
            : empty(t('me.stats.none')),
          stats.by_user.length > 1 || (stats.by_user[0] && stats.by_user[0][0] !== meData.user.id)
            ? [el('h3', {}, t('me.stats.by_user')), table([t('me.stats.user'), t('me.stats.count')],
              stats.by_user.map(([user, n]) => el('tr', {}, el('td', {}, user === meData.user.id ? meData.user.name : user), el('td', {}, String(n)))))]
            : null,
          el('h3', {}, t('me.stats.latest')),
          uses.items.length
            ? table([t('common.time'), t('me.stats.document'), t('me.stats.via')], uses.items.map((u) => el('tr', {},
              el('td', {}, fmtTime(u.at)), el('td', { class: 'me-wrap' }, u.document),
              el('td', {}, u.autosign_id ? t('me.stats.via_auto') : (u.grant_id ? t('me.stats.via_grant') : t('me.stats.via_self'))))))
            : empty(t('me.stats.no_uses')));
      } catch (err) { errorLine(out, err); }
    };
    period.addEventListener('change', load);
    load();
    return el('div', {},
      el('label', { for: 'stats-period' }, t('me.stats.period')), period, out,
      el('div', { class: 'actions' }, el('button', { type: 'button', onclick: () => close() }, t('common.close'))));
  });
}

// 手写签名: upload a picture, or draw it on the phone through a one-time link.
let capture = null;

function stopCapture() {
  if (capture) { clearInterval(capture.poll); clearInterval(capture.tick); }
  capture = null;
}

async function startCapture() {
  stopCapture();
  const box = $('#hw-link');
  box.hidden = false;
  put(box, loading());
  try {
    const link = await api('POST', '/me/handwriting-links');
    const qr = el('div', { class: 'qr', role: 'img', 'aria-label': t('me.hw.qr_label') });
    qr.innerHTML = link.qr_svg; // server-made SVG
    const left = el('span', { class: 'me-countdown' });
    const state = el('p', { class: 'muted small', 'aria-live': 'polite' }, el('span', { class: 'spinner' }), ' ', t('me.hw.waiting'));
    put(box, qr,
      el('p', { class: 'small' }, t('me.hw.scan'), ' ', left),
      el('p', { class: 'small me-wrap' }, t('me.hw.or_open'), ' ', el('a', { href: link.url, target: '_blank', rel: 'noopener' }, link.url)),
      state,
      el('div', { class: 'row' }, el('button', { type: 'button', class: 'link', onclick: startCapture }, t('me.hw.new_qr'))));
    const started = now() - 5;
    capture = { token: link.token };
    const tick = () => {
      const s = link.expires_at - now();
      if (s <= 0) {
        stopCapture();
        left.textContent = '';
        put(state, el('span', { class: 'error' }, t('me.hw.expired')));
        return;
      }
      left.textContent = t('me.hw.left', { m: Math.floor(s / 60), s: String(s % 60).padStart(2, '0') });
    };
    tick();
    capture.tick = setInterval(tick, 1000);
    capture.poll = setInterval(async () => {
      if (!capture || capture.token !== link.token || capture.busy) return;
      capture.busy = true;
      try {
        await api('GET', `/handwriting-links/${link.token}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) {
          stopCapture();
          const seals = await loadSeals();
          const fresh = seals.find((s) => s.kind === 'handwriting' && s.created_at >= started);
          put(state, fresh
            ? el('strong', { class: 'me-ok' }, '✓ ', t('me.hw.received'))
            : el('span', { class: 'error' }, t('me.hw.expired')));
          if (fresh) {
            qr.remove();
            left.parentElement.remove();
            box.querySelector('.me-wrap')?.remove();
            toast(t('me.hw.received'));
          }
          return;
        }
      } finally { if (capture) capture.busy = false; }
    }, 3000);
  } catch (err) { errorLine(box, err); }
}

$('#hw-qr').addEventListener('click', startCapture);
$('#seals-refresh').addEventListener('click', loadSeals);

$('#hw-upload-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = $('#hw-upload-error');
  error.hidden = true;
  const file = $('#hw-file').files[0];
  if (!file) { error.textContent = t('me.hw.pick'); error.hidden = false; return; }
  if (file.size > 5 * 1024 * 1024) { error.textContent = t('err.too_large'); error.hidden = false; return; }
  const button = $('#hw-upload');
  button.disabled = true;
  button.textContent = t('common.working');
  try {
    await api('POST', `/me/seals/handwriting?ink=${$('#hw-ink').value}`, file);
    e.target.reset();
    toast(t('me.hw.uploaded'));
    loadSeals();
  } catch (err) { showError(err, error); } finally {
    button.disabled = false;
    button.textContent = t('me.hw.upload');
  }
});

// ---------------------------------------------------------------- 我的组织

function roleText(role) { return tOr(`me.role.${role}`, role); }

function renderOrgs() {
  const box = $('#org-list');
  const acting = meData.acting_for;
  const switchTo = async (orgId) => {
    try {
      await api('PUT', '/me/acting-for', { org_id: orgId });
      await loadMe();
      renderOrgs();
      toast(orgId ? t('me.orgs.now_acting', { org: orgName(orgId) }) : t('me.acting_self'));
    } catch (err) { showError(err); }
  };
  const current = el('span', { class: 'status active' }, t('me.orgs.current'));
  const rows = [el('tr', {},
    el('td', {}, el('strong', {}, meData.user.name || meData.user.phone)),
    el('td', {}, t('me.orgs.personal')), el('td', {}, '—'),
    el('td', {}, acting ? el('button', { type: 'button', onclick: () => switchTo(null) }, t('me.orgs.act_self')) : current.cloneNode(true)))];
  for (const org of meData.orgs) {
    rows.push(el('tr', {},
      el('td', {}, org.name),
      el('td', {}, tOr(`me.org_kind.${org.kind}`, org.kind)),
      el('td', {}, roleText(org.role)),
      el('td', {}, el('div', { class: 'row' },
        acting === org.org_id ? current.cloneNode(true)
          : el('button', { type: 'button', onclick: () => switchTo(org.org_id) }, t('me.orgs.act_for')),
        org.role === 'admin'
          ? el('button', { type: 'button', class: 'link', onclick: () => transferAdmin(org) }, t('me.orgs.transfer'))
          : null))));
  }
  put(box, table([t('common.name'), t('common.type'), t('common.role'), t('common.actions')], rows));
  if (!meData.orgs.length) box.append(el('p', { class: 'muted small' }, t('me.orgs.none')));
}

async function allMembers(orgId) {
  const members = [];
  let cursor = null;
  for (let i = 0; i < 10; i += 1) {
    const page = await api('GET', `/orgs/${orgId}/members?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    members.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return members;
}

async function transferAdmin(org) {
  let members;
  try { members = (await allMembers(org.org_id)).filter((m) => m.user_id !== meData.user.id); } catch (err) { showError(err); return; }
  const chosen = await modal(t('me.orgs.transfer_title', { org: org.name }), (close) => {
    if (!members.length) {
      return el('div', {}, empty(t('me.orgs.transfer_nobody')),
        el('div', { class: 'actions' }, el('button', { type: 'button', onclick: () => close() }, t('common.close'))));
    }
    const select = el('select', { id: 'transfer-to', required: true },
      members.map((m) => el('option', { value: m.user_id }, `${m.name} · ${m.phone} · ${roleText(m.role)}`)));
    return el('form', { onsubmit: (e) => { e.preventDefault(); close(select.value); } },
      el('p', { class: 'muted' }, t('me.orgs.transfer_hint')),
      el('label', { for: 'transfer-to' }, t('me.orgs.transfer_to')), select,
      el('div', { class: 'actions' },
        el('button', { type: 'submit', class: 'danger' }, t('me.orgs.transfer')),
        el('button', { type: 'button', onclick: () => close() }, t('common.cancel'))));
  });
  if (!chosen) return;
  try {
    await api('POST', `/orgs/${org.org_id}/transfer-admin`, { user_id: chosen });
    toast(t('me.orgs.transferred'));
    await loadMe();
    renderOrgs();
  } catch (err) { showError(err); }
}

$('#lookup-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const out = $('#lookup-result');
  const code = $('#lookup-code').value.trim().toUpperCase();
  if (code.length !== 18) { put(out, el('p', { class: 'error' }, t('me.orgs.code_bad'))); return; }
  put(out, loading());
  try {
    const org = await api('GET', `/orgs/lookup?credit_code=${encodeURIComponent(code)}`);
    if (meData.orgs.some((o) => o.org_id === org.id)) {
      put(out, el('p', {}, el('strong', {}, org.name), ' — ', t('me.orgs.already_member')));
      return;
    }
    const message = el('textarea', { id: 'join-message', rows: 2, maxlength: 500 });
    const error = el('p', { class: 'error', hidden: true });
    put(out, el('div', { class: 'me-found' },
      el('p', {}, t('me.orgs.found'), ' ', el('strong', {}, org.name)),
      el('label', { for: 'join-message' }, t('me.orgs.join_message')), message, error,
      el('div', { class: 'actions' }, el('button', {
        type: 'button', class: 'primary',
        onclick: async (ev) => {
          ev.currentTarget.disabled = true;
          try {
            await api('POST', `/orgs/${org.id}/join-requests`, { message: message.value.trim() });
            rememberOrg(org);
            put(out, el('p', { class: 'me-ok' }, '✓ ', t('me.orgs.join_sent', { org: org.name })));
            loadRequests(true);
          } catch (err) { ev.target.disabled = false; showError(err, error); }
        },
      }, t('me.orgs.join_submit')))));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) put(out, el('p', { class: 'error' }, t('me.orgs.not_found')));
    else errorLine(out, err);
  }
});

/** Uploads a licence picture with progress; answers the blob id. */
async function uploadLicence(file, bar) {
  bar.hidden = false;
  const fill = $('div', bar);
  fill.style.width = '0%';
  try {
    const blob = await upload(file, (p) => { fill.style.width = `${Math.round(p * 100)}%`; });
    return blob.id;
  } finally { setTimeout(() => { bar.hidden = true; }, 600); }
}

$('#verify-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = $('#verify-error');
  error.hidden = true;
  const name = $('#v-name').value.trim();
  const creditCode = $('#v-code').value.trim().toUpperCase();
  const legalRep = $('#v-rep').value.trim();
  const file = $('#v-licence').files[0];
  if (!name || !creditCode || !legalRep || !file) { error.textContent = t('me.fill_all'); error.hidden = false; return; }
  if (!['image/png', 'image/jpeg'].includes(file.type)) { error.textContent = t('me.orgs.licence_type'); error.hidden = false; return; }
  const button = $('#v-submit');
  button.disabled = true;
  try {
    const licence = await uploadLicence(file, $('#v-progress'));
    await api('POST', '/org-verifications', { name, credit_code: creditCode, legal_rep: legalRep, licence_blob: licence });
    e.target.reset();
    toast(t('me.orgs.verify_sent'));
    loadRequests(true);
  } catch (err) { showError(err, error); } finally { button.disabled = false; }
});

let requestCursor = null;

// A join request carries no company name, and one may not read a company one is not in: the
// name found by the lookup is remembered on this browser.
const ORG_NAMES = 'qz.me.org-names';
function rememberOrg(org) {
  try {
    const names = JSON.parse(localStorage.getItem(ORG_NAMES) || '{}');
    names[org.id] = org.name;
    localStorage.setItem(ORG_NAMES, JSON.stringify(names));
  } catch { /* storage unavailable */ }
}

function requestOrg(req) {
  if (req.details?.name) return req.details.name;
  const known = meData.orgs.find((o) => o.org_id === req.org_id);
  if (known) return known.name;
  try {
    const names = JSON.parse(localStorage.getItem(ORG_NAMES) || '{}');
    if (names[req.org_id]) return names[req.org_id];
  } catch { /* storage unavailable */ }
  return t('me.req.org_unknown');
}

async function loadRequests(reset) {
  const box = $('#request-list');
  if (reset) { requestCursor = null; put(box, loading()); }
  try {
    const page = await api('GET', `/requests?limit=20${requestCursor ? `&cursor=${encodeURIComponent(requestCursor)}` : ''}`);
    const rows = page.items.map((req) => {
      const actions = [];
      if (req.status === 'pending') {
        actions.push(el('button', {
          type: 'button',
          onclick: async () => {
            if (!await confirmBox(t('me.req.withdraw'), t('me.req.withdraw_text'), t('me.req.withdraw'))) return;
            try { await api('POST', `/requests/${req.id}/withdraw`); toast(t('common.done')); loadRequests(true); } catch (err) { showError(err); }
          },
        }, t('me.req.withdraw')));
      }
      if (req.kind === 'org_verification' && (req.status === 'rejected' || req.status === 'withdrawn')) {
        actions.push(el('button', { type: 'button', class: 'primary', onclick: () => resubmit(req) }, t('me.req.resubmit')));
      }
      const note = req.reason ? el('div', { class: 'error small' }, t('me.req.reason', { reason: req.reason }))
        : (req.details?.message ? el('div', { class: 'muted small' }, req.details.message) : null);
      return el('tr', {},
        el('td', {}, tOr(`me.req.kind.${req.kind}`, req.kind)),
        el('td', {}, requestOrg(req), req.details?.credit_code ? el('div', { class: 'muted small' }, req.details.credit_code) : null, note),
        el('td', {}, chip(req.status, t(`status.${req.status}`))),
        el('td', {}, fmtTime(req.created_at)),
        el('td', {}, el('div', { class: 'row' }, actions)));
    });
    let tbody = $('tbody', box);
    if (reset || !tbody) {
      if (!rows.length) { put(box, empty(t('me.req.none'))); $('#requests-more').hidden = true; return; }
      put(box, table([t('common.type'), t('me.req.org'), t('common.status'), t('me.req.submitted'), t('common.actions')], []));
      tbody = $('tbody', box);
    }
    tbody.append(...rows);
    labelCells(box);
    requestCursor = page.next_cursor || null;
    $('#requests-more').hidden = !requestCursor;
  } catch (err) { errorLine(box, err); }
}

async function resubmit(req) {
  const d = req.details || {};
  const done = await modal(t('me.req.resubmit_title'), (close) => {
    const name = el('input', { id: 'r-name', type: 'text', value: d.name || '', maxlength: 100, required: true });
    const code = el('input', { id: 'r-code', type: 'text', value: d.credit_code || '', maxlength: 18, required: true });
    const rep = el('input', { id: 'r-rep', type: 'text', value: d.legal_rep || '', maxlength: 50, required: true });
    const file = el('input', { id: 'r-licence', type: 'file', accept: 'image/png,image/jpeg' });
    const bar = el('div', { class: 'progress', hidden: true }, el('div'));
    const error = el('p', { class: 'error', role: 'alert', hidden: true });
    const submit = el('button', { type: 'submit', class: 'primary' }, t('me.req.resubmit'));
    return el('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        error.hidden = true;
        submit.disabled = true;
        try {
          const licence = file.files[0] ? await uploadLicence(file.files[0], bar) : d.licence_blob;
          await api('POST', `/requests/${req.id}/resubmit`, {
            name: name.value.trim(), credit_code: code.value.trim().toUpperCase(), legal_rep: rep.value.trim(), licence_blob: licence,
          });
          close(true);
        } catch (err) { submit.disabled = false; showError(err, error); }
      },
    },
    req.reason ? el('p', { class: 'error' }, t('me.req.reason', { reason: req.reason })) : null,
    el('label', { for: 'r-name' }, t('me.orgs.org_name')), name,
    el('label', { for: 'r-code' }, t('me.orgs.credit_code')), code,
    el('label', { for: 'r-rep' }, t('me.orgs.legal_rep')), rep,
    el('label', { for: 'r-licence' }, t('me.req.new_licence')), file,
    el('p', { class: 'muted small' }, t('me.req.keep_licence')), bar, error,
    el('div', { class: 'actions' }, submit, el('button', { type: 'button', onclick: () => close() }, t('common.cancel'))));
  });
  if (done) { toast(t('me.orgs.verify_sent')); loadRequests(true); }
}

$('#requests-refresh').addEventListener('click', () => loadRequests(true));
$('#requests-more').addEventListener('click', () => loadRequests(false));

// ---------------------------------------------------------------- 我的证书

const REVOKE_REASONS = ['keyCompromise', 'cessationOfOperation', 'unspecified'];

function subjectCN(subject) {
  const match = /(?:^|,)\s*CN=([^,]+)/.exec(subject || '');
  return match ? match[1] : subject;
}

async function loadCerts() {
  const box = $('#cert-list');
  put(box, loading());
  put($('#cert-actions'));
  custodyPromise = null;
  try {
    const certs = await custody();
    const cosign = certs.custody === 'cosign';
    put($('#cert-custody'), el('p', { class: 'muted' }, t(cosign ? 'me.certs.custody_cosign' : 'me.certs.custody_hosted')));
    $('#invite-card').hidden = !cosign;
    const verified = meData.identity.status === 'verified';
    if (!certs.items.length) {
      put(box, empty(!verified ? t('me.certs.verify_first') : (cosign ? t('me.certs.none_cosign') : t('me.certs.none'))));
    } else {
      put(box, table(
        [t('me.certs.subject'), t('me.certs.custody'), t('me.certs.algorithm'), t('common.status'), t('me.certs.valid_to'), t('common.actions')],
        certs.items.map((c) => el('tr', {},
          el('td', {}, el('strong', {}, subjectCN(c.subject)), el('div', { class: 'muted small me-wrap' }, t('me.certs.serial', { serial: c.serial }))),
          el('td', {}, tOr(`me.custody.${c.custody}`, c.custody)),
          el('td', {}, c.algorithm.toUpperCase()),
          el('td', {}, c.status === 'active' ? chip('active', t('me.certs.active'))
            : chip(c.revoke_reason === 4 ? 'superseded' : 'revoked', tOr(`me.certs.reason.${c.revoke_reason}`, t('me.certs.revoked'))),
          c.revoked_at ? el('div', { class: 'muted small' }, fmtTime(c.revoked_at)) : null),
          el('td', {}, fmtDate(c.not_after)),
          el('td', {}, el('div', { class: 'row' },
            el('button', { type: 'button', class: 'link', onclick: () => downloadText(`certificate-${c.serial}.pem`, c.pem) }, t('me.certs.download')),
            c.status === 'active' ? el('button', { type: 'button', class: 'link me-danger', onclick: () => revokeCert(c) }, t('me.certs.revoke')) : null))))));
    }
    if (verified && !cosign) {
      put($('#cert-actions'), el('button', { type: 'button', class: 'primary', onclick: reissue }, t('me.certs.reissue')));
    }
    if (!verified) {
      put($('#cert-actions'), el('a', { class: 'button primary', href: '/identity' }, t('me.profile.identity_go')));
    }
  } catch (err) { errorLine(box, err); }
}

/** A dialog asking for the SMS code of purpose `sign`, sent to the account's phone. */
function askSignCode(title, intro, okText, extra = null) {
  return modal(title, (close) => {
    const code = el('input', { id: 'sign-code', type: 'text', inputmode: 'numeric', maxlength: 6, autocomplete: 'one-time-code', required: true });
    const send = el('button', { type: 'button', onclick: (e) => sendCode(e.currentTarget, { purpose: 'sign' }) }, t('common.send_code'));
    const error = el('p', { class: 'error', role: 'alert', hidden: true });
    return el('form', {
      onsubmit: (e) => {
        e.preventDefault();
        if (!/^\d{6}$/.test(code.value.trim())) { error.textContent = t('me.code_needed'); error.hidden = false; return; }
        close({ code: code.value.trim(), extra: extra?.value });
      },
    },
    el('p', { class: 'muted' }, intro),
    extra ? [el('label', { for: extra.id }, extra.label), extra.node] : null,
    el('label', { for: 'sign-code' }, t('me.code_to', { phone: meData.user.phone })),
    el('div', { class: 'field-row' }, code, send), error,
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary' }, okText),
      el('button', { type: 'button', onclick: () => close() }, t('common.cancel'))));
  });
}

async function reissue() {
  const answer = await askSignCode(t('me.certs.reissue'), t('me.certs.reissue_hint'), t('me.certs.reissue'));
  if (!answer) return;
  try {
    await api('POST', '/me/certificates/reissue', { code: answer.code });
    toast(t('me.certs.reissued'));
    loadCerts();
  } catch (err) { showError(err); }
}

async function revokeCert(cert) {
  const reason = await modal(t('me.certs.revoke'), (close) => {
    const select = el('select', { id: 'revoke-reason' },
      REVOKE_REASONS.map((r) => el('option', { value: r }, t(`me.certs.why.${r}`))));
    return el('form', { onsubmit: (e) => { e.preventDefault(); close(select.value); } },
      el('p', {}, t('me.certs.revoke_text')),
      el('label', { for: 'revoke-reason' }, t('common.reason')), select,
      el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'danger' }, t('me.certs.revoke')),
        el('button', { type: 'button', onclick: () => close() }, t('common.cancel'))));
  });
  if (!reason) return;
  try {
    await api('POST', `/certificates/${cert.id}/revoke`, { reason });
    toast(t('common.done'));
    loadCerts();
  } catch (err) { showError(err); }
}

let inviteTimer = null;
$('#invite-new').addEventListener('click', async (e) => {
  const box = $('#invite-box');
  const button = e.currentTarget;
  button.disabled = true;
  clearInterval(inviteTimer);
  box.hidden = false;
  put(box, loading());
  try {
    const inv = await api('POST', '/me/cosign/invitations');
    const qr = el('div', { class: 'qr', role: 'img', 'aria-label': t('me.invite.qr_label') });
    qr.innerHTML = inv.qr_svg; // server-made SVG
    const left = el('span', { class: 'me-countdown' });
    const server = new URL(inv.url).origin;
    put(box, el('div', { class: 'me-invite' },
      qr,
      el('div', {},
        el('p', { class: 'muted small' }, t('me.invite.code')),
        el('p', { class: 'me-code', 'aria-label': inv.code.split('').join(' ') }, inv.code.replace(/(.{4})(?=.)/g, '$1 ')),
        el('p', { class: 'small' }, t('me.invite.valid'), ' ', left),
        el('p', { class: 'small me-wrap' }, t('me.invite.open'), ' ', el('a', { href: inv.url, target: '_blank', rel: 'noopener' }, inv.url)))),
    el('h3', {}, t('me.invite.tool')),
    el('p', { class: 'muted small' }, t('me.invite.tool_hint')),
    command(`mkdir -p ~/qz-cosign\nread -rsp 'Certificate password: ' QZ_CERT_PASSWORD && echo && export QZ_CERT_PASSWORD\nqz cosign enroll --server ${server} --code ${inv.code} --password-env QZ_CERT_PASSWORD --out ~/qz-cosign/me`));
    const tick = () => {
      const s = inv.expires_at - now();
      if (s <= 0) { clearInterval(inviteTimer); left.textContent = t('me.invite.expired'); return; }
      left.textContent = t('me.hw.left', { m: Math.floor(s / 60), s: String(s % 60).padStart(2, '0') });
    };
    tick();
    inviteTimer = setInterval(tick, 1000);
  } catch (err) { errorLine(box, err); } finally { button.disabled = false; }
});

// ---------------------------------------------------------------- 授权与自动签署

function windowText(from, to) {
  return `${fmtDate(from)} – ${fmtDate(to - 1)}`;
}

function grantState(g) {
  if (g.revoked_at) return chip('revoked', t('status.revoked'));
  if (now() >= g.not_after) return chip('expired', t('status.expired'));
  if (now() < g.not_before) return chip('pending', t('me.grants.not_yet'));
  return chip('active', t('status.active'));
}

async function loadGrants() {
  const box = $('#grant-list');
  put(box, loading());
  try {
    const grants = await api('GET', '/me/grants');
    if (!grants.length) { put(box, empty(t('me.grants.none'))); return; }
    const seals = await Promise.all(grants.map((g) => sealOf(g.seal_id)));
    put(box, table([t('me.grants.seal'), t('common.org'), t('me.grants.window'), t('me.grants.scope'), t('common.status')],
      grants.map((g, i) => el('tr', {},
        el('td', {}, seals[i]?.name || g.seal_id),
        el('td', {}, orgName(g.org_id)),
        el('td', {}, windowText(g.not_before, g.not_after)),
        el('td', {}, g.scope.length ? g.scope.join('、') : t('me.grants.all_types')),
        el('td', {}, grantState(g))))));
  } catch (err) { errorLine(box, err); }
}

async function fillGrantOrgs() {
  const orgs = $('#greq-org');
  const seals = $('#greq-seal');
  $('#greq-form').hidden = !meData.orgs.length;
  $('#greq-need-org').hidden = meData.orgs.length > 0;
  if (!meData.orgs.length) return;
  const keep = orgs.value;
  put(orgs, ...meData.orgs.map((o) => el('option', { value: o.org_id, selected: o.org_id === keep }, o.name)));
  if (!$('#greq-from').value) $('#greq-from').value = today();
  if (!$('#greq-to').value) $('#greq-to').value = today(30);
  await fillGrantSeals();
}

async function fillGrantSeals() {
  const seals = $('#greq-seal');
  const org = $('#greq-org').value;
  if (!org) return;
  put(seals, el('option', { value: '' }, t('common.loading')));
  try {
    const list = (await api('GET', `/orgs/${org}/seals`)).filter((s) => s.status === 'enabled');
    put(seals, ...(list.length
      ? list.map((s) => el('option', { value: s.id }, s.name))
      : [el('option', { value: '' }, t('me.greq.no_seal'))]));
  } catch (err) {
    put(seals, el('option', { value: '' }, t('me.greq.no_seal')));
    showError(err);
  }
}

$('#greq-org').addEventListener('change', fillGrantSeals);

$('#greq-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = $('#greq-error');
  error.hidden = true;
  const org = $('#greq-org').value;
  const seal = $('#greq-seal').value;
  const from = $('#greq-from').value;
  const to = $('#greq-to').value;
  const note = $('#greq-note').value.trim();
  if (!org || !seal || !from || !to || !note) { error.textContent = t('me.fill_all'); error.hidden = false; return; }
  if (to < from) { error.textContent = t('me.greq.bad_window'); error.hidden = false; return; }
  const body = {
    seal_id: seal,
    not_after: dayStart(to) + DAY,
    scope: $('#greq-scope').value.split(/[,，、;；]/).map((s) => s.trim()).filter(Boolean),
    note,
  };
  if (from > today()) body.not_before = dayStart(from);
  const button = $('#greq-submit');
  button.disabled = true;
  try {
    await api('POST', `/orgs/${org}/grant-requests`, body);
    $('#greq-note').value = '';
    $('#greq-scope').value = '';
    toast(t('me.greq.sent'));
    loadGrantRequests();
  } catch (err) { showError(err, error); } finally { button.disabled = false; }
});

const memberNames = new Map();
async function nameIn(orgId, userId) {
  if (!memberNames.has(orgId)) {
    memberNames.set(orgId, allMembers(orgId).then((list) => new Map(list.map((m) => [m.user_id, m.name]))).catch(() => new Map()));
  }
  return (await memberNames.get(orgId)).get(userId) || userId;
}

async function loadGrantRequests() {
  const box = $('#greq-list');
  put(box, loading());
  try {
    const all = await api('GET', '/grant-requests');
    const mine = all.filter((r) => r.applicant === meData.user.id);
    const decide = all.filter((r) => r.applicant !== meData.user.id && r.status === 'pending');
    const seals = new Map();
    await Promise.all(all.map(async (r) => seals.set(r.seal_id, await sealOf(r.seal_id))));
    const sealName = (r) => seals.get(r.seal_id)?.name || r.seal_id;
    const parts = [];
    if (!mine.length) parts.push(empty(t('me.greq.none')));
    else {
      parts.push(table([t('me.grants.seal'), t('me.grants.window'), t('me.greq.note'), t('common.status'), t('common.actions')],
        mine.map((r) => el('tr', {},
          el('td', {}, sealName(r), el('div', { class: 'muted small' }, orgName(r.org_id))),
          el('td', {}, windowText(r.not_before, r.not_after), r.scope.length ? el('div', { class: 'muted small' }, r.scope.join('、')) : null),
          el('td', { class: 'me-wrap' }, r.note, r.reason ? el('div', { class: 'error small' }, t('me.req.reason', { reason: r.reason })) : null),
          el('td', {}, chip(r.status, t(`status.${r.status}`))),
          el('td', {}, r.status === 'pending' ? el('button', {
            type: 'button',
            onclick: async () => {
              try { await api('POST', `/grant-requests/${r.id}/withdraw`); toast(t('common.done')); loadGrantRequests(); } catch (err) { showError(err); }
            },
          }, t('me.req.withdraw')) : null)))));
    }
    if (decide.length) {
      const names = await Promise.all(decide.map((r) => nameIn(r.org_id, r.applicant)));
      parts.push(el('h3', {}, t('me.greq.to_decide')), table(
        [t('me.greq.applicant'), t('me.grants.seal'), t('me.grants.window'), t('me.greq.note'), t('common.actions')],
        decide.map((r, i) => el('tr', {},
          el('td', {}, names[i]),
          el('td', {}, sealName(r)),
          el('td', {}, windowText(r.not_before, r.not_after)),
          el('td', { class: 'me-wrap' }, r.note),
          el('td', {}, el('div', { class: 'row' },
            el('button', {
              type: 'button', class: 'primary',
              onclick: async () => {
                try { await api('POST', `/grant-requests/${r.id}/approve`); toast(t('common.done')); loadGrantRequests(); } catch (err) { showError(err); }
              },
            }, t('common.approve')),
            el('button', {
              type: 'button', class: 'danger',
              onclick: async () => {
                const reason = await askReason(t('common.reject'), t('common.reason'));
                if (!reason) return;
                try { await api('POST', `/grant-requests/${r.id}/reject`, { reason }); toast(t('common.done')); loadGrantRequests(); } catch (err) { showError(err); }
              },
            }, t('common.reject'))))))));
    }
    put(box, ...parts);
  } catch (err) { errorLine(box, err); }
}

const AUTOSIGN_HOURS = [24, 72, 168, 720, 2160, 4320];

function hoursText(h) {
  return h % 24 === 0 ? t('me.auto.days', { n: h / 24 }) : t('me.auto.hours', { n: h });
}

async function loadAutosign() {
  const state = $('#autosign-state');
  const enable = $('#autosign-enable');
  put(state, loading());
  put(enable);
  try {
    const [grants, certs, uses] = await Promise.all([api('GET', '/me/autosign'), custody(), api('GET', '/me/autosign/uses?limit=10')]);
    const live = grants.find((g) => !g.revoked_at && g.not_before <= now() && now() < g.not_after);
    const revoke = (g) => async () => {
      if (!await confirmBox(t('me.auto.off'), t('me.auto.off_text'), t('me.auto.off'), true)) return;
      try { await api('POST', `/me/autosign/${g.id}/revoke`); toast(t('me.auto.turned_off')); loadAutosign(); } catch (err) { showError(err); }
    };
    put(state, live
      ? el('div', { class: 'me-switch on' }, el('strong', {}, t('me.auto.on_until', { time: fmtTime(live.not_after) })),
        el('span', { class: 'muted small' }, tOr(`me.auto.evidence.${live.evidence}`, live.evidence)),
        el('button', { type: 'button', class: 'danger', onclick: revoke(live) }, t('me.auto.off')))
      : el('div', { class: 'me-switch' }, el('strong', {}, t('me.auto.is_off'))));
    const verified = meData.identity.status === 'verified';
    if (!verified) {
      put(enable, el('p', { class: 'muted' }, t('me.certs.verify_first'), ' ', el('a', { href: '/identity' }, t('me.profile.identity_go'))));
    } else if (certs.custody === 'cosign') {
      put(enable, el('p', {}, t('me.auto.cosign_hint')),
        el('p', { class: 'muted small' }, t('me.auto.cosign_how')),
        command(`qz cosign autosign --key ~/qz-cosign/me --password-env QZ_CERT_PASSWORD --session-env QZ_SESSION --csrf-env QZ_CSRF --hours 24`),
        el('p', { class: 'small' }, el('a', { href: '/m/certificate' }, t('me.auto.companion'))));
    } else {
      const select = el('select', { id: 'auto-hours' }, AUTOSIGN_HOURS.map((h) => el('option', { value: h }, hoursText(h))));
      put(enable, el('div', { class: 'actions' }, el('button', {
        type: 'button', class: 'primary',
        onclick: async () => {
          const answer = await askSignCode(live ? t('me.auto.renew') : t('me.auto.on'), t('me.auto.on_hint'), t('me.auto.on'),
            { id: 'auto-hours', label: t('me.auto.window'), node: select, get value() { return select.value; } });
          if (!answer) return;
          try {
            await api('POST', '/me/autosign', { hours: Number(answer.extra), code: answer.code });
            toast(t('me.auto.turned_on'));
            loadAutosign();
          } catch (err) { showError(err); }
        },
      }, live ? t('me.auto.renew') : t('me.auto.on'))));
    }
    put($('#autosign-list'), grants.length
      ? table([t('me.grants.window'), t('me.auto.how'), t('common.status'), t('common.actions')], grants.map((g) => el('tr', {},
        el('td', {}, `${fmtTime(g.not_before)} – ${fmtTime(g.not_after)}`),
        el('td', {}, tOr(`me.auto.evidence.${g.evidence}`, g.evidence)),
        el('td', {}, grantState(g)),
        el('td', {}, !g.revoked_at && now() < g.not_after ? el('button', { type: 'button', class: 'link me-danger', onclick: revoke(g) }, t('common.revoke')) : null))))
      : empty(t('me.auto.none')));
    put($('#autosign-uses'), uses.items.length
      ? table([t('common.time'), t('me.stats.document')], uses.items.map((u) => el('tr', {}, el('td', {}, fmtTime(u.at)), el('td', { class: 'me-wrap' }, u.document))))
      : empty(t('me.auto.no_uses')));
  } catch (err) { errorLine(state, err); }
}

// ---------------------------------------------------------------- 待确认签署

const flowTitles = new Map();
function flowTitle(id) {
  if (!flowTitles.has(id)) flowTitles.set(id, api('GET', `/flows/${id}`).then((f) => f.title).catch(() => id));
  return flowTitles.get(id);
}

async function loadPending() {
  const box = $('#pending-list');
  put(box, loading());
  try {
    const list = await api('GET', '/me/pending-signatures');
    setBadge('#pending-count', list.length);
    if (!list.length) { put(box, empty(t('me.pending.none'))); return; }
    const titles = await Promise.all(list.map((p) => flowTitle(p.flow_id)));
    put(box, table([t('me.pending.flow'), t('me.pending.method'), t('me.pending.docs'), t('me.pending.requested'), t('me.pending.expires'), t('common.actions')],
      list.map((p, i) => el('tr', {},
        el('td', {}, el('a', { href: `/flows/${p.flow_id}` }, titles[i])),
        el('td', {}, tOr(`me.pending.by.${p.method}`, p.method)),
        el('td', {}, String(p.documents.length)),
        el('td', {}, fmtTime(p.created_at)),
        el('td', {}, fmtTime(p.expires_at)),
        el('td', {}, el('div', { class: 'row' },
          p.method === 'cosign' ? el('a', { class: 'button', href: '/m/certificate' }, t('me.pending.confirm_phone')) : null,
          el('button', {
            type: 'button', class: 'danger',
            onclick: async () => {
              if (!await confirmBox(t('me.pending.cancel'), t('me.pending.cancel_text'), t('me.pending.cancel'), true)) return;
              try { await api('POST', `/pending-signatures/${p.id}/cancel`); toast(t('common.done')); loadPending(); } catch (err) { showError(err); }
            },
          }, t('me.pending.cancel'))))))),
    el('h3', {}, t('me.pending.how')),
    list.some((p) => p.method === 'cosign') ? [el('p', { class: 'small' }, t('me.pending.how_cosign')),
      command('qz cosign confirm --key ~/qz-cosign/me --password-env QZ_CERT_PASSWORD --session-env QZ_SESSION --csrf-env QZ_CSRF')] : null,
    list.some((p) => p.method === 'token') ? [el('p', { class: 'small' }, t('me.pending.how_token')),
      command(`qz token sign-pending --server ${location.origin} --pkcs11-module /path/to/token.so --session-env QZ_SESSION --csrf-env QZ_CSRF`)] : null);
  } catch (err) { errorLine(box, err); }
}

$('#pending-refresh').addEventListener('click', loadPending);

function setBadge(selector, n) {
  const badge = $(selector);
  badge.textContent = String(n);
  badge.hidden = !n;
}

// ---------------------------------------------------------------- 消息

let msgCursor = null;
const unread = new Set();

function messageRow(m) {
  const item = el('li', { class: m.read_at ? 'me-msg' : 'me-msg unread' });
  const mark = el('button', {
    type: 'button', class: 'link small',
    onclick: async () => {
      try {
        await api('POST', `/me/messages/${m.id}/read`);
        item.classList.remove('unread');
        mark.remove();
        unread.delete(m.id);
        setBadge('#unread-count', unread.size);
      } catch (err) { showError(err); }
    },
  }, t('me.msg.mark_read'));
  if (!m.read_at) unread.add(m.id);
  item.append(
    el('div', { class: 'spread' }, el('strong', {}, m.subject || t('me.msg.untitled')), el('span', { class: 'muted small' }, fmtTime(m.created_at))),
    el('p', { class: 'me-wrap' }, m.body),
    m.read_at ? null : mark);
  return item;
}

async function loadMessages(reset) {
  const box = $('#msg-list');
  if (reset) { msgCursor = null; unread.clear(); put(box, loading()); }
  try {
    const page = await api('GET', `/me/messages?limit=20${msgCursor ? `&cursor=${encodeURIComponent(msgCursor)}` : ''}`);
    let list = $('ul', box);
    if (reset || !list) {
      if (!page.items.length) { put(box, empty(t('me.msg.none'))); $('#msg-more').hidden = true; setBadge('#unread-count', 0); return; }
      list = el('ul', { class: 'me-msgs' });
      put(box, list);
    }
    list.append(...page.items.map(messageRow));
    msgCursor = page.next_cursor || null;
    $('#msg-more').hidden = !msgCursor;
    setBadge('#unread-count', unread.size);
  } catch (err) { errorLine(box, err); }
}

$('#msg-more').addEventListener('click', () => loadMessages(false));
$('#msg-all-read').addEventListener('click', async () => {
  try {
    await Promise.all([...unread].map((id) => api('POST', `/me/messages/${id}/read`)));
    loadMessages(true);
  } catch (err) { showError(err); }
});

// ---------------------------------------------------------------- 账号日志

let trailCursor = null;

function trailDetails(text) {
  if (!text) return null;
  let shown = text;
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === 'object') {
      const value = (k, v) => {
        if (typeof v === 'number' && v > 1e9 && /(_at|^not_|expires|until)/.test(k)) return fmtTime(v);
        return typeof v === 'object' ? JSON.stringify(v) : v;
      };
      shown = Object.entries(parsed).filter(([, v]) => v !== null && v !== '').map(([k, v]) => `${k}: ${value(k, v)}`).join(' · ');
    }
  } catch { /* plain text */ }
  return el('div', { class: 'muted small me-wrap' }, shown.length > 200 ? `${shown.slice(0, 200)}…` : shown);
}

async function loadTrail(reset) {
  const box = $('#trail-list');
  if (reset) { trailCursor = null; put(box, loading()); }
  try {
    const page = await api('GET', `/me/trail?limit=30${trailCursor ? `&cursor=${encodeURIComponent(trailCursor)}` : ''}`);
    let tbody = $('tbody', box);
    if (reset || !tbody) {
      if (!page.items.length) { put(box, empty(t('me.trail.none'))); $('#trail-more').hidden = true; return; }
      put(box, table([t('common.time'), t('me.trail.action'), t('me.trail.ip')], []));
      tbody = $('tbody', box);
    }
    tbody.append(...page.items.map((ev) => el('tr', {},
      el('td', { class: 'me-nowrap' }, fmtTime(ev.at)),
      el('td', {}, tOr(`me.act.${ev.action}`, ev.action), trailDetails(ev.details)),
      el('td', {}, ev.ip || '—'))));
    labelCells(box);
    trailCursor = page.next_cursor || null;
    $('#trail-more').hidden = !trailCursor;
  } catch (err) { errorLine(box, err); }
}

$('#trail-more').addEventListener('click', () => loadTrail(false));

// ---------------------------------------------------------------- tabs

const loaders = {
  profile: () => renderProfile(),
  seals: () => loadSeals(),
  orgs: () => { renderOrgs(); loadRequests(true); },
  certs: () => loadCerts(),
  grants: () => { loadGrants(); fillGrantOrgs(); loadGrantRequests(); loadAutosign(); },
  pending: () => loadPending(),
  messages: () => loadMessages(true),
  trail: () => loadTrail(true),
};

function show(name) {
  for (const panel of $$('.me-panel')) panel.hidden = panel.id !== `panel-${name}`;
  if (name !== 'seals') stopCapture();
  if (location.hash.slice(1) !== name) history.replaceState(null, '', `#${name}`);
  loaders[name]?.();
}

const select = tabs($('#me-tabs'), show);
const fromHash = () => (location.hash.slice(1) in loaders ? location.hash.slice(1) : 'profile');
window.addEventListener('hashchange', () => select(fromHash()));

(async () => {
  try {
    await loadMe();
  } catch (err) {
    showError(err, $('#profile-info'));
    return;
  }
  select(fromHash());
  // Badges: what waits on the phone and the unread messages.
  api('GET', '/me/pending-signatures').then((list) => setBadge('#pending-count', list.length)).catch(() => {});
  api('GET', '/me/messages?limit=100').then((page) => setBadge('#unread-count', page.items.filter((m) => !m.read_at).length)).catch(() => {});
})();
