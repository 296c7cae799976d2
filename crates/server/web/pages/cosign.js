// 协同签名 companion (phone): stands in for the seeds' WeChat mini-program. The two-party SM2
// protocol itself (the phone's key share d1, sealed under the certificate password) runs in the
// 协同签名工具 (`qz cosign`); this page does not imitate it. It takes the invitation code, says
// exactly what to run, and shows what the platform knows: the certificate, the signatures
// waiting for the phone (which can be refused here) and the auto-sign window (which can be
// ended here).
import { $, api, confirmBox, el, empty, fmtDate, fmtTime, me, param, showError, t, toast } from '/static/core.js';

/** Replaces `node`'s children, skipping null/false and flattening arrays. */
function put(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

const ALPHABET = /^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{12}$/;
const KEY = '~/qz-cosign/me';
const origin = location.origin;
const loggedIn = !!me && !me.scoped;
const now = () => Math.floor(Date.now() / 1000);

function tOr(key, fallback) {
  const text = t(key);
  return text === key ? fallback : text;
}

function loading() {
  return el('p', { class: 'muted' }, el('span', { class: 'spinner' }), ' ', t('common.loading'));
}

function errorLine(target, err) {
  const p = el('p', { class: 'error', role: 'alert' });
  showError(err, p);
  put(target, p);
}

/** A command to run in the 协同签名工具, with a copy button. */
function command(text, label) {
  const copy = el('button', {
    type: 'button', class: 'link small',
    onclick: async () => {
      try { await navigator.clipboard.writeText(text); toast(t('cosign.copied')); } catch { toast(t('cosign.copy_failed'), true); }
    },
  }, t('cosign.copy'));
  return el('div', { class: 'me-cmd' }, label ? el('p', { class: 'small' }, label) : null, el('pre', {}, el('code', {}, text)), copy);
}

// ---------------------------------------------------------------- invitation code

function normalise(code) {
  return code.toUpperCase().replace(/[\s-]/g, '');
}

function showSteps(code) {
  $('#cs-steps').hidden = false;
  put($('#cs-enroll-cmd'), 
    command(`mkdir -p ~/qz-cosign\nread -rsp 'Certificate password: ' QZ_CERT_PASSWORD && echo && export QZ_CERT_PASSWORD\nqz cosign enroll --server ${origin} --code ${code} --password-env QZ_CERT_PASSWORD --out ${KEY}`,
      t('cosign.download.cmd')));
}

const codeInput = $('#cs-code');
codeInput.addEventListener('input', () => { $('#cs-code-error').hidden = true; });
$('#cs-code-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const code = normalise(codeInput.value);
  const error = $('#cs-code-error');
  if (!ALPHABET.test(code)) {
    error.textContent = t('cosign.code_bad');
    error.hidden = false;
    $('#cs-steps').hidden = true;
    return;
  }
  error.hidden = true;
  codeInput.value = code;
  showSteps(code);
  $('#cs-steps').scrollIntoView({ behavior: 'smooth', block: 'nearest' });
});

const given = param('code');
if (given) {
  codeInput.value = normalise(given);
  if (ALPHABET.test(codeInput.value)) showSteps(codeInput.value);
}

// ---------------------------------------------------------------- logged-in parts

function renderAccount() {
  const box = $('#cs-account');
  if (loggedIn) {
    put(box, el('div', { class: 'spread' },
      el('span', {}, t('cosign.account.as'), ' ', el('strong', {}, me.name || me.phone)),
      el('a', { href: '/me' }, t('cosign.account.center'))));
  } else {
    const next = encodeURIComponent(location.pathname + location.search);
    put(box, el('p', {}, t('cosign.account.login_hint')),
      el('div', { class: 'actions' }, el('a', { class: 'button primary', href: `/login?next=${next}` }, t('cosign.account.login'))));
  }
}

async function loadCert() {
  const box = $('#cs-cert-state');
  put(box, loading());
  try {
    const certs = await api('GET', '/me/certificates');
    if (certs.custody !== 'cosign') {
      put(box, el('p', {}, t('cosign.cert.hosted')),
        el('p', {}, el('a', { href: '/me#grants' }, t('cosign.cert.hosted_link'))));
      $('#cs-download').hidden = true;
      $('#cs-more-invite').hidden = true;
      return certs;
    }
    const active = certs.items.find((c) => c.status === 'active' && c.custody === 'cosign');
    if (active) {
      const cn = /CN=([^,]+)/.exec(active.subject || '')?.[1] || active.subject;
      put(box, 
        el('p', {}, el('span', { class: 'status active' }, t('cosign.cert.ok')), ' ', el('strong', {}, cn)),
        el('dl', { class: 'kv' },
          el('dt', {}, t('cosign.cert.valid_to')), el('dd', {}, fmtDate(active.not_after)),
          el('dt', {}, t('cosign.cert.algorithm')), el('dd', {}, active.algorithm.toUpperCase()),
          el('dt', {}, t('cosign.cert.serial')), el('dd', { class: 'small' }, active.serial)),
        el('p', { class: 'muted small' }, t('cosign.cert.redownload')));
    } else {
      put(box, el('p', {}, el('span', { class: 'status pending' }, t('cosign.cert.none'))),
        el('p', { class: 'muted small' }, t('cosign.cert.none_hint')));
    }
    return certs;
  } catch (err) { errorLine(box, err); return null; }
}

async function loadPending() {
  const box = $('#cs-pending-list');
  put(box, loading());
  try {
    const list = await api('GET', '/me/pending-signatures');
    if (!list.length) { put(box, empty(t('cosign.pending.none'))); return; }
    const titles = await Promise.all(list.map((p) => api('GET', `/flows/${p.flow_id}`).then((f) => f.title).catch(() => p.flow_id)));
    put(box, el('ul', { class: 'cs-list' }, list.map((p, i) => el('li', {},
      el('div', { class: 'spread' }, el('strong', {}, titles[i]), el('span', { class: 'status pending' }, t('cosign.pending.waiting'))),
      el('p', { class: 'muted small' },
        t('cosign.pending.meta', { n: p.documents.length, time: fmtTime(p.created_at), until: fmtTime(p.expires_at) }),
        ' · ', tOr(`cosign.pending.by.${p.method}`, p.method)),
      p.method === 'cosign'
        ? command(`qz cosign confirm --key ${KEY} --password-env QZ_CERT_PASSWORD --session-env QZ_SESSION --csrf-env QZ_CSRF --pending ${p.id}`,
          t('cosign.pending.confirm_with'))
        : el('p', { class: 'small' }, t('cosign.pending.token')),
      el('div', { class: 'row' },
        el('a', { class: 'button', href: `/flows/${p.flow_id}` }, t('cosign.pending.view')),
        el('button', {
          type: 'button', class: 'danger',
          onclick: async () => {
            if (!await confirmBox(t('cosign.pending.refuse'), t('cosign.pending.refuse_text'), t('cosign.pending.refuse'), true)) return;
            try { await api('POST', `/pending-signatures/${p.id}/cancel`); toast(t('cosign.pending.refused')); loadPending(); } catch (err) { showError(err); }
          },
        }, t('cosign.pending.refuse')))))));
  } catch (err) { errorLine(box, err); }
}

const HOURS = [24, 72, 168, 720, 2160, 4320];

async function loadAutosign(custody) {
  const state = $('#cs-auto-state');
  const enable = $('#cs-auto-enable');
  put(state, loading());
  put(enable);
  try {
    const grants = await api('GET', '/me/autosign');
    const live = grants.find((g) => !g.revoked_at && g.not_before <= now() && now() < g.not_after);
    if (live) {
      put(state, el('div', { class: 'me-switch on' },
        el('strong', {}, t('cosign.auto.on_until', { time: fmtTime(live.not_after) })),
        el('button', {
          type: 'button', class: 'danger',
          onclick: async () => {
            if (!await confirmBox(t('cosign.auto.off'), t('cosign.auto.off_text'), t('cosign.auto.off'), true)) return;
            try { await api('POST', `/me/autosign/${live.id}/revoke`); toast(t('cosign.auto.turned_off')); loadAutosign(custody); } catch (err) { showError(err); }
          },
        }, t('cosign.auto.off'))));
    } else {
      put(state, el('div', { class: 'me-switch' }, el('strong', {}, t('cosign.auto.is_off'))));
    }
    if (custody !== 'cosign') {
      put(enable, el('p', { class: 'small' }, el('a', { href: '/me#grants' }, t('cosign.auto.hosted'))));
      return;
    }
    const select = el('select', { id: 'cs-hours' }, HOURS.map((h) => el('option', { value: h },
      h % 24 === 0 ? t('cosign.auto.days', { n: h / 24 }) : t('cosign.auto.hours', { n: h }))));
    const cmd = el('div');
    const update = () => put(cmd, command(
      `qz cosign autosign --key ${KEY} --password-env QZ_CERT_PASSWORD --session-env QZ_SESSION --csrf-env QZ_CSRF --hours ${select.value}`,
      t('cosign.auto.cmd')));
    select.addEventListener('change', update);
    update();
    put(enable, 
      el('p', { class: 'small' }, live ? t('cosign.auto.renew_hint') : t('cosign.auto.on_hint')),
      el('label', { for: 'cs-hours' }, t('cosign.auto.window')), select, cmd,
      el('p', { class: 'muted small' }, t('cosign.auto.after')));
  } catch (err) { errorLine(state, err); }
}

function renderSession() {
  put($('#cs-session-cmd'), command(
    `read -rsp 'Login password: ' QZ_LOGIN_PASSWORD && echo\ncurl -s -c qz.jar -H 'Content-Type: application/json' \\\n  -d "{\\"phone\\":\\"${me.phone}\\",\\"password\\":\\"$QZ_LOGIN_PASSWORD\\"}" \\\n  ${origin}/api/v1/auth/login > /dev/null\nexport QZ_SESSION=$(awk '$6=="qz_session"{print $7}' qz.jar)\nexport QZ_CSRF=$(awk '$6=="qz_csrf"{print $7}' qz.jar)`));
}

$('#cs-pending-refresh').addEventListener('click', loadPending);

(async () => {
  renderAccount();
  if (!loggedIn) return;
  for (const id of ['#cs-cert', '#cs-pending', '#cs-auto', '#cs-session']) $(id).hidden = false;
  renderSession();
  loadPending();
  const certs = await loadCert();
  if (certs?.custody !== 'cosign') $('#cs-session').hidden = true;
  // Already downloaded and no code given: what waits for the phone comes first.
  const downloaded = certs?.items.some((c) => c.status === 'active' && c.custody === 'cosign');
  if (downloaded && !given) $('#cs-auto').after($('#cs-download'));
  loadAutosign(certs?.custody);
})();
