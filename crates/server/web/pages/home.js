import { $, $$, api, askReason, el, empty, fmtDate, fmtTime, showError, statusChip, t, tabs, toast } from '/static/core.js';

let view = 'todo';
let cursor = null;
const selected = new Set();

async function counts() {
  try {
    const all = await api('GET', '/flows/counts');
    for (const badge of $$('[data-count]')) badge.textContent = all[badge.dataset.count] ?? 0;
  } catch (err) { showError(err); }
}

function row(flow) {
  const link = el('a', { href: view === 'todo' ? `/flows/${flow.id}/sign` : `/flows/${flow.id}` }, flow.title);
  const batchable = view === 'initiated' || view === 'waiting_others' || view === 'completed';
  const box = batchable ? el('input', {
    type: 'checkbox', 'aria-label': t('inbox.select', { title: flow.title }),
    onchange: (e) => { if (e.target.checked) selected.add(flow.id); else selected.delete(flow.id); },
  }) : null;
  return el('tr', {},
    batchable ? el('td', { 'data-label': '' }, box) : null,
    el('td', { 'data-label': t('inbox.subject') }, link, flow.business_type ? el('div', { class: 'muted small' }, flow.business_type) : null),
    el('td', { 'data-label': t('common.status') }, statusChip(flow.status)),
    el('td', { 'data-label': t('inbox.sent_at') }, fmtTime(flow.created_at)),
    el('td', { 'data-label': t('inbox.deadline') }, flow.deadline ? fmtDate(flow.deadline - 1) : t('inbox.no_deadline')),
    el('td', { 'data-label': '' }, view === 'todo'
      ? el('a', { class: 'button primary', href: `/flows/${flow.id}/sign` }, t('inbox.sign'))
      : el('a', { class: 'button', href: `/flows/${flow.id}` }, t('common.view'))));
}

async function load(reset) {
  const box = $('#inbox');
  if (reset) {
    cursor = null;
    selected.clear();
    box.replaceChildren(el('p', { class: 'muted' }, el('span', { class: 'spinner' }), ' ', t('common.loading')));
  }
  $('#batch').hidden = !['initiated', 'waiting_others', 'completed'].includes(view);
  try {
    const page = await api('GET', `/flows?box=${view}&limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    let table = $('table', box);
    if (reset || !table) {
      if (!page.items.length) {
        box.replaceChildren(empty(t(`inbox.empty.${view}`)));
        $('#more').hidden = true;
        return;
      }
      const batchable = !$('#batch').hidden;
      table = el('table', { class: 'list stack' },
        el('thead', {}, el('tr', {},
          batchable ? el('th', {}, '') : null,
          el('th', {}, t('inbox.subject')), el('th', {}, t('common.status')), el('th', {}, t('inbox.sent_at')),
          el('th', {}, t('inbox.deadline')), el('th', {}, t('common.actions')))),
        el('tbody'));
      box.replaceChildren(table);
    }
    $('tbody', table).append(...page.items.map(row));
    cursor = page.next_cursor || null;
    $('#more').hidden = !cursor;
  } catch (err) {
    showError(err, box);
  }
}

async function batch(path, body, doneKey) {
  if (!selected.size) { toast(t('inbox.select_first'), true); return; }
  try {
    const out = await api('POST', path, { ...body, ids: [...selected] });
    const failed = (Array.isArray(out) ? out : []).filter((r) => r.error);
    toast(failed.length ? t('inbox.batch_partial', { n: failed.length }) : t(doneKey), failed.length > 0);
    await Promise.all([load(true), counts()]);
  } catch (err) { showError(err); }
}

$('#batch-remind').addEventListener('click', () => batch('/flows/remind', {}, 'inbox.reminded'));
$('#batch-revoke').addEventListener('click', async () => {
  if (!selected.size) { toast(t('inbox.select_first'), true); return; }
  const reason = await askReason(t('inbox.batch_revoke'), t('common.reason'));
  if (reason) await batch('/flows/revoke', { reason }, 'inbox.revoked');
});
$('#batch-download').addEventListener('click', async () => {
  if (!selected.size) { toast(t('inbox.select_first'), true); return; }
  try {
    const response = await api('POST', '/flows/download', { ids: [...selected] }, { raw: true });
    const url = URL.createObjectURL(await response.blob());
    el('a', { href: url, download: 'qianzhang.zip' }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) { showError(err); }
});
$('#more').addEventListener('click', () => load(false));
tabs($('#inbox-tabs'), (name) => { view = name; load(true); });

(async () => {
  load(true);
  counts();
  try {
    const identity = await api('GET', '/me/identity');
    $('#identity-banner').hidden = identity.status === 'verified';
    const pending = await api('GET', '/me/pending-signatures');
    const open = (Array.isArray(pending) ? pending : []).filter((p) => p.status === 'pending');
    if (open.length) {
      $('#pending-text').textContent = t('home.pending', { n: open.length });
      $('#pending-banner').hidden = false;
    }
  } catch (err) { showError(err); }
})();
