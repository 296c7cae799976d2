// Flow detail (签署详情): information, signers and their state, documents (download, page
// images), the trail, and the initiator's actions (remind, revoke, report, document
// revocation).

import { $, api, askReason, el, fmtDate, fmtTime, me, showError, statusChip, t, toast } from '/static/core.js';
import { showPages } from '/static/viewer.js';

const flowId = $('#flow-root').dataset.flow;
let flow = null;

const name = (id) => (id && flow.names?.[id]) || id || '';

async function download(path, filename) {
  try {
    const response = await api('GET', path, undefined, { raw: true });
    const url = URL.createObjectURL(await response.blob());
    el('a', { href: url, download: filename }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) { showError(err); }
}

function info() {
  const rows = [
    [t('flow.status'), statusChip(flow.status)],
    [t('flow.initiator'), name(flow.initiator) + (flow.acting_for ? `（${name(flow.acting_for)}）` : '')],
    [t('start.business_type'), flow.business_type || '—'],
    [t('flow.created'), fmtTime(flow.created_at)],
    [t('start.deadline'), flow.deadline ? fmtDate(flow.deadline - 1) : t('inbox.no_deadline')],
  ];
  if (flow.ended_at) rows.push([t('flow.ended'), fmtTime(flow.ended_at)]);
  if (flow.reason) rows.push([t('common.reason'), flow.reason]);
  $('#flow-info').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function signers() {
  $('#flow-signers').replaceChildren(
    el('thead', {}, el('tr', {}, el('th', {}, t('flow.party')), el('th', {}, t('common.status')), el('th', {}, t('flow.signed_at')))),
    el('tbody', {}, ...flow.signers.map((s, i) => el('tr', { dataset: { signer: s.id } },
      el('td', { 'data-label': t('flow.party') }, `${i + 1}. `, s.org_id ? `${name(s.org_id)}` : name(s.user_id),
        s.org_id ? el('span', { class: 'muted small' }, ` ${t('common.org')}`) : null,
        s.signed_by && s.org_id ? el('div', { class: 'muted small' }, t('flow.signed_by', { name: name(s.signed_by) })) : null,
        s.reason ? el('div', { class: 'muted small' }, `${t('common.reason')}：${s.reason}`) : null),
      el('td', { 'data-label': t('common.status') }, statusChip(s.status)),
      el('td', { 'data-label': t('flow.signed_at') }, fmtTime(s.ended_at))))));
}

async function showDocument(doc) {
  const box = $('#flow-pages');
  box.replaceChildren(el('p', { class: 'muted' }, el('span', { class: 'spinner' }), ' ', t('common.loading')));
  try {
    const sizes = await api('GET', `/flows/${flowId}/documents/${doc.idx}/pages`);
    showPages(box, sizes, (page, width) => `/api/v1/flows/${flowId}/documents/${doc.idx}/pages/${page}?width=${width}&v=${doc.version}`);
    box.scrollIntoView({ behavior: 'smooth' });
  } catch (err) { showError(err, box); }
}

function documents() {
  const initiator = flow.initiator === me?.id;
  $('#flow-documents').replaceChildren(
    el('thead', {}, el('tr', {}, el('th', {}, t('flow.document')), el('th', {}, t('flow.signatures')), el('th', {}, 'SHA-256'), el('th', {}, t('common.actions')))),
    el('tbody', {}, ...flow.documents.map((d) => el('tr', {},
      el('td', { 'data-label': t('flow.document') }, d.name),
      el('td', { 'data-label': t('flow.signatures') }, String(d.version)),
      el('td', { class: 'small muted', 'data-label': 'SHA-256' }, `${d.current_sha256.slice(0, 16)}…`),
      el('td', { class: 'row', 'data-label': '' },
        el('button', { type: 'button', onclick: () => showDocument(d) }, t('flow.preview')),
        el('button', { type: 'button', class: 'download-doc', onclick: () => download(`/flows/${flowId}/documents/${d.idx}`, d.name.replace(/\.(docx?|pdf)$/i, '') + '.pdf') }, t('common.download')),
        initiator && flow.status === 'completed' ? el('button', {
          type: 'button', class: 'danger', onclick: async () => {
            const reason = await askReason(t('flow.revoke_document'), t('common.reason'));
            if (!reason) return;
            try { await api('POST', `/flows/${flowId}/documents/${d.idx}/revoke`, { reason }); toast(t('flow.document_revoked')); } catch (err) { showError(err); }
          },
        }, t('flow.revoke_document')) : null)))));
}

async function trail() {
  try {
    const events = await api('GET', `/flows/${flowId}/trail`);
    $('#flow-trail').replaceChildren(...events.map((e) => el('li', {},
      el('div', {}, el('strong', {}, t(`trail.${e.action}`) === `trail.${e.action}` ? e.action : t(`trail.${e.action}`)), ' ', e.actor ? name(e.actor) : ''),
      el('div', { class: 'muted small' }, fmtTime(e.at), e.ip ? ` · IP ${e.ip}` : ''))));
    if (!events.length) $('#flow-trail').replaceChildren(el('li', {}, t('common.none')));
  } catch (err) { showError(err, $('#flow-trail')); }
}

async function actions(myOrgs) {
  const box = $('#flow-actions');
  const running = flow.status === 'in_progress';
  const waiting = flow.signers.filter((s) => s.status === 'waiting');
  const stage = Math.min(...waiting.map((s) => s.stage));
  const myTurn = running && waiting.some((s) => s.stage === stage && (s.user_id === me?.id || (s.org_id && myOrgs.includes(s.org_id))));
  const initiator = flow.initiator === me?.id;
  box.replaceChildren(...[
    myTurn ? el('a', { class: 'button primary', href: `/flows/${flowId}/sign`, id: 'go-sign' }, t('inbox.sign')) : null,
    initiator && running ? el('button', {
      type: 'button', onclick: async () => {
        try {
          const out = await api('POST', `/flows/${flowId}/remind`);
          toast((out.reminded || []).length ? t('inbox.reminded') : t('flow.remind_later'));
        } catch (err) { showError(err); }
      },
    }, t('flow.remind')) : null,
    initiator && running ? el('button', {
      type: 'button', class: 'danger', onclick: async () => {
        const reason = await askReason(t('flow.revoke'), t('common.reason'));
        if (!reason) return;
        try { await api('POST', `/flows/${flowId}/revoke`, { reason }); toast(t('inbox.revoked')); load(); } catch (err) { showError(err); }
      },
    }, t('flow.revoke')) : null,
    el('button', { type: 'button', id: 'download-zip', onclick: () => download(`/flows/${flowId}/documents.zip`, `${flow.title}.zip`) }, t('flow.download_all')),
    flow.status === 'completed' ? el('button', { type: 'button', id: 'download-report', onclick: () => download(`/flows/${flowId}/report`, `${flow.title}-签署报告.pdf`) }, t('flow.report')) : null,
  ].filter(Boolean));
}

async function load() {
  try {
    const [loaded, mine] = await Promise.all([api('GET', `/flows/${flowId}`), api('GET', '/me')]);
    flow = loaded;
    $('#flow-title').textContent = flow.title;
    document.title = `${flow.title} · ${t('brand')}`;
    info();
    signers();
    documents();
    await actions((mine.orgs || []).map((o) => o.org_id));
    $('#flow-loading').hidden = true;
    $('#flow-body').hidden = false;
    trail();
  } catch (err) {
    showError(err, $('#flow-loading'));
  }
}

load();
