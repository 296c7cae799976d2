// Shared helpers of every page: texts, the API client (cookie session + CSRF header), DOM
// building, messages, dialogs and formatting. No third-party code.

const context = JSON.parse(document.getElementById('qz-context')?.textContent || '{}');
export const lang = context.lang || 'zh-CN';
export const me = context.user || null;
const texts = context.texts || {};

/** The text of `key` in the page's language, with `{name}` slots filled from `vars`. */
export function t(key, vars = {}) {
  const text = texts[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (all, name) => (name in vars ? String(vars[name]) : all));
}

/** The element matching `selector`. */
export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** Builds an element: el('button', {class: 'primary', onclick: f}, 'text', child…). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function cookie(name) {
  const found = document.cookie.split(';').map((c) => c.trim().split('=')).find(([k]) => k === name);
  return found ? decodeURIComponent(found[1] || '') : '';
}

/** An API failure: the problem's code, status and a message in plain words. */
export class ApiError extends Error {
  constructor(status, problem) {
    const code = problem?.code || problem?.type?.split('/').pop() || 'error';
    const known = texts[`err.${code}`];
    super(known || problem?.detail || problem?.title || t('err.generic', { status }));
    this.status = status;
    this.code = code;
    this.problem = problem;
  }
}

/**
 * Calls `/api/v1{path}`. `body`: an object (sent as JSON), or a Blob/File/ArrayBuffer (sent
 * raw). Answers the parsed JSON, or the Response itself with `{raw: true}`.
 */
export async function api(method, path, body, { raw = false, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, credentials: 'same-origin' };
  if (method !== 'GET' && method !== 'HEAD') init.headers['X-CSRF-Token'] = cookie('qz_csrf');
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path.startsWith('/') && !path.startsWith('/api/') && !path.startsWith('/verify/') ? `/api/v1${path}` : path, init);
  } catch (err) {
    throw new ApiError(0, { code: 'network' });
  }
  if (!response.ok) {
    let problem = null;
    try { problem = await response.json(); } catch { /* not JSON */ }
    if (response.status === 401 && !path.startsWith('/auth/') && !path.startsWith('/guest/')) {
      location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
    }
    throw new ApiError(response.status, problem);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.text();
}

/** Uploads a file to `/blobs` with progress (0–1) reported to `onProgress`. */
export function upload(file, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/blobs');
    xhr.setRequestHeader('X-CSRF-Token', cookie('qz_csrf'));
    if (file.type) xhr.setRequestHeader('Content-Type', file.type);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* empty */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new ApiError(0, { code: 'network' }));
    xhr.send(file);
  });
}

/** Shows a short message at the bottom of the page. */
export function toast(message, bad = false) {
  // An open modal dialog sits in the top layer: the message goes inside it to be seen.
  const dialog = document.querySelector('dialog[open]');
  let box = dialog ? dialog.querySelector('.toast-in-dialog') : document.getElementById('toast');
  if (dialog && !box) {
    box = el('div', { class: 'toast-in-dialog', role: 'status', 'aria-live': 'polite' });
    dialog.append(box);
  }
  if (!box) return;
  const item = el('div', { class: bad ? 'bad' : '' }, message);
  box.append(item);
  setTimeout(() => item.remove(), bad ? 6000 : 3500);
}

/** Shows an error under `where` (or as a message) in plain words. */
export function showError(err, where) {
  const message = err instanceof ApiError ? err.message : t('err.generic', { status: '' });
  if (!(err instanceof ApiError)) console.error(err);
  if (where) {
    where.textContent = message;
    where.hidden = false;
  } else {
    toast(message, true);
  }
}

/**
 * A modal dialog. `build(close)` returns its content; answers what `close(value)` was given
 * (undefined when dismissed with Esc or Cancel).
 */
export function modal(title, build) {
  return new Promise((resolve) => {
    const dialog = el('dialog', { 'aria-labelledby': 'dlg-title' });
    let result;
    const close = (value) => { result = value; dialog.close(); };
    dialog.append(el('h2', { id: 'dlg-title' }, title), build(close));
    dialog.addEventListener('close', () => { dialog.remove(); resolve(result); });
    document.body.append(dialog);
    dialog.showModal();
    const first = dialog.querySelector('input, select, textarea, button.primary');
    first?.focus();
  });
}

/** Asks yes or no. */
export function confirmBox(title, message, okText = t('common.ok'), danger = false) {
  return modal(title, (close) => el('div', {},
    el('p', {}, message),
    el('div', { class: 'actions' },
      el('button', { class: danger ? 'danger' : 'primary', onclick: () => close(true) }, okText),
      el('button', { type: 'button', onclick: () => close(false) }, t('common.cancel')))));
}

/** Asks for a reason (decline, revoke, reject). */
export function askReason(title, label) {
  return modal(title, (close) => {
    const input = el('textarea', { id: 'reason', rows: 3, maxlength: 500, required: true });
    const error = el('p', { class: 'error', hidden: true });
    return el('form', {
      onsubmit: (e) => {
        e.preventDefault();
        if (!input.value.trim()) { error.textContent = t('common.reason_needed'); error.hidden = false; return; }
        close(input.value.trim());
      },
    }, el('label', { for: 'reason' }, label), input, error,
    el('div', { class: 'actions' },
      el('button', { class: 'primary', type: 'submit' }, t('common.ok')),
      el('button', { type: 'button', onclick: () => close() }, t('common.cancel'))));
  });
}

const zone = { timeZone: 'Asia/Shanghai' };

/** Unix seconds as a date and time in China time. */
export function fmtTime(seconds) {
  if (!seconds) return '';
  return new Date(seconds * 1000).toLocaleString(lang, { ...zone, hour12: false, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
}

/** Unix seconds as a date in China time. */
export function fmtDate(seconds) {
  if (!seconds) return '';
  return new Date(seconds * 1000).toLocaleDateString(lang, { ...zone, year: 'numeric', month: '2-digit', day: '2-digit' });
}

/** A status chip: `status.<value>` text, colour by value. */
export function statusChip(value) {
  return el('span', { class: `status ${value}` }, t(`status.${value}`));
}

/** An empty-state line. */
export function empty(message) {
  return el('div', { class: 'empty' }, message);
}

/** Sends an SMS code (purpose login, register, reset, sign…) and counts down on `button`. */
export async function sendCode(button, body) {
  button.disabled = true;
  try {
    await api('POST', '/auth/codes', body);
    toast(t('common.code_sent'));
    let left = 60;
    const label = button.textContent;
    const timer = setInterval(() => {
      left -= 1;
      button.textContent = t('common.resend_in', { s: left });
      if (left <= 0) { clearInterval(timer); button.textContent = label; button.disabled = false; }
    }, 1000);
    button.textContent = t('common.resend_in', { s: left });
  } catch (err) {
    button.disabled = false;
    showError(err);
  }
}

/** Reads a query parameter of the page's address. */
export const param = (name) => new URLSearchParams(location.search).get(name);

/** A same-site path to go to after logging in. */
export function nextPath() {
  const next = param('next') || '/';
  // Only our own paths: not //host, nor /\host (which browsers read as //host).
  return /^\/(?![\/\\])/.test(next) && !/[\\\s]/.test(next) ? next : '/';
}

/** Switches tabs: buttons with data-tab inside `bar`, panels by id. */
export function tabs(bar, onSelect) {
  const buttons = $$('button[data-tab]', bar);
  const select = (name) => {
    for (const b of buttons) b.setAttribute('aria-selected', String(b.dataset.tab === name));
    onSelect(name);
  };
  for (const b of buttons) {
    b.setAttribute('role', 'tab');
    b.addEventListener('click', () => select(b.dataset.tab));
  }
  bar.setAttribute('role', 'tablist');
  bar.addEventListener('keydown', (e) => {
    const at = buttons.indexOf(document.activeElement);
    if (at < 0 || !['ArrowLeft', 'ArrowRight'].includes(e.key)) return;
    const next = buttons[(at + (e.key === 'ArrowRight' ? 1 : buttons.length - 1)) % buttons.length];
    next.focus();
    select(next.dataset.tab);
  });
  return select;
}

document.getElementById('logout')?.addEventListener('click', async () => {
  try { await api('POST', '/auth/logout'); } catch { /* the session may be gone already */ }
  location.href = '/login';
});
