// 管理后台: the platform administrators' console. One tab per section; each panel is built and
// loaded the first time it is opened, and has its own refresh.
import { $, $$, api, confirmBox, el, empty, fmtDate, fmtTime, me, modal, showError, statusChip, t, tabs, toast } from '/static/core.js';

// ------------------------------------------------------------------ small helpers

/** A query string from the defined values. */
function qs(params) {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') s.set(k, v);
  const text = s.toString();
  return text ? `?${text}` : '';
}

const enc = encodeURIComponent;
const loading = () => el('p', { class: 'muted', role: 'status' }, el('span', { class: 'spinner' }), ' ', t('common.loading'));
const working = () => el('p', { class: 'muted', role: 'status' }, el('span', { class: 'spinner' }), ' ', t('common.working'));
const idCode = (id) => el('code', { class: 'id' }, id);
const errorLine = () => el('p', { class: 'error', role: 'alert', hidden: true });

/** Shows `err` under `line`, in this page's words for the statuses in `known` ({409: key}). */
function explain(err, line, known = {}) {
  showError(err, line);
  if (known[err.status]) line.textContent = t(known[err.status]);
}

/** Replaces `box`'s content with the error in plain words. */
function failed(box, err) {
  const line = el('p', { class: 'error', role: 'alert' });
  showError(err, line);
  box.replaceChildren(line);
}

/** A status chip with this page's own texts (`admin.{group}.{value}`); `tone` picks the colour. */
function chip(group, value, tone) {
  return el('span', { class: `status ${tone || ''}` }, t(`admin.${group}.${value}`));
}

const roleName = (role) => t(`admin.role.${role}`);

/** A definition list of [label, value] pairs (empty values left out). */
function kv(pairs) {
  return el('dl', { class: 'kv' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '')
    .flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

/** A list table whose cells are labelled, so it turns into stacked rows on a phone. */
function listTable(headers) {
  const tbody = el('tbody');
  const table = el('table', { class: 'list responsive' },
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))), tbody);
  const row = (cells, attrs = {}) => {
    const tr = el('tr', attrs, cells.map((c, i) => el('td', { 'data-label': headers[i] }, el('div', {}, c ?? ''))));
    tbody.append(tr);
    return tr;
  };
  return { table, tbody, row };
}

/** A span filled in when `promise` answers. */
function later(promise, fallback = '…') {
  const span = el('span', {}, fallback);
  promise.then((text) => { if (text) span.textContent = text; }).catch(() => {});
  return span;
}

/** A labelled field: [label, input] inside one block. */
function field(id, label, input, hint) {
  input.id = id;
  return el('div', { class: 'field' }, el('label', { for: id }, label), input,
    hint ? el('div', { class: 'muted small' }, hint) : null);
}

/** Asks for a reason of 2–500 characters (what the server accepts). */
function reasonBox(title, label) {
  return modal(title, (close) => {
    const input = el('textarea', { id: 'admin-reason', rows: 3, maxlength: 500, required: true });
    const error = errorLine();
    return el('form', {
      novalidate: true,
      onsubmit: (e) => {
        e.preventDefault();
        const text = input.value.trim();
        if (text.length < 2) { error.textContent = t('admin.reason_short'); error.hidden = false; input.focus(); return; }
        close(text);
      },
    }, el('label', { for: 'admin-reason' }, label), input, error,
    el('div', { class: 'actions' },
      el('button', { class: 'primary', type: 'submit' }, t('common.ok')),
      el('button', { type: 'button', onclick: () => close() }, t('common.cancel'))));
  });
}

// ------------------------------------------------------------------ shared look-ups

const userCache = new Map();
/** `GET /admin/users/{id}` (cached): {user, identity, orgs}. */
function userInfo(id) {
  if (!id) return Promise.resolve(null);
  if (!userCache.has(id)) userCache.set(id, api('GET', `/admin/users/${enc(id)}`).catch(() => null));
  return userCache.get(id);
}
async function userLabel(id) {
  const info = await userInfo(id);
  if (!info) return id;
  const u = info.user;
  return u.name ? `${u.name}（${u.phone}）` : u.phone;
}
const personName = (id) => (id ? later(userLabel(id), `${id.slice(0, 8)}…`) : '—');

const orgCache = new Map();
function orgInfo(id) {
  if (!id) return Promise.resolve(null);
  if (!orgCache.has(id)) orgCache.set(id, api('GET', `/orgs/${enc(id)}`).catch(() => null));
  return orgCache.get(id);
}
const orgName = (id) => (id ? later(orgInfo(id).then((o) => o?.name || id)) : '—');

let allOrgsPromise = null;
/** Every organization (`GET /orgs?all=true`, all pages). */
function allOrgs(fresh = false) {
  if (fresh || !allOrgsPromise) {
    allOrgsPromise = (async () => {
      const out = [];
      let cursor = null;
      for (let i = 0; i < 100; i += 1) {
        const page = await api('GET', `/orgs${qs({ all: 'true', limit: 100, cursor })}`);
        out.push(...page.items);
        for (const o of page.items) orgCache.set(o.id, Promise.resolve(o));
        cursor = page.next_cursor;
        if (!cursor) break;
      }
      return out;
    })();
    allOrgsPromise.catch(() => { allOrgsPromise = null; });
  }
  return allOrgsPromise;
}

/** The console user's own roles by organization (seals and grants need one). */
async function myRoles() {
  const info = await userInfo(me?.id);
  return new Map((info?.orgs || []).map((m) => [m.org_id, m.role]));
}
const managesSeals = (roles, orgId) => ['admin', 'seal_operator'].includes(roles.get(orgId));

/** An organization <select> filled with every organization, grouped by kind. */
async function orgSelect(id, onChange) {
  const select = el('select', { id }, el('option', { value: '' }, t('admin.pick_org')));
  select.addEventListener('change', () => onChange(select.value));
  const fill = async (fresh) => {
    const keep = select.value;
    const list = await allOrgs(fresh);
    const byName = (a, b) => a.name.localeCompare(b.name, 'zh-CN');
    const groups = [
      ['internal', t('admin.orgs.internal_group')],
      ['external', t('admin.orgs.external_group')],
    ].map(([kind, label]) => el('optgroup', { label }, list.filter((o) => o.kind === kind).sort(byName)
      .map((o) => el('option', { value: o.id }, o.verified ? o.name : `${o.name}（${t('status.unverified')}）`))));
    select.replaceChildren(el('option', { value: '' }, t('admin.pick_org')), ...groups);
    select.value = keep;
  };
  select.refill = fill;
  try { await fill(false); } catch (err) { showError(err); }
  return select;
}

// ------------------------------------------------------------------ panels

const panels = {};

// 1. 用户管理 ---------------------------------------------------------

panels.users = {
  init(root) {
    const filter = el('input', { type: 'search', autocomplete: 'off', placeholder: t('admin.users.filter_ph') });
    const box = el('div', { 'aria-live': 'polite' });
    const more = el('button', { type: 'button', hidden: true }, t('common.more'));
    let cursor = null;
    let table = null;

    const flags = (u) => [
      u.platform_admin ? el('span', { class: 'status ok' }, t('admin.users.platform_admin')) : null,
      u.guest ? el('span', { class: 'status' }, t('admin.users.guest')) : null,
      u.disabled ? el('span', { class: 'status bad' }, t('status.disabled')) : null,
    ].filter(Boolean);

    const addRows = (items) => {
      if (!table) {
        table = listTable([t('admin.users.name'), t('common.phone'), t('admin.users.email'), t('common.type'), t('admin.users.created'), t('common.actions')]);
        box.replaceChildren(table.table);
      }
      for (const u of items) {
        const shown = u.name || u.phone;
        table.row([
          u.name || el('span', { class: 'muted' }, t('admin.users.no_name')),
          u.phone, u.email || '—',
          el('span', { class: 'row tight' }, flags(u).length ? flags(u) : t('admin.users.normal')),
          fmtTime(u.created_at),
          el('button', { type: 'button', class: 'sm', 'aria-label': t('admin.users.view_of', { name: shown }), onclick: () => showUser(u.id) }, t('common.view')),
        ], { 'data-user-id': u.id });
      }
    };

    const loadPage = async (reset) => {
      if (reset) { cursor = null; table = null; box.replaceChildren(loading()); }
      try {
        const page = await api('GET', `/admin/users${qs({ limit: 20, cursor })}`);
        if (reset && !page.items.length) box.replaceChildren(empty(t('admin.users.none')));
        else addRows(page.items);
        cursor = page.next_cursor || null;
        more.hidden = !cursor;
      } catch (err) { failed(box, err); }
    };

    // The API has no search: a term pages through every account and filters here.
    const search = async () => {
      const term = filter.value.trim().toLowerCase();
      if (!term) { loadPage(true); return; }
      more.hidden = true;
      table = null;
      box.replaceChildren(loading());
      try {
        const found = [];
        let next = null;
        for (let i = 0; i < 100; i += 1) {
          const page = await api('GET', `/admin/users${qs({ limit: 100, cursor: next })}`);
          found.push(...page.items.filter((u) => [u.name, u.phone, u.email, u.id].some((v) => v && v.toLowerCase().includes(term))));
          next = page.next_cursor;
          if (!next) break;
        }
        if (!found.length) { box.replaceChildren(empty(t('admin.users.no_match'))); return; }
        addRows(found);
        box.prepend(el('p', { class: 'muted small' }, t('admin.users.found', { n: found.length })));
      } catch (err) { failed(box, err); }
    };

    more.addEventListener('click', () => loadPage(false));
    root.append(
      el('div', { class: 'spread' }, el('h2', {}, t('admin.tab.users')),
        el('button', { type: 'button', onclick: () => { filter.value = ''; loadPage(true); } }, t('common.refresh'))),
      el('form', { class: 'row admin-filter', role: 'search', onsubmit: (e) => { e.preventDefault(); search(); } },
        field('user-filter', t('admin.users.filter'), filter),
        el('button', { type: 'submit' }, t('common.search'))),
      box, el('div', { class: 'actions' }, more));
    return loadPage(true);
  },
};

function handwritingForm(user) {
  const file = el('input', { type: 'file', accept: 'image/png,image/jpeg' });
  const ink = el('select', {}, el('option', { value: 'black' }, t('admin.hw.black')), el('option', { value: 'blue' }, t('admin.hw.blue')));
  const out = el('div', { class: 'hw-result', 'aria-live': 'polite' });
  const error = errorLine();
  const button = el('button', { type: 'submit', class: 'primary' }, t('admin.hw.upload'));
  return el('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      const picked = file.files[0];
      const problem = !picked ? 'admin.hw.pick' : !['image/png', 'image/jpeg'].includes(picked.type) ? 'admin.hw.type'
        : picked.size > 10 * 1024 * 1024 ? 'admin.hw.size' : null;
      if (problem) { error.textContent = t(problem); error.hidden = false; file.focus(); return; }
      button.disabled = true;
      out.replaceChildren(working());
      try {
        const seal = await api('POST', `/admin/users/${enc(user.id)}/handwriting${qs({ ink: ink.value })}`, picked);
        out.replaceChildren(
          el('img', { class: 'hw-preview', src: `/api/v1/seals/${enc(seal.id)}/image`, alt: t('admin.hw.result_alt', { name: user.name || user.phone }) }),
          el('p', { class: 'small' }, t('admin.hw.done')));
        toast(t('admin.hw.done'));
        file.value = '';
      } catch (err) {
        out.replaceChildren();
        showError(err, error);
      } finally { button.disabled = false; }
    },
  }, el('p', { class: 'muted small' }, t('admin.hw.hint')),
  el('div', { class: 'grid2' }, field('hw-file', t('admin.hw.file'), file), field('hw-ink', t('admin.hw.ink'), ink)),
  error, el('div', { class: 'actions' }, button), out);
}

function showUser(id) {
  return modal(t('admin.users.detail'), (close) => {
    const body = el('div', { class: 'admin-wide' }, loading());
    (async () => {
      try {
        const d = await api('GET', `/admin/users/${enc(id)}`);
        userCache.set(id, Promise.resolve(d));
        const u = d.user;
        const idn = d.identity;
        body.replaceChildren(
          el('h3', {}, t('admin.users.account')),
          kv([
            [t('admin.users.name'), u.name || t('admin.users.no_name')],
            [t('common.phone'), u.phone],
            [t('admin.users.email'), u.email || '—'],
            [t('admin.users.created'), fmtTime(u.created_at)],
            [t('common.type'), [u.platform_admin ? t('admin.users.platform_admin') : u.guest ? t('admin.users.guest') : t('admin.users.normal'),
              u.disabled ? ` · ${t('status.disabled')}` : '']],
            [t('admin.users.id'), idCode(u.id)],
          ]),
          el('h3', {}, t('admin.users.identity')),
          idn ? kv([
            [t('common.status'), statusChip(idn.status)],
            [t('admin.users.real_name'), idn.real_name],
            [t('admin.users.id_masked'), idn.id_masked],
            [t('admin.users.provider'), idn.provider === 'development' ? t('admin.users.provider_dev') : idn.provider],
            [t('admin.users.reject_reason'), idn.reason],
            [t('admin.users.updated'), fmtTime(idn.updated_at)],
          ]) : el('p', {}, statusChip('unverified')),
          el('h3', {}, t('admin.users.orgs')),
          d.orgs.length
            ? el('ul', { class: 'plain' }, d.orgs.map((m) => el('li', {}, orgName(m.org_id), ' · ', roleName(m.role))))
            : el('p', { class: 'muted' }, t('admin.users.no_orgs')),
          el('h3', {}, t('admin.hw.title')),
          handwritingForm(u),
          el('div', { class: 'actions' },
            el('button', { type: 'button', onclick: () => { close(); openPanel('trail', `user:${u.id}`); } }, t('admin.trail.view')),
            el('button', { type: 'button', onclick: () => close() }, t('common.close'))));
      } catch (err) {
        body.replaceChildren(el('p', { class: 'error' }, err.message),
          el('div', { class: 'actions' }, el('button', { type: 'button', onclick: () => close() }, t('common.close'))));
      }
    })();
    return body;
  });
}

// 2. 组织管理 ---------------------------------------------------------

/** The tree flattened: [{id, name, depth, below: Set of descendant ids}]. */
function flatten(nodes, depth = 0, out = []) {
  for (const n of nodes) {
    const item = { id: n.id, name: n.name, depth, below: new Set() };
    out.push(item);
    const start = out.length;
    flatten(n.children || [], depth + 1, out);
    for (const d of out.slice(start)) item.below.add(d.id);
  }
  return out;
}

/** Create (no `org`) or rename/move (`org`) an internal organization. */
function orgForm(flat, { org = null, parentId = '' } = {}) {
  return modal(org ? t('admin.orgs.edit_title', { name: org.name }) : t('admin.orgs.new_title'), (close) => {
    const self = org ? flat.find((f) => f.id === org.id) : null;
    const name = el('input', { type: 'text', required: true, minlength: 2, maxlength: 100, value: org?.name || '' });
    const code = el('input', { type: 'text', maxlength: 64 });
    const parent = el('select', {}, el('option', { value: '' }, t('admin.orgs.top')),
      flat.filter((f) => !org || (f.id !== org.id && !self?.below.has(f.id)))
        .map((f) => el('option', { value: f.id }, `${'　'.repeat(f.depth)}${f.name}`)));
    parent.value = org ? (org.parent_id || '') : parentId;
    const error = errorLine();
    const submit = el('button', { type: 'submit', class: 'primary' }, org ? t('common.save') : t('admin.orgs.create'));
    return el('form', {
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        error.hidden = true;
        const text = name.value.trim();
        if (text.length < 2 || text.length > 100) { error.textContent = t('admin.orgs.name_rule'); error.hidden = false; name.focus(); return; }
        submit.disabled = true;
        try {
          const out = org
            ? await api('PATCH', `/orgs/${enc(org.id)}`, { name: text, parent_id: parent.value || null })
            : await api('POST', '/orgs', { name: text, parent_id: parent.value || null, dept_code: code.value.trim() || null });
          close(out);
        } catch (err) { explain(err, error, { 409: 'admin.orgs.code_taken' }); submit.disabled = false; }
      },
    }, field('org-name', t('admin.orgs.name'), name),
    org ? null : field('org-code', t('admin.orgs.dept_code'), code, t('admin.orgs.dept_code_hint')),
    field('org-parent', t('admin.orgs.parent'), parent),
    error,
    el('div', { class: 'actions' }, submit, el('button', { type: 'button', onclick: () => close() }, t('common.cancel'))));
  });
}

function importForm() {
  return modal(t('admin.orgs.import_title'), (close) => {
    const file = el('input', { type: 'file', accept: '.xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' });
    const error = errorLine();
    const status = el('div', { 'aria-live': 'polite' });
    const submit = el('button', { type: 'submit', class: 'primary' }, t('admin.orgs.import'));
    return el('form', {
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        error.hidden = true;
        const picked = file.files[0];
        if (!picked) { error.textContent = t('admin.orgs.import_pick'); error.hidden = false; file.focus(); return; }
        if (!/\.xlsx$/i.test(picked.name)) { error.textContent = t('admin.orgs.import_type'); error.hidden = false; return; }
        submit.disabled = true;
        status.replaceChildren(working());
        try {
          // The handler reads the workbook from the raw request body.
          const out = await api('POST', '/orgs/import', picked);
          close(out);
        } catch (err) {
          status.replaceChildren();
          showError(err, error);
          if (err.status === 400) error.textContent = t('admin.orgs.import_failed', { detail: err.message });
          submit.disabled = false;
        }
      },
    }, el('p', {}, t('admin.orgs.import_hint')),
    el('p', { class: 'muted small' }, t('admin.orgs.import_rule')),
    field('org-import-file', t('admin.orgs.import_file'), file), error, status,
    el('div', { class: 'actions' }, submit, el('button', { type: 'button', onclick: () => close() }, t('common.cancel'))));
  });
}

function showMembers(org) {
  return modal(t('admin.members.title', { name: org.name }), (close) => {
    const box = el('div', { 'aria-live': 'polite' }, loading());
    const more = el('button', { type: 'button', hidden: true }, t('common.more'));
    const error = errorLine();
    let cursor = null;
    let table = null;

    const act = async (method, path, body, done, known = {}) => {
      error.hidden = true;
      try { await api(method, path, body); toast(t(done)); userCache.clear(); load(true); return true; } catch (err) { explain(err, error, known); return false; }
    };
    const actions = (m) => {
      if (m.role === 'admin') return el('span', { class: 'muted small' }, t('admin.members.is_admin'));
      const who = m.name || m.phone;
      return el('span', { class: 'row tight' },
        el('button', {
          type: 'button', class: 'sm',
          onclick: () => act('PUT', `/orgs/${enc(org.id)}/members/${enc(m.user_id)}`, { role: m.role === 'member' ? 'seal_operator' : 'member' }, 'admin.members.role_changed'),
        }, m.role === 'member' ? t('admin.members.make_operator') : t('admin.members.make_member')),
        el('button', {
          type: 'button', class: 'sm',
          onclick: async () => {
            if (await confirmBox(t('admin.members.transfer'), t('admin.members.transfer_q', { name: who, org: org.name }))) {
              act('POST', `/orgs/${enc(org.id)}/transfer-admin`, { user_id: m.user_id }, 'admin.members.transferred');
            }
          },
        }, t('admin.members.transfer')),
        el('button', {
          type: 'button', class: 'sm danger',
          onclick: async () => {
            if (await confirmBox(t('admin.members.remove'), t('admin.members.remove_q', { name: who, org: org.name }), t('admin.members.remove'), true)) {
              act('DELETE', `/orgs/${enc(org.id)}/members/${enc(m.user_id)}`, undefined, 'admin.members.removed');
            }
          },
        }, t('admin.members.remove')));
    };

    async function load(reset) {
      if (reset) { cursor = null; table = null; box.replaceChildren(loading()); }
      try {
        const page = await api('GET', `/orgs/${enc(org.id)}/members${qs({ limit: 50, cursor })}`);
        if (reset && !page.items.length) box.replaceChildren(empty(t('admin.members.none')));
        else {
          if (!table) {
            table = listTable([t('admin.users.name'), t('common.phone'), t('common.role'), t('admin.members.joined'), t('common.actions')]);
            box.replaceChildren(table.table);
          }
          for (const m of page.items) table.row([m.name || '—', m.phone, roleName(m.role), fmtDate(m.joined_at), actions(m)]);
        }
        cursor = page.next_cursor || null;
        more.hidden = !cursor;
      } catch (err) { failed(box, err); }
    }
    more.addEventListener('click', () => load(false));

    const phone = el('input', { type: 'tel', required: true, autocomplete: 'off', inputmode: 'numeric' });
    const role = el('select', {}, el('option', { value: 'member' }, roleName('member')), el('option', { value: 'seal_operator' }, roleName('seal_operator')));
    const add = el('form', {
      class: 'row admin-filter',
      novalidate: true,
      onsubmit: (e) => {
        e.preventDefault();
        if (!/^\S{3,}$/.test(phone.value.trim())) { error.textContent = t('admin.members.phone_needed'); error.hidden = false; phone.focus(); return; }
        act('POST', `/orgs/${enc(org.id)}/members`, { phone: phone.value.trim(), role: role.value }, 'admin.members.added',
          { 404: 'admin.members.no_user', 409: 'admin.members.already' })
          .then((ok) => { if (ok) phone.value = ''; });
      },
    }, field('member-phone', t('admin.members.phone'), phone), field('member-role', t('common.role'), role),
    el('button', { type: 'submit' }, t('admin.members.add')));

    load(true);
    return el('div', { class: 'admin-wide' },
      el('p', { class: 'muted small' }, org.kind === 'internal' ? t('admin.orgs.internal') : t('admin.orgs.external'), ' · ', idCode(org.id)),
      box, el('div', { class: 'actions' }, more), error,
      el('h3', {}, t('admin.members.add_title')), add,
      el('div', { class: 'actions' }, el('button', { type: 'button', onclick: () => close() }, t('common.close'))));
  });
}

panels.orgs = {
  init(root) {
    const treeBox = el('div', { 'aria-live': 'polite' });
    const listBox = el('div', { 'aria-live': 'polite' });
    const more = el('button', { type: 'button', hidden: true }, t('common.more'));
    let flat = [];
    let cursor = null;
    let table = null;

    const byId = async (id) => (await orgInfo(id)) || { id, name: id, kind: 'internal' };
    const refreshAll = () => { orgCache.clear(); allOrgsPromise = null; loadTree(); loadList(true); };

    const node = (n) => el('li', {},
      el('div', { class: 'node' },
        el('span', { class: 'grow' }, el('strong', {}, n.name), n.dept_code ? el('span', { class: 'muted small' }, ` ${t('admin.orgs.code_short')} ${n.dept_code}`) : null),
        el('span', { class: 'row tight' },
          el('button', {
            type: 'button', class: 'sm', 'aria-label': t('admin.orgs.add_child_of', { name: n.name }),
            onclick: async () => { if (await orgForm(flat, { parentId: n.id })) { toast(t('admin.orgs.created')); refreshAll(); } },
          }, t('admin.orgs.add_child')),
          el('button', {
            type: 'button', class: 'sm', 'aria-label': t('admin.orgs.edit_of', { name: n.name }),
            onclick: async () => { if (await orgForm(flat, { org: await byId(n.id) })) { toast(t('common.saved')); refreshAll(); } },
          }, t('admin.orgs.edit')),
          el('button', {
            type: 'button', class: 'sm', 'aria-label': t('admin.orgs.members_of', { name: n.name }),
            onclick: async () => showMembers(await byId(n.id)),
          }, t('admin.orgs.members')))),
      n.children?.length ? el('ul', { class: 'tree' }, n.children.map(node)) : null);

    async function loadTree() {
      treeBox.replaceChildren(loading());
      try {
        const tree = await api('GET', '/orgs/tree');
        flat = flatten(tree);
        treeBox.replaceChildren(tree.length ? el('ul', { class: 'tree root' }, tree.map(node)) : empty(t('admin.orgs.tree_empty')));
      } catch (err) { failed(treeBox, err); }
    }

    async function loadList(reset) {
      if (reset) { cursor = null; table = null; listBox.replaceChildren(loading()); }
      try {
        const page = await api('GET', `/orgs${qs({ all: 'true', limit: 20, cursor })}`);
        if (reset && !page.items.length) listBox.replaceChildren(empty(t('admin.orgs.none')));
        else {
          if (!table) {
            table = listTable([t('common.name'), t('common.type'), t('admin.orgs.credit_code'), t('admin.orgs.legal_rep'), t('common.status'), t('common.created'), t('common.actions')]);
            listBox.replaceChildren(table.table);
          }
          for (const o of page.items) {
            orgCache.set(o.id, Promise.resolve(o));
            table.row([
              el('strong', { title: o.id }, o.name),
              el('span', { class: 'nowrap' }, o.kind === 'internal' ? t('admin.orgs.internal') : t('admin.orgs.external')),
              o.credit_code || '—', o.legal_rep || '—',
              statusChip(o.verified ? 'verified' : 'unverified'),
              fmtDate(o.created_at),
              el('span', { class: 'row tight' },
                el('button', { type: 'button', class: 'sm', 'aria-label': t('admin.orgs.members_of', { name: o.name }), onclick: () => showMembers(o) }, t('admin.orgs.members')),
                el('button', { type: 'button', class: 'sm', 'aria-label': t('admin.orgs.seals_of', { name: o.name }), onclick: () => openPanel('seals', o.id) }, t('admin.orgs.seals')),
                el('button', { type: 'button', class: 'sm', 'aria-label': t('admin.orgs.certs_of', { name: o.name }), onclick: () => openPanel('certs', o.id) }, t('admin.orgs.certs')),
                o.licence_blob ? el('a', { class: 'button sm', href: `/api/v1/blobs/${enc(o.licence_blob)}`, target: '_blank', rel: 'noopener' }, t('admin.req.licence')) : null),
            ], { 'data-org-id': o.id });
          }
        }
        cursor = page.next_cursor || null;
        more.hidden = !cursor;
      } catch (err) { failed(listBox, err); }
    }
    more.addEventListener('click', () => loadList(false));

    root.append(
      el('div', { class: 'card' },
        el('div', { class: 'spread' }, el('h2', {}, t('admin.orgs.tree')),
          el('span', { class: 'row tight' },
            el('button', { type: 'button', class: 'primary', onclick: async () => { if (await orgForm(flat)) { toast(t('admin.orgs.created')); refreshAll(); } } }, t('admin.orgs.new')),
            el('button', {
              type: 'button',
              onclick: async () => {
                const out = await importForm();
                if (out) { toast(t('admin.orgs.imported', { rows: out.rows, created: out.created, updated: out.updated })); refreshAll(); }
              },
            }, t('admin.orgs.import')),
            el('button', { type: 'button', onclick: loadTree }, t('common.refresh')))),
        el('p', { class: 'muted small' }, t('admin.orgs.tree_hint')),
        treeBox),
      el('div', { class: 'card' },
        el('div', { class: 'spread' }, el('h2', {}, t('admin.orgs.all')),
          el('button', { type: 'button', onclick: () => loadList(true) }, t('common.refresh'))),
        listBox, el('div', { class: 'actions' }, more)));
    return Promise.all([loadTree(), loadList(true)]);
  },
};

// 3. 认证审核 ---------------------------------------------------------

async function countPending() {
  const badge = $('#pending-count');
  try {
    const page = await api('GET', `/requests${qs({ view: 'decide', status: 'pending', limit: 100 })}`);
    const n = page.items.length;
    badge.textContent = page.next_cursor ? '99+' : String(n);
    badge.hidden = n === 0;
    badge.setAttribute('aria-label', t('admin.req.pending_n', { n: badge.textContent }));
  } catch { badge.hidden = true; }
}

function requestCard(r) {
  const d = r.details || {};
  const error = errorLine();
  const statusBox = el('span', {}, statusChip(r.status));
  const actions = el('div', { class: 'actions' });
  const title = r.kind === 'org_verification' ? t('admin.req.kind.org_verification') : t('admin.req.kind.admin');
  const headingId = `req-${r.id}-title`;
  const card = el('article', { class: 'card request', 'data-request-id': r.id, 'data-status': r.status, 'aria-labelledby': headingId });

  const decided = (out, key) => {
    card.dataset.status = out.status;
    statusBox.replaceChildren(statusChip(out.status));
    actions.replaceChildren(el('p', { class: 'muted', role: 'status' }, t(key)));
    if (out.reason) actions.append(el('p', {}, t('admin.req.reason'), '：', out.reason));
    toast(t(key));
    countPending();
  };
  if (r.status === 'pending') {
    const approve = el('button', { type: 'button', class: 'primary', 'data-action': 'approve' }, t('common.approve'));
    const reject = el('button', { type: 'button', class: 'danger', 'data-action': 'reject' }, t('common.reject'));
    approve.addEventListener('click', async () => {
      error.hidden = true;
      approve.disabled = true; reject.disabled = true;
      try { decided(await api('POST', `/requests/${enc(r.id)}/approve`), 'admin.req.approved'); } catch (err) {
        explain(err, error, { 409: 'admin.req.decided_meanwhile' }); approve.disabled = false; reject.disabled = false;
      }
    });
    reject.addEventListener('click', async () => {
      const reason = await reasonBox(t('admin.req.reject_title'), t('admin.req.reject_label'));
      if (!reason) return;
      error.hidden = true;
      approve.disabled = true; reject.disabled = true;
      try { decided(await api('POST', `/requests/${enc(r.id)}/reject`, { reason }), 'admin.req.rejected'); } catch (err) {
        explain(err, error, { 409: 'admin.req.decided_meanwhile' }); approve.disabled = false; reject.disabled = false;
      }
    });
    actions.append(approve, reject);
  } else if (r.reason) {
    actions.append(el('p', {}, t('admin.req.reason'), '：', r.reason));
  }

  const applicant = later(userInfo(r.applicant).then((info) => {
    if (!info) return r.applicant;
    const u = info.user;
    const who = u.name ? `${u.name}（${u.phone}）` : u.phone;
    const idn = info.identity;
    return idn?.status === 'verified' ? `${who} · ${t('admin.req.verified_as', { name: idn.real_name })}` : `${who} · ${t('status.unverified')}`;
  }));
  const orgLine = later(orgInfo(r.org_id).then((o) => {
    if (!o) return r.org_id;
    if (r.kind === 'org_verification') return o.verified ? t('admin.req.change_of', { name: o.name }) : t('admin.req.new_org');
    return o.name;
  }));

  let facts;
  let picture = null;
  if (r.kind === 'org_verification') {
    facts = kv([
      [t('admin.req.company'), el('strong', {}, d.name || '—')],
      [t('admin.orgs.credit_code'), d.credit_code],
      [t('admin.orgs.legal_rep'), d.legal_rep],
      [t('admin.req.applicant'), applicant],
      [t('admin.req.kind_label'), orgLine],
      [t('admin.req.submitted'), fmtTime(r.created_at)],
      r.updated_at !== r.created_at ? [t('admin.req.updated'), fmtTime(r.updated_at)] : [null, null],
    ]);
    if (d.licence_blob) {
      const src = `/api/v1/blobs/${enc(d.licence_blob)}`;
      picture = el('figure', { class: 'licence' },
        el('a', { href: src, target: '_blank', rel: 'noopener', 'aria-label': t('admin.req.licence_open', { name: d.name || '' }) },
          el('img', { src, alt: t('admin.req.licence_alt', { name: d.name || '' }), loading: 'lazy' })),
        el('figcaption', { class: 'muted small' }, t('admin.req.licence'), ' · ', t('admin.req.click_to_enlarge')));
    } else picture = el('p', { class: 'muted' }, t('admin.req.no_licence'));
  } else {
    facts = kv([
      [t('common.org'), orgLine],
      [t('admin.req.applicant'), applicant],
      [t('admin.req.admin_reason'), d.reason],
      [t('admin.req.letter'), d.letter_blob ? el('a', { href: `/api/v1/blobs/${enc(d.letter_blob)}`, target: '_blank', rel: 'noopener' }, t('admin.req.letter_open')) : t('admin.req.no_letter')],
      [t('admin.req.submitted'), fmtTime(r.created_at)],
    ]);
  }
  card.append(
    el('div', { class: 'spread' }, el('h3', { id: headingId }, title, ' ',
      el('span', { class: 'muted small' }, d.name || later(orgInfo(r.org_id).then((o) => o?.name || ''), ''))), statusBox),
    el('div', { class: picture ? 'grid2' : '' }, facts, picture),
    error, actions);
  return card;
}

panels.requests = {
  init(root) {
    const status = el('select', {},
      ['pending', 'approved', 'rejected', 'withdrawn'].map((s) => el('option', { value: s }, t(`status.${s}`))),
      el('option', { value: '' }, t('admin.all')));
    const kind = el('select', {},
      el('option', { value: '' }, t('admin.all')),
      el('option', { value: 'org_verification' }, t('admin.req.kind.org_verification')),
      el('option', { value: 'admin' }, t('admin.req.kind.admin')));
    const box = el('div', { 'aria-live': 'polite' });
    const more = el('button', { type: 'button', hidden: true }, t('common.more'));
    let cursor = null;

    async function load(reset) {
      if (reset) { cursor = null; box.replaceChildren(loading()); }
      try {
        const page = await api('GET', `/requests${qs({ view: 'decide', status: status.value, kind: kind.value, limit: 50, cursor })}`);
        if (reset) box.replaceChildren();
        if (reset && !page.items.length) box.replaceChildren(empty(status.value === 'pending' ? t('admin.req.none_pending') : t('admin.req.none')));
        box.append(...page.items.map(requestCard));
        cursor = page.next_cursor || null;
        more.hidden = !cursor;
      } catch (err) { failed(box, err); }
    }
    status.addEventListener('change', () => load(true));
    kind.addEventListener('change', () => load(true));
    more.addEventListener('click', () => load(false));
    root.append(
      el('div', { class: 'spread' }, el('h2', {}, t('admin.tab.requests')),
        el('button', { type: 'button', onclick: () => { load(true); countPending(); } }, t('common.refresh'))),
      el('div', { class: 'row admin-filter' }, field('req-status', t('common.status'), status), field('req-kind', t('common.type'), kind)),
      el('p', { class: 'muted small' }, t('admin.req.hint')),
      box, el('div', { class: 'actions' }, more));
    return load(true);
  },
};

// 4. 印章与授权 -------------------------------------------------------

const sealCache = new Map();
function sealName(id) {
  if (!sealCache.has(id)) sealCache.set(id, api('GET', `/seals/${enc(id)}`).then((s) => s.name).catch(() => id));
  return later(sealCache.get(id));
}

function grantState(g) {
  const now = Date.now() / 1000;
  if (g.revoked_at) return ['revoked', 'bad'];
  if (now < g.not_before) return ['not_yet', 'pending'];
  if (now >= g.not_after) return ['expired', 'bad'];
  return ['active', 'ok'];
}
const period = (from, to) => `${fmtDate(from)} – ${fmtDate(to - 1)}`;
const scopeText = (scope) => (scope?.length ? scope.join('、') : t('admin.grants.any_scope'));

panels.seals = {
  async init(root) {
    const box = el('div', { 'aria-live': 'polite' }, empty(t('admin.pick_org_first')));
    const reqBox = el('div', { 'aria-live': 'polite' });
    const reqStatus = el('select', {},
      ['pending', 'approved', 'rejected', 'withdrawn'].map((s) => el('option', { value: s }, t(`status.${s}`))),
      el('option', { value: '' }, t('admin.all')));
    let current = '';
    const picker = await orgSelect('seal-org', (id) => { current = id; load(); });
    this.picker = picker;

    const sealCard = (s, manage) => {
      const error = errorLine();
      const uses = el('span', { class: 'muted small' });
      api('GET', `/seals/${enc(s.id)}/stats`).then((st) => { uses.textContent = t('admin.seals.uses30', { n: st.total }); }).catch(() => {});
      const toggle = manage ? el('button', {
        type: 'button', class: `sm ${s.status === 'enabled' ? 'danger' : ''}`,
        'aria-label': t(s.status === 'enabled' ? 'admin.seals.disable_of' : 'admin.seals.enable_of', { name: s.name }),
        onclick: async (e) => {
          e.target.disabled = true;
          try {
            await api('POST', `/seals/${enc(s.id)}/${s.status === 'enabled' ? 'disable' : 'enable'}`);
            toast(t(s.status === 'enabled' ? 'admin.seals.disabled' : 'admin.seals.enabled'));
            load();
          } catch (err) { explain(err, error, { 409: 'admin.seals.conflict' }); e.target.disabled = false; }
        },
      }, s.status === 'enabled' ? t('common.disable') : t('common.enable')) : null;
      return el('div', { class: 'seal-card', 'data-seal-id': s.id },
        el('img', { src: `/api/v1/seals/${enc(s.id)}/image`, alt: s.name, loading: 'lazy' }),
        el('div', {}, el('strong', {}, s.name)),
        el('div', { class: 'small' }, t(`admin.seal_kind.${s.kind}`), ' · ', chip('seal_status', s.status, s.status === 'enabled' ? 'ok' : 'bad')),
        el('div', {}, uses),
        el('div', { class: 'muted small' }, t('common.created'), ' ', fmtDate(s.created_at)),
        toggle ? el('div', { class: 'actions center' }, toggle) : null, error);
    };

    async function load() {
      if (!current) { box.replaceChildren(empty(t('admin.pick_org_first'))); return; }
      box.replaceChildren(loading());
      try {
        const [seals, grants, roles] = await Promise.all([
          api('GET', `/orgs/${enc(current)}/seals`),
          api('GET', `/orgs/${enc(current)}/grants`),
          myRoles(),
        ]);
        const manage = managesSeals(roles, current);
        for (const s of seals) sealCache.set(s.id, Promise.resolve(s.name));
        const error = errorLine();
        const grantTable = listTable([t('admin.grants.seal'), t('admin.grants.grantee'), t('admin.grants.period'), t('admin.grants.scope'), t('common.status'), t('common.actions')]);
        for (const g of grants) {
          const [state, tone] = grantState(g);
          grantTable.row([
            sealName(g.seal_id), personName(g.grantee), period(g.not_before, g.not_after), scopeText(g.scope),
            chip('grant_status', state, tone),
            manage && !g.revoked_at ? el('button', {
              type: 'button', class: 'sm danger',
              onclick: async () => {
                if (!(await confirmBox(t('admin.grants.revoke'), t('admin.grants.revoke_q'), t('common.revoke'), true))) return;
                try { await api('POST', `/grants/${enc(g.id)}/revoke`); toast(t('admin.grants.revoked')); load(); } catch (err) { explain(err, error, { 409: 'admin.grants.already' }); }
              },
            }, t('common.revoke')) : '—',
          ], { 'data-grant-id': g.id });
        }
        box.replaceChildren(el('div', {},
          manage ? null : el('p', { class: 'note' }, t('admin.seals.readonly')),
          el('h3', {}, t('admin.seals.list'), el('span', { class: 'badge' }, seals.length)),
          seals.length ? el('div', { class: 'seal-grid' }, seals.map((s) => sealCard(s, manage))) : empty(t('admin.seals.none')),
          el('h3', {}, t('admin.grants.list'), el('span', { class: 'badge' }, grants.length)),
          error,
          grants.length ? grantTable.table : empty(t('admin.grants.none'))));
      } catch (err) { failed(box, err); }
    }
    this.load = load;
    this.select = (id) => { picker.value = id; current = id; load(); };

    async function loadRequests() {
      reqBox.replaceChildren(loading());
      try {
        const [list, roles] = await Promise.all([api('GET', `/grant-requests${qs({ status: reqStatus.value })}`), myRoles()]);
        if (!list.length) { reqBox.replaceChildren(empty(t('admin.greq.none'))); return; }
        const error = errorLine();
        const table = listTable([t('common.org'), t('admin.grants.seal'), t('admin.req.applicant'), t('admin.grants.period'), t('admin.grants.scope'), t('admin.greq.note'), t('common.status'), t('common.actions')]);
        for (const r of list) {
          const decide = async (action) => {
            error.hidden = true;
            let body;
            if (action === 'reject') {
              const reason = await reasonBox(t('admin.greq.reject_title'), t('admin.req.reject_label'));
              if (!reason) return;
              body = { reason };
            }
            try {
              await api('POST', `/grant-requests/${enc(r.id)}/${action}`, body);
              toast(t(action === 'approve' ? 'admin.req.approved' : 'admin.req.rejected'));
              loadRequests();
              if (current === r.org_id) load();
            } catch (err) { explain(err, error, { 409: 'admin.greq.conflict' }); }
          };
          table.row([
            orgName(r.org_id), sealName(r.seal_id), personName(r.applicant), period(r.not_before, r.not_after),
            scopeText(r.scope), r.note || '—',
            [statusChip(r.status), r.reason ? el('div', { class: 'small' }, r.reason) : null],
            r.status === 'pending' && managesSeals(roles, r.org_id) ? el('span', { class: 'row tight' },
              el('button', { type: 'button', class: 'sm primary', onclick: () => decide('approve') }, t('common.approve')),
              el('button', { type: 'button', class: 'sm danger', onclick: () => decide('reject') }, t('common.reject'))) : '—',
          ], { 'data-grant-request-id': r.id });
        }
        reqBox.replaceChildren(error, table.table);
      } catch (err) { failed(reqBox, err); }
    }
    reqStatus.addEventListener('change', loadRequests);

    root.append(
      el('div', { class: 'card' },
        el('div', { class: 'spread' }, el('h2', {}, t('admin.seals.title')),
          el('button', { type: 'button', onclick: async () => { await picker.refill(true); load(); } }, t('common.refresh'))),
        el('div', { class: 'row admin-filter' }, field('seal-org', t('common.org'), picker)),
        box),
      el('div', { class: 'card' },
        el('div', { class: 'spread' }, el('h2', {}, t('admin.greq.title')),
          el('button', { type: 'button', onclick: loadRequests }, t('common.refresh'))),
        el('div', { class: 'row admin-filter' }, field('greq-status', t('common.status'), reqStatus)),
        el('p', { class: 'muted small' }, t('admin.greq.hint')),
        reqBox));
    loadRequests();
  },
  show(orgId) { this.select(orgId); },
};

// 5. 证书 -------------------------------------------------------------

const REASONS = { 0: 'unspecified', 1: 'keyCompromise', 2: 'cACompromise', 3: 'affiliationChanged', 4: 'superseded', 5: 'cessationOfOperation', 6: 'certificateHold', 9: 'privilegeWithdrawn' };
const REVOKE_CHOICES = ['keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn', 'unspecified'];

function revokeForm(cert) {
  return modal(t('admin.certs.revoke_title'), (close) => {
    const reason = el('select', { required: true }, el('option', { value: '' }, t('admin.certs.pick_reason')),
      REVOKE_CHOICES.map((r) => el('option', { value: r }, t(`admin.reason.${r}`))));
    const error = errorLine();
    const submit = el('button', { type: 'submit', class: 'danger' }, t('admin.certs.revoke'));
    return el('form', {
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        error.hidden = true;
        if (!reason.value) { error.textContent = t('admin.certs.pick_reason'); error.hidden = false; reason.focus(); return; }
        submit.disabled = true;
        try { close(await api('POST', `/certificates/${enc(cert.id)}/revoke`, { reason: reason.value })); } catch (err) {
          explain(err, error, { 409: 'admin.certs.already' }); submit.disabled = false;
        }
      },
    }, el('p', {}, t('admin.certs.revoke_warn')),
    kv([[t('admin.certs.subject'), cert.subject], [t('admin.certs.serial'), idCode(cert.serial)]]),
    field('revoke-reason', t('admin.certs.reason'), reason),
    error,
    el('div', { class: 'actions' }, submit, el('button', { type: 'button', onclick: () => close() }, t('common.cancel'))));
  });
}

panels.certs = {
  async init(root) {
    const box = el('div', { 'aria-live': 'polite' }, empty(t('admin.pick_org_first')));
    let current = '';
    const picker = await orgSelect('cert-org', (id) => { current = id; load(); });

    async function load() {
      if (!current) { box.replaceChildren(empty(t('admin.pick_org_first'))); return; }
      box.replaceChildren(loading());
      try {
        const certs = await api('GET', `/orgs/${enc(current)}/certificates`);
        if (!certs.length) {
          const org = await orgInfo(current);
          box.replaceChildren(empty(org && !org.verified ? t('admin.certs.none_unverified') : t('admin.certs.none')));
          return;
        }
        const table = listTable([t('admin.certs.subject'), t('admin.certs.serial'), t('admin.certs.custody'), t('common.status'), t('admin.certs.valid_to'), t('common.actions')]);
        for (const c of certs) {
          const download = el('button', {
            type: 'button', class: 'sm',
            onclick: () => {
              const url = URL.createObjectURL(new Blob([c.pem], { type: 'application/x-pem-file' }));
              el('a', { href: url, download: `${c.serial}.pem` }).click();
              setTimeout(() => URL.revokeObjectURL(url), 10000);
            },
          }, t('common.download'));
          const revoke = c.status === 'active' ? el('button', {
            type: 'button', class: 'sm danger',
            onclick: async () => { if (await revokeForm(c)) { toast(t('admin.certs.revoked')); load(); } },
          }, t('admin.certs.revoke')) : null;
          table.row([
            [el('strong', {}, (c.subject.match(/(?:^|,)CN=([^,]+)/) || [])[1] || c.subject), el('div', { class: 'muted small dn' }, c.subject)],
            idCode(c.serial),
            [el('span', { class: 'nowrap' }, t(`admin.custody.${c.custody}`)), el('div', { class: 'muted small' }, c.algorithm)],
            [c.status === 'active' ? chip('cert_status', 'active', 'ok') : chip('cert_status', 'revoked', 'bad'),
              c.revoked_at ? el('div', { class: 'small' }, fmtTime(c.revoked_at), ' · ', t(`admin.reason.${REASONS[c.revoke_reason] || 'unspecified'}`)) : null],
            fmtDate(c.not_after),
            el('span', { class: 'row tight nowrap' }, download, revoke),
          ], { 'data-cert-id': c.id });
        }
        box.replaceChildren(table.table);
      } catch (err) { failed(box, err); }
    }
    this.select = (id) => { picker.value = id; current = id; load(); };
    root.append(
      el('div', { class: 'spread' }, el('h2', {}, t('admin.certs.title')),
        el('button', { type: 'button', onclick: async () => { await picker.refill(true); load(); } }, t('common.refresh'))),
      el('div', { class: 'row admin-filter' }, field('cert-org', t('common.org'), picker)),
      box,
      el('p', { class: 'note' }, t('admin.certs.person_note')));
  },
  show(orgId) { this.select(orgId); },
};

// 6. 签署流程 ---------------------------------------------------------

const FLOW_STATUSES = ['in_progress', 'completed', 'declined', 'revoked', 'expired'];

/** A detail value in words: times, names of listed things, long ids and hashes shortened. */
function detailText(key, value, compact, documents) {
  if (typeof value === 'number' && value > 1e9 && /(_at|^at|not_before|not_after|deadline)$/.test(key)) return fmtTime(value);
  if (!compact) return typeof value === 'string' ? value : JSON.stringify(value);
  if (key === 'document' && Number.isInteger(value) && documents?.[value]) return `${value + 1}. ${documents[value].name}`;
  if (key === 'flow_status' && FLOW_STATUSES.includes(value)) return t(`status.${value}`);
  if (typeof value === 'string') {
    if (/^[0-9a-f]{64}$/i.test(value)) return el('code', { class: 'id', title: value }, `${value.slice(0, 16)}…`);
    if (/^[0-9a-f]{32}$/i.test(value)) return el('code', { class: 'id', title: value }, `${value.slice(0, 8)}…`);
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((v) => (v && typeof v === 'object' ? v.name || v.title || JSON.stringify(v) : String(v))).join('、');
  }
  return JSON.stringify(value);
}

/**
 * The audit events of one object. `names`: display names by user/org id (a flow's `names`);
 * `compact`: for a dialog (address under the actor, empty details left out, hashes shortened,
 * document numbers named after `documents`).
 */
function trailTable(events, { names = {}, compact = false, documents = [] } = {}) {
  const who = (id, fallback) => (names[id] ? el('span', { title: id }, names[id]) : fallback(id));
  const headers = [t('admin.trail.seq'), t('common.time'), t('admin.trail.action'), t('admin.trail.actor'), t('admin.trail.details')];
  if (!compact) headers.push(t('admin.trail.ip'));
  const table = listTable(headers);
  for (const th of table.table.querySelectorAll('th')) th.classList.add('nowrap');
  for (const e of events) {
    let details = null;
    try {
      const parsed = JSON.parse(e.details || '{}');
      const keys = Object.keys(parsed).filter((k) => parsed[k] !== null && parsed[k] !== ''
        && !(compact && Array.isArray(parsed[k]) && !parsed[k].length));
      if (keys.length) details = el('dl', { class: 'details' }, keys.flatMap((k) => [el('dt', {}, k), el('dd', {}, detailText(k, parsed[k], compact, documents))]));
    } catch { details = e.details; }
    // The flow pages' names for flow events (trail.flow.created …); other actions as they are.
    const named = t(`trail.${e.action}`);
    const address = [e.ip || '—', e.user_agent ? el('div', { class: 'muted small ua', title: e.user_agent }, e.user_agent) : null];
    table.row([
      String(e.seq), el('span', { class: compact ? 'nowrap' : '' }, fmtTime(e.at)),
      named === `trail.${e.action}` ? el('code', {}, e.action) : [el('span', { class: 'nowrap' }, named), el('div', {}, el('code', { class: 'small muted' }, e.action))],
      [e.actor ? el('span', { class: 'nowrap' }, who(e.actor, personName)) : t('admin.trail.system'),
        e.acting_for ? el('div', { class: 'small muted' }, t('admin.trail.for'), ' ', who(e.acting_for, orgName)) : null,
        compact && e.ip ? el('div', { class: 'small muted', title: e.user_agent || '' }, e.ip) : null],
      details || '—',
      compact ? undefined : address,
    ].filter((c) => c !== undefined), { title: `hash ${e.hash}` });
  }
  return table.table;
}

const FLOW_ID = /^[0-9a-f]{32}$/i;

/** The last day one may sign (the deadline is the first second it is over). */
const deadlineText = (deadline) => (deadline ? fmtDate(deadline - 1) : t('admin.flows.no_deadline'));

function fileSize(bytes) {
  if (!Number.isFinite(bytes)) return '—';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** 查看: a flow's overview and trail in a dialog (any flow, for platform admins). */
function showFlow(id, label = '') {
  return modal(t('admin.flows.detail'), (close) => {
    const body = el('div', { class: 'admin-wide', 'aria-live': 'polite' }, loading());
    const closeButton = () => el('button', { type: 'button', onclick: () => close() }, t('common.close'));
    (async () => {
      let flow;
      try {
        flow = await api('GET', `/flows/${enc(id)}`);
      } catch (err) {
        const line = el('p', { class: 'error', role: 'alert' });
        showError(err, line);
        if (err.status === 404) line.textContent = t('admin.flows.gone', { title: label || id });
        body.replaceChildren(line, el('div', { class: 'actions' }, closeButton()));
        return;
      }
      const names = flow.names || {};
      const name = (who) => (who ? names[who] || `${who.slice(0, 8)}…` : '—');
      const trailBox = el('div', {}, loading());

      const signers = listTable([t('admin.flows.stage'), t('admin.flows.signer'), t('common.status'), t('admin.flows.signed_at')]);
      for (const s of flow.signers) {
        const party = s.org_id
          ? [el('strong', {}, name(s.org_id)), el('span', { class: 'muted small' }, ` ${t('common.org')}`),
            s.signed_by ? el('div', { class: 'muted small' }, t('admin.flows.signed_by', { name: name(s.signed_by) })) : null]
          : [el('strong', {}, s.user_id ? name(s.user_id) : s.expected_name || '—'), el('span', { class: 'muted small' }, ` ${t('common.person')}`),
            s.expected_name && s.user_id && names[s.user_id] !== s.expected_name ? el('div', { class: 'muted small' }, t('admin.flows.expected', { name: s.expected_name })) : null];
        signers.row([
          String(s.stage + 1), party,
          [statusChip(s.status), s.reason ? el('div', { class: 'small' }, t('admin.flows.reason_is', { reason: s.reason })) : null],
          fmtTime(s.ended_at) || '—',
        ], { 'data-signer-id': s.id });
      }

      const docs = listTable([t('admin.flows.document'), t('admin.flows.version'), t('admin.flows.size'), 'SHA-256']);
      for (const d of flow.documents) {
        docs.row([
          d.name || `#${d.idx + 1}`,
          d.version ? t('admin.flows.signed_n', { n: d.version }) : t('admin.flows.original'),
          fileSize(d.size),
          el('code', { class: 'id', title: d.current_sha256 }, `${d.current_sha256.slice(0, 16)}…`),
        ]);
      }

      const count = (n) => el('span', { class: 'badge' }, String(n));
      body.replaceChildren(
        el('div', { class: 'spread' }, el('h3', {}, flow.title), statusChip(flow.status)),
        kv([
          [t('admin.flows.id'), idCode(flow.id)],
          [t('admin.flows.business_type'), flow.business_type || '—'],
          [t('admin.flows.initiator'), [name(flow.initiator), flow.acting_for ? el('span', { class: 'muted' }, ` · ${t('admin.trail.for')} ${name(flow.acting_for)}`) : '']],
          [t('admin.flows.created'), fmtTime(flow.created_at)],
          [t('admin.flows.deadline'), deadlineText(flow.deadline)],
          [t('admin.flows.ended'), fmtTime(flow.ended_at)],
          [flow.status === 'revoked' ? t('admin.flows.revoke_reason') : t('admin.flows.decline_reason'), flow.reason],
          [t('admin.flows.cc'), (flow.cc || []).map(name).join('、')],
        ]),
        el('h3', {}, t('admin.flows.signers'), count(flow.signers.length)),
        signers.table,
        el('h3', {}, t('admin.flows.documents'), count(flow.documents.length)),
        docs.table,
        el('p', { class: 'muted small' }, t('admin.flows.documents_note')),
        el('h3', {}, t('admin.trail.view')),
        trailBox,
        el('div', { class: 'actions' },
          el('a', { class: 'button primary', href: `/flows/${enc(flow.id)}`, target: '_blank', rel: 'noopener' }, t('admin.flows.open')),
          el('button', { type: 'button', onclick: () => { close(); openPanel('trail', `flow:${flow.id}`); } }, t('admin.flows.in_trail')),
          closeButton()));

      try {
        const events = await api('GET', `/flows/${enc(flow.id)}/trail`);
        trailBox.replaceChildren(events.length ? trailTable(events, { names, compact: true, documents: flow.documents }) : empty(t('admin.flows.no_events')));
      } catch (err) { failed(trailBox, err); }
    })();
    return body;
  });
}

panels.flows = {
  init(root) {
    const PAGE = 20;
    const status = el('select', {}, el('option', { value: '' }, t('admin.flows.any_status')),
      FLOW_STATUSES.map((s) => el('option', { value: s }, t(`status.${s}`))));
    const query = el('input', {
      type: 'search', autocomplete: 'off', spellcheck: 'false', maxlength: 100, placeholder: t('admin.flows.q_ph'),
    });
    const statusField = field('flowq-status', t('common.status'), status);
    statusField.style.flex = '0 1 11rem';
    const box = el('div', { 'aria-live': 'polite' });
    const summary = el('p', { class: 'muted small', role: 'status' });
    const prev = el('button', { type: 'button', hidden: true }, t('admin.flows.prev'));
    const next = el('button', { type: 'button', hidden: true }, t('admin.flows.next'));
    const abnormal = el('div', { 'aria-live': 'polite' });
    // The query shown, and the cursors of the pages seen so far ([null] is the first).
    let shown = { status: '', q: '' };
    let cursors = [null];
    let at = 0;
    let asked = 0;

    const table = (items, initiator) => {
      const list = listTable([t('admin.flows.title_col'), t('admin.flows.business_type'), t('admin.flows.initiator'), t('common.status'),
        t('admin.flows.created'), t('admin.flows.deadline'), t('common.actions')]);
      for (const f of items) {
        list.row([
          el('strong', {}, f.title),
          f.business_type || el('span', { class: 'muted' }, '—'),
          initiator(f),
          statusChip(f.status),
          el('span', { class: 'nowrap' }, fmtTime(f.created_at)),
          el('span', { class: 'nowrap' }, deadlineText(f.deadline)),
          el('button', { type: 'button', class: 'sm', 'aria-label': t('admin.flows.view_of', { title: f.title }), onclick: () => showFlow(f.id, f.title) }, t('common.view')),
        ], { 'data-flow-id': f.id });
      }
      return list.table;
    };
    const nothing = () => empty(shown.status || shown.q ? t('admin.flows.no_match') : t('admin.flows.none'));

    /** A whole flow ID: that flow alone (if it passes the status filter), else a title search. */
    async function byId(mine) {
      try {
        const flow = await api('GET', `/flows/${enc(shown.q)}`);
        if (mine !== asked) return true;
        prev.hidden = true;
        next.hidden = true;
        if (shown.status && flow.status !== shown.status) {
          summary.textContent = '';
          box.replaceChildren(empty(t('admin.flows.id_other_status', { status: t(`status.${flow.status}`) })));
          return true;
        }
        summary.textContent = t('admin.flows.by_id');
        box.replaceChildren(table([flow], (f) => f.names?.[f.initiator] || personName(f.initiator)));
        return true;
      } catch (err) {
        if (err.status === 404) return false;
        throw err;
      }
    }

    async function load(page) {
      const mine = ++asked;
      at = page;
      summary.textContent = '';
      box.replaceChildren(loading());
      prev.disabled = true;
      next.disabled = true;
      try {
        if (page === 0 && FLOW_ID.test(shown.q) && await byId(mine)) return;
        const out = await api('GET', `/admin/flows${qs({ status: shown.status, q: shown.q, limit: PAGE, cursor: cursors[page] })}`);
        if (mine !== asked) return;
        cursors = cursors.slice(0, page + 1);
        if (out.next_cursor) cursors.push(out.next_cursor);
        prev.hidden = page === 0 && !out.next_cursor;
        next.hidden = prev.hidden;
        prev.disabled = page === 0;
        next.disabled = !out.next_cursor;
        if (!out.items.length) {
          box.replaceChildren(page === 0 ? nothing() : empty(t('admin.flows.no_more')));
          return;
        }
        const from = page * PAGE + 1;
        summary.textContent = t('admin.flows.range', { page: page + 1, from, to: from + out.items.length - 1 });
        // Initiators by name: looked up for this page only (cached across pages).
        box.replaceChildren(table(out.items, (f) => personName(f.initiator)));
      } catch (err) {
        if (mine !== asked) return;
        prev.disabled = at === 0;
        next.disabled = cursors.length <= at + 1;
        failed(box, err);
        const line = box.querySelector('.error');
        line.textContent = t('admin.flows.failed', { reason: line.textContent });
      }
    }
    // Paging from the foot of a long list: back to the top of the new page.
    const turn = async (page) => { await load(page); summary.scrollIntoView({ block: 'nearest' }); };
    prev.addEventListener('click', () => turn(Math.max(0, at - 1)));
    next.addEventListener('click', () => turn(at + 1));

    const search = () => {
      shown = { status: status.value, q: query.value.trim() };
      cursors = [null];
      load(0);
    };
    status.addEventListener('change', search);

    async function loadAbnormal() {
      abnormal.replaceChildren(loading());
      try {
        const list = await api('GET', '/flows/abnormal?scope=all');
        if (!list.length) { abnormal.replaceChildren(empty(t('admin.flows.no_abnormal'))); return; }
        const rows = listTable([t('admin.flows.flow'), t('common.type'), t('admin.flows.reason'), t('common.time'), t('common.actions')]);
        for (const f of list) {
          rows.row([
            [el('strong', {}, f.title), el('div', {}, idCode(f.flow_id))],
            chip('failure', f.kind, f.kind === 'signing' ? 'bad' : 'pending'),
            f.reason, fmtTime(f.at),
            el('span', { class: 'row tight nowrap' },
              el('button', { type: 'button', class: 'sm', 'aria-label': t('admin.flows.view_of', { title: f.title }), onclick: () => showFlow(f.flow_id, f.title) }, t('common.view')),
              el('button', { type: 'button', class: 'sm', onclick: () => openPanel('trail', `flow:${f.flow_id}`) }, t('admin.trail.view'))),
          ]);
        }
        abnormal.replaceChildren(rows.table);
      } catch (err) { failed(abnormal, err); }
    }

    root.append(
      el('div', { class: 'card' },
        el('div', { class: 'spread' }, el('h2', {}, t('admin.flows.query')),
          el('button', { type: 'button', onclick: () => load(at) }, t('common.refresh'))),
        el('p', { class: 'muted small' }, t('admin.flows.query_hint')),
        el('form', { class: 'row admin-filter', role: 'search', novalidate: true, onsubmit: (e) => { e.preventDefault(); search(); } },
          statusField,
          field('flowq-q', t('admin.flows.q'), query),
          el('button', { type: 'submit', class: 'primary' }, t('admin.flows.search'))),
        summary, box,
        el('div', { class: 'actions' }, prev, next)),
      el('div', { class: 'card' },
        el('div', { class: 'spread' }, el('h2', {}, t('admin.flows.abnormal')),
          el('button', { type: 'button', onclick: loadAbnormal }, t('common.refresh'))),
        el('p', { class: 'muted small' }, t('admin.flows.abnormal_hint')),
        abnormal));
    search();
    return loadAbnormal();
  },
};

// 7. 系统设置 ---------------------------------------------------------

panels.settings = {
  init(root) {
    const types = el('textarea', { rows: 6, placeholder: t('admin.set.types_ph') });
    const fileTypes = ['pdf', 'docx', 'doc'].map((ft) => el('input', { type: 'checkbox', value: ft, id: `ft-${ft}` }));
    const maxMb = el('input', { type: 'number', min: 1, max: 100, step: 1, required: true, inputmode: 'numeric' });
    const maxDocs = el('input', { type: 'number', min: 1, max: 20, step: 1, required: true, inputmode: 'numeric' });
    const deadline = el('input', { type: 'number', min: 1, max: 365, step: 1, inputmode: 'numeric', placeholder: t('admin.set.no_deadline') });
    const saved = el('span', { class: 'saved', role: 'status', 'aria-live': 'polite' });
    const formError = errorLine();
    const errors = {};
    const errFor = (name) => { errors[name] = el('p', { class: 'error', id: `set-${name}-err`, hidden: true }); return errors[name]; };
    const body = el('div', {}, loading());
    const submit = el('button', { type: 'submit', class: 'primary' }, t('common.save'));

    const fill = (s) => {
      types.value = (s.business_types || []).join('\n');
      for (const box of fileTypes) box.checked = s.file_types.includes(box.value);
      maxMb.value = s.max_file_mb;
      maxDocs.value = s.max_documents;
      deadline.value = s.default_deadline_days ?? '';
    };
    const mark = (name, input, message) => {
      errors[name].textContent = message || '';
      errors[name].hidden = !message;
      if (input) {
        input.setAttribute('aria-describedby', `set-${name}-err`);
        if (message) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
      }
      return !message;
    };
    const whole = (input, lo, hi) => {
      const text = String(input.value).trim();
      const n = Number(text);
      return text !== '' && Number.isInteger(n) && n >= lo && n <= hi ? n : null;
    };

    const form = el('form', {
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        saved.textContent = '';
        formError.hidden = true;
        const list = [...new Set(types.value.split('\n').map((s) => s.trim()).filter(Boolean))];
        const files = fileTypes.filter((b) => b.checked).map((b) => b.value);
        const mb = whole(maxMb, 1, 100);
        const docs = whole(maxDocs, 1, 20);
        const days = deadline.value.trim() === '' ? undefined : whole(deadline, 1, 365);
        const ok = [
          mark('types', types, list.length > 100 ? t('admin.set.types_many') : list.some((s) => s.length > 500) ? t('admin.set.types_long') : ''),
          mark('files', null, files.length ? '' : t('admin.set.files_none')),
          mark('mb', maxMb, mb === null ? t('admin.set.mb_rule') : ''),
          mark('docs', maxDocs, docs === null ? t('admin.set.docs_rule') : ''),
          mark('days', deadline, days === null ? t('admin.set.days_rule') : ''),
        ].every(Boolean);
        if (!ok) { form.querySelector('[aria-invalid="true"], .error:not([hidden])')?.scrollIntoView({ block: 'center' }); return; }
        submit.disabled = true;
        try {
          const out = await api('PUT', '/admin/settings/flows', {
            business_types: list, file_types: files, max_file_mb: mb, max_documents: docs, default_deadline_days: days ?? null,
          });
          fill(out);
          saved.textContent = t('common.saved');
          toast(t('common.saved'));
        } catch (err) { showError(err, formError); } finally { submit.disabled = false; }
      },
    },
    field('set-types', t('admin.set.types'), types, t('admin.set.types_hint')), errFor('types'),
    el('fieldset', { class: 'checks', 'aria-describedby': 'set-files-err' },
      el('legend', {}, t('admin.set.file_types')),
      fileTypes.map((box) => el('label', { class: 'check', for: box.id }, box, ` ${box.value.toUpperCase()}`))),
    errFor('files'),
    el('div', { class: 'grid3' },
      el('div', {}, field('set-mb', t('admin.set.max_mb'), maxMb), errFor('mb')),
      el('div', {}, field('set-docs', t('admin.set.max_docs'), maxDocs), errFor('docs')),
      el('div', {}, field('set-days', t('admin.set.deadline'), deadline, t('admin.set.deadline_hint')), errFor('days'))),
    formError,
    el('div', { class: 'actions' }, submit, saved));

    form.addEventListener('input', () => { saved.textContent = ''; });
    root.append(
      el('div', { class: 'card' }, el('h2', {}, t('admin.set.flows')), el('p', { class: 'muted small' }, t('admin.set.flows_hint')), body),
      el('div', { class: 'card' }, el('h2', {}, t('admin.set.providers')),
        el('p', {}, t('admin.set.providers_text')),
        el('dl', { class: 'kv' },
          el('dt', {}, t('admin.set.sms')), el('dd', {}, el('code', {}, 'QZ_SMS_URL'), ' · ', el('code', {}, 'QZ_SMS_KEY')),
          el('dt', {}, t('admin.set.mail')), el('dd', {}, el('code', {}, 'QZ_SMTP_URL'), ' · ', el('code', {}, 'QZ_SMTP_FROM'), ' · ', el('code', {}, 'QZ_SMTP_USERNAME'), ' · ', el('code', {}, 'QZ_SMTP_PASSWORD')),
          el('dt', {}, t('admin.set.idp')), el('dd', {}, el('code', {}, 'QZ_IDENTITY_URL'), ' · ', el('code', {}, 'QZ_IDENTITY_KEY'))),
        el('p', { class: 'muted small' }, t('admin.set.providers_dev'))));

    return (async () => {
      try { fill(await api('GET', '/settings/flows')); body.replaceChildren(form); } catch (err) { failed(body, err); }
    })();
  },
};

// 8. 发件箱 -----------------------------------------------------------

/** The body with six-digit codes marked. */
function messageText(m) {
  const parts = m.template === 'code' ? m.body.split(/(?<!\d)(\d{6})(?!\d)/) : [m.body];
  return el('div', { class: 'msg-body' }, parts.map((p, i) => (i % 2 ? el('mark', {}, p) : p)));
}
const MSG_TONES = { sent: 'ok', delivered: 'ok', dev: '', queued: 'pending', failed: 'bad' };

panels.outbox = {
  init(root) {
    const recipient = el('input', { type: 'search', autocomplete: 'off', placeholder: t('admin.outbox.recipient_ph') });
    const box = el('div', { 'aria-live': 'polite' });
    const more = el('button', { type: 'button', hidden: true }, t('common.more'));
    const PAGE = 50;
    let all = [];
    let shown = 0;
    let table = null;

    const showMore = () => {
      for (const m of all.slice(shown, shown + PAGE)) {
        table.row([
          fmtTime(m.created_at), t(`admin.channel.${m.channel}`), m.recipient,
          [m.subject ? el('strong', {}, m.subject) : null, messageText(m)],
          [chip('msg', m.status, MSG_TONES[m.status]),
            m.status === 'failed' || m.last_error ? el('div', { class: 'small' }, t('admin.outbox.attempts', { n: m.attempts }), m.last_error ? ` · ${m.last_error}` : '') : null],
        ], { 'data-message-id': m.id });
      }
      shown = Math.min(all.length, shown + PAGE);
      more.hidden = shown >= all.length;
    };

    // The outbox answers oldest first: read every page, then show the newest first.
    async function load() {
      const progress = el('p', { class: 'muted', role: 'status' }, el('span', { class: 'spinner' }), ' ', t('common.loading'));
      box.replaceChildren(progress);
      more.hidden = true;
      try {
        const items = [];
        let cursor = null;
        for (let i = 0; i < 200; i += 1) {
          const page = await api('GET', `/admin/outbox${qs({ recipient: recipient.value.trim(), limit: 100, cursor })}`);
          items.push(...page.items);
          cursor = page.next_cursor;
          if (!cursor) break;
          progress.lastChild.textContent = ` ${t('admin.outbox.reading', { n: items.length })}`;
        }
        all = items.reverse();
        shown = 0;
        if (!all.length) { box.replaceChildren(empty(recipient.value.trim() ? t('admin.outbox.none_for') : t('admin.outbox.none'))); return; }
        table = listTable([t('common.time'), t('admin.outbox.channel'), t('admin.outbox.recipient'), t('admin.outbox.body'), t('common.status')]);
        box.replaceChildren(el('p', { class: 'muted small' }, t('admin.outbox.count', { n: all.length })), table.table);
        showMore();
      } catch (err) { failed(box, err); }
    }
    more.addEventListener('click', showMore);
    root.append(
      el('div', { class: 'spread' }, el('h2', {}, t('admin.tab.outbox')),
        el('button', { type: 'button', id: 'outbox-refresh', onclick: load }, t('common.refresh'))),
      el('p', { class: 'muted small' }, t('admin.outbox.hint')),
      el('form', { class: 'row admin-filter', role: 'search', onsubmit: (e) => { e.preventDefault(); load(); } },
        field('outbox-recipient', t('admin.outbox.recipient'), recipient),
        el('button', { type: 'submit' }, t('common.search'))),
      box, el('div', { class: 'actions' }, more));
    return load();
  },
};

// 9. 审计日志 ---------------------------------------------------------

const OBJECT_KINDS = ['user', 'org', 'flow', 'seal', 'request', 'certificate', 'grant_request', 'autosign', 'document'];
const FIXED_OBJECTS = { tree: 'orgs:tree', settings: 'setting:settings:flows' };

panels.trail = {
  init(root) {
    const kind = el('select', {},
      OBJECT_KINDS.map((k) => el('option', { value: k }, t(`admin.obj.${k}`))),
      Object.keys(FIXED_OBJECTS).map((k) => el('option', { value: k }, t(`admin.obj.${k}`))));
    const objectId = el('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: t('admin.trail.id_ph') });
    const box = el('div', { 'aria-live': 'polite' }, empty(t('admin.trail.pick')));
    const more = el('button', { type: 'button', hidden: true }, t('common.more'));
    const verdict = el('div', { 'aria-live': 'polite' });
    const error = errorLine();
    let cursor = null;
    let object = '';
    let rows = [];

    const syncKind = () => { objectId.disabled = kind.value in FIXED_OBJECTS; };
    kind.addEventListener('change', syncKind);

    async function load(reset) {
      if (reset) {
        error.hidden = true;
        object = kind.value in FIXED_OBJECTS ? FIXED_OBJECTS[kind.value] : objectId.value.trim() ? `${kind.value}:${objectId.value.trim()}` : '';
        if (!object) { error.textContent = t('admin.trail.need_id'); error.hidden = false; objectId.focus(); return; }
        cursor = null;
        rows = [];
        box.replaceChildren(loading());
      }
      try {
        const page = await api('GET', `/admin/trail${qs({ object, limit: 50, cursor })}`);
        rows.push(...page.items);
        box.replaceChildren(rows.length
          ? el('div', {}, el('p', { class: 'muted small' }, t('admin.trail.of', { object }), ' · ', t('admin.trail.count', { n: rows.length })), trailTable(rows))
          : empty(t('admin.trail.none', { object })));
        cursor = page.next_cursor || null;
        more.hidden = !cursor;
      } catch (err) { failed(box, err); }
    }
    more.addEventListener('click', () => load(false));

    const verify = el('button', {
      type: 'button', class: 'primary',
      onclick: async () => {
        verify.disabled = true;
        verdict.replaceChildren(working());
        try {
          const out = await api('POST', '/admin/trail/verify');
          verdict.replaceChildren(out.ok
            ? el('p', { class: 'verdict ok' }, t('admin.trail.chain_ok', { n: out.events }))
            : el('div', {}, el('p', { class: 'verdict bad' }, t('admin.trail.chain_bad')),
              kv([[t('admin.trail.object'), el('code', {}, out.object)], [t('admin.trail.seq'), String(out.seq)], [t('admin.trail.problem'), out.problem]])));
          verdict.append(el('p', { class: 'muted small' }, t('admin.trail.checked_at', { time: fmtTime(Math.floor(Date.now() / 1000)) })));
        } catch (err) { failed(verdict, err); } finally { verify.disabled = false; }
      },
    }, t('admin.trail.verify'));

    this.show = (target) => {
      const fixed = Object.entries(FIXED_OBJECTS).find(([, v]) => v === target);
      if (fixed) kind.value = fixed[0];
      else {
        const at = target.indexOf(':');
        kind.value = target.slice(0, at);
        objectId.value = target.slice(at + 1);
      }
      syncKind();
      load(true);
    };

    root.append(
      el('div', { class: 'card' },
        el('div', { class: 'spread' }, el('h2', {}, t('admin.trail.chain')), verify),
        el('p', { class: 'muted small' }, t('admin.trail.chain_hint')),
        verdict),
      el('div', { class: 'card' },
        el('h2', {}, t('admin.tab.trail')),
        el('form', { class: 'row admin-filter', role: 'search', onsubmit: (e) => { e.preventDefault(); load(true); } },
          field('trail-kind', t('admin.trail.kind'), kind),
          field('trail-id', t('admin.trail.id'), objectId),
          el('button', { type: 'submit' }, t('common.search'))),
        error,
        box, el('div', { class: 'actions' }, more)));
  },
};

// ------------------------------------------------------------------ the tab bar

const names = Object.keys(panels);
const ready = new Map();
let pendingArg = null;

function onSelect(name) {
  for (const section of $$('.admin-panel')) section.hidden = section.id !== `panel-${name}`;
  $(`#tab-${name}`)?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  const panel = panels[name];
  if (!ready.has(name)) ready.set(name, Promise.resolve(panel.init($(`#panel-${name}`))).catch((err) => showError(err)));
  const arg = pendingArg;
  pendingArg = null;
  if (arg && panel.show) ready.get(name).then(() => panel.show(arg));
}

const bar = $('#admin-tabs');
const select = tabs(bar, onSelect);

/** Opens a panel, handing it something to show (an organization id, a trail object). */
function openPanel(name, arg) {
  pendingArg = arg;
  select(name);
  $(`#tab-${name}`)?.focus();
}

// The bar is vertical on wide screens: Up/Down/Home/End move too.
bar.addEventListener('keydown', (e) => {
  const buttons = $$('button[data-tab]', bar);
  const at = buttons.indexOf(document.activeElement);
  if (at < 0 || !['ArrowUp', 'ArrowDown', 'Home', 'End'].includes(e.key)) return;
  e.preventDefault();
  const to = e.key === 'Home' ? 0 : e.key === 'End' ? buttons.length - 1
    : (at + (e.key === 'ArrowDown' ? 1 : buttons.length - 1)) % buttons.length;
  buttons[to].focus();
  select(buttons[to].dataset.tab);
});

window.addEventListener('hashchange', () => {
  const name = location.hash.slice(1);
  if (names.includes(name)) select(name);
});

const first = location.hash.slice(1);
select(names.includes(first) ? first : 'users');
countPending();
