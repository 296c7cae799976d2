// 文件验证 (/verify): anyone checks a signed PDF. The file goes to POST /verify/check with a
// picture captcha; the answer is qz-verify's report, the document revocation registry's entry,
// the page sizes and a ticket for the page images (POST /verify/pages/{n} with the same bytes:
// nothing is kept on the server). The report is shown as a verdict in plain words, one card
// per signature, and the pages with each signature's marks.

import { $, $$, ApiError, api, el, lang, t } from '/static/core.js';
import { position, showPages } from '/static/viewer.js';

const PIXEL_WIDTH = 900;
/** Page images fetched at once (the server renders them one after another anyway). */
const PAGE_JOBS = 2;

const state = {
  file: null,
  token: '',
  busy: false,
  /** Object URLs of page images, revoked on reset. */
  urls: [],
  observer: null,
  /** The run of the current report: page fetches of an older one are dropped. */
  run: 0,
};

// ---------------------------------------------------------------- helpers

function fmtSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(bytes < 10 * 1024 * 1024 ? 2 : 1)} MB`;
}

/** An RFC 3339 time (or Unix seconds) in China time, to the second. */
function fmtMoment(value) {
  if (value === null || value === undefined || value === '') return '';
  const ms = typeof value === 'number' ? value * 1000 : Date.parse(value);
  if (Number.isNaN(ms)) return String(value);
  return new Date(ms).toLocaleString(lang, {
    timeZone: 'Asia/Shanghai', hour12: false, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

/** The CN of a distinguished name, else the whole name. */
function commonName(dn) {
  const match = /(?:^|,)\s*CN=((?:\\,|[^,])*)/.exec(dn || '');
  return match ? match[1].replace(/\\,/g, ',') : dn || '';
}

const chip = (text, good) => el('span', { class: `status ${good === true ? 'ok' : good === false ? 'bad' : ''}` }, text);

function showMessage(node, message) {
  node.textContent = message;
  node.hidden = !message;
}

// The verifier's problems are English sentences; the known ones are said in the reader's words.
const PROBLEMS = [
  [/^the signer is not trusted$/, 'verify.p.not_trusted'],
  [/^the signer certificate is revoked/, 'verify.p.cert_revoked'],
  [/^the signature stops inside a revision$/, 'verify.p.partial'],
  [/^the \/ByteRange gap is not this signature's \/Contents$/, 'verify.p.wrapping'],
  [/^(the \/ByteRange does not describe the file|missing or malformed \/ByteRange)$/, 'verify.p.byte_range'],
  [/^the signature value is empty$/, 'verify.p.empty'],
  [/^the signed digest does not match the signed bytes$/, 'verify.p.digest'],
  [/^signature does not verify/, 'verify.p.signature'],
  [/^the signer's certificate is not in the signature$/, 'verify.p.no_cert'],
  [/^page (?<n>\d+) changed$/, 'verify.p.page_changed'],
  [/^an annotation was removed from page (?<n>\d+)$/, 'verify.p.annot_removed'],
  [/^page (?<n>\d+) annotations swapped$/, 'verify.p.annot_swapped'],
  [/^a new form widget on page (?<n>\d+)$/, 'verify.p.widget'],
  [/^data was appended after the last/, 'verify.p.appended'],
  [/^annotations were added after signing and no certification permits them$/, 'verify.p.annotations'],
  [/^the certification forbids any change/, 'verify.p.docmdp'],
  [/^the signature timestamp's TSA is not trusted$/, 'verify.p.tsa'],
  [/^the seal maker's certificate is not trusted$/, 'verify.p.seal_maker'],
  [/^the cross-reference data of a later revision is damaged$/, 'verify.p.xref'],
  [/^the cross-reference entry of object (?<n>\d+) points at another object$/, 'verify.p.misplaced'],
  [/^an object is stored inside a signature's \/Contents$/, 'verify.p.hidden'],
  [/^(?<what>\S+) (?<n>\d+) added after signing$/, 'verify.p.obj_added'],
  [/^(?<what>\S+) (?<n>\d+) changed after signing$/, 'verify.p.obj_changed'],
  [/^the document catalog changed \((?<keys>.*)\)$/, 'verify.p.catalog'],
  [/^certificate (?<subject>.*) is not valid at the validation time$/, 'verify.p.cert_time'],
  [/^no issuer found for (?<subject>.*)$/, 'verify.p.no_issuer'],
  [/^self-signed certificate that is not a trust anchor$/, 'verify.p.self_signed'],
  [/^cannot read the PDF/, 'verify.p.cannot_read'],
];

function problemText(problem) {
  for (const [pattern, key] of PROBLEMS) {
    const match = pattern.exec(problem);
    if (!match) continue;
    const vars = { ...(match.groups || {}) };
    if (vars.what) {
      const kind = t(`verify.obj.${vars.what}`);
      if (kind !== `verify.obj.${vars.what}`) vars.what = kind;
    }
    return t(key, vars);
  }
  return problem;
}

function problemList(problems) {
  const seen = [...new Set(problems.map(problemText))];
  return el('ul', { class: 'problems' }, seen.map((p) => el('li', {}, p)));
}

// ---------------------------------------------------------------- choosing the file

const fileInput = $('#verify-file');
const dropzone = $('#dropzone');
const fileError = $('#file-error');

function setFile(file) {
  state.file = file;
  $('#drop-empty').hidden = !!file;
  $('#drop-chosen').hidden = !file;
  dropzone.classList.toggle('has-file', !!file);
  if (file) {
    $('#file-name').textContent = file.name;
    $('#file-size').textContent = fmtSize(file.size);
  }
}

/** Answers whether the first bytes of `file` hold a PDF header (as the verifier checks). */
async function looksLikePdf(file) {
  try {
    const head = new Uint8Array(await file.slice(0, 1024).arrayBuffer());
    return new TextDecoder('latin1').decode(head).includes('%PDF-');
  } catch {
    return false;
  }
}

async function choose(files) {
  showMessage(fileError, '');
  showMessage($('#verify-error'), '');
  if (!files || !files.length) return;
  if (files.length > 1) {
    showMessage(fileError, t('verify.too_many'));
    return;
  }
  const file = files[0];
  if (file.size === 0) {
    setFile(null);
    showMessage(fileError, t('verify.empty_file', { name: file.name }));
    return;
  }
  if (!(await looksLikePdf(file))) {
    setFile(null);
    showMessage(fileError, t('verify.not_pdf', { name: file.name }));
    return;
  }
  setFile(file);
  if (!$('#captcha-answer').value) $('#captcha-answer').focus();
}

$('#pick').addEventListener('click', () => fileInput.click());
$('#change-file').addEventListener('click', () => fileInput.click());
fileInput.addEventListener('change', () => {
  choose([...fileInput.files]);
  fileInput.value = '';
});
dropzone.addEventListener('click', (e) => {
  if (e.target === dropzone || e.target.closest('#drop-empty p')) fileInput.click();
});
for (const type of ['dragenter', 'dragover']) {
  dropzone.addEventListener(type, (e) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    dropzone.classList.add('over');
  });
}
dropzone.addEventListener('dragleave', (e) => {
  if (!dropzone.contains(e.relatedTarget)) dropzone.classList.remove('over');
});
dropzone.addEventListener('drop', (e) => {
  e.preventDefault();
  dropzone.classList.remove('over');
  choose([...(e.dataTransfer?.files || [])]);
});
// A file dropped beside the zone would make the browser open it and leave the page.
for (const type of ['dragover', 'drop']) {
  window.addEventListener(type, (e) => {
    if (!dropzone.contains(e.target)) e.preventDefault();
  });
}

// ---------------------------------------------------------------- captcha

async function loadCaptcha() {
  const image = $('#captcha-img');
  image.classList.add('loading');
  try {
    const captcha = await api('GET', '/verify/captcha');
    state.token = captcha.token;
    image.src = captcha.image;
  } catch (err) {
    state.token = '';
    image.removeAttribute('src');
    showMessage($('#verify-error'), err instanceof ApiError && err.code !== 'error' ? err.message : t('verify.captcha_failed'));
  } finally {
    image.classList.remove('loading');
  }
}

function newCaptcha() {
  $('#captcha-answer').value = '';
  return loadCaptcha();
}

$('#captcha-img').addEventListener('click', () => { if (!state.busy) newCaptcha(); });
$('#captcha-refresh').addEventListener('click', () => { if (!state.busy) newCaptcha(); });
$('#captcha-answer').addEventListener('input', (e) => {
  // Full-width digits from a Chinese input method count too.
  const plain = e.target.value.replace(/[０-９]/g, (d) => String.fromCharCode(d.charCodeAt(0) - 0xfee0)).replace(/\D/g, '');
  if (plain !== e.target.value) e.target.value = plain;
});

// ---------------------------------------------------------------- checking

function progress(text, fraction) {
  $('#verify-progress').hidden = false;
  $('#progress-text').textContent = text;
  const bar = $('#progress-bar');
  bar.parentElement.classList.toggle('busy', fraction === null);
  bar.style.width = fraction === null ? '' : `${Math.round(fraction * 100)}%`;
}

/** POST /verify/check with upload progress: the parsed answer, or an ApiError. */
function check(file, token, answer) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/verify/check');
    xhr.setRequestHeader('Content-Type', 'application/pdf');
    xhr.setRequestHeader('X-Captcha-Token', token);
    xhr.setRequestHeader('X-Captcha-Answer', answer);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) progress(t('verify.uploading', { percent: Math.floor((e.loaded / e.total) * 100) }), e.loaded / e.total);
    };
    xhr.upload.onload = () => progress(t('verify.checking'), null);
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && body) resolve(body);
      else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new ApiError(0, { code: 'network' }));
    xhr.send(file);
  });
}

function failureMessage(err) {
  if (!(err instanceof ApiError)) {
    console.error(err);
    return t('err.generic', { status: '' });
  }
  if (err.status === 413 || err.code === 'too_large') return t('verify.too_large', { size: fmtSize(state.file.size) });
  if (err.code === 'captcha') return t('verify.captcha_wrong');
  if (err.status === 400 && /verify this file/.test(err.problem?.detail || '')) return t('verify.unreadable');
  return err.message;
}

$('#verify-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (state.busy) return;
  const error = $('#verify-error');
  showMessage(error, '');
  const answer = $('#captcha-answer').value.trim();
  if (!state.file) {
    showMessage(fileError, t('verify.no_file'));
    $('#pick').focus();
    return;
  }
  if (!/^\d{4}$/.test(answer)) {
    showMessage(error, t('verify.captcha_needed'));
    $('#captcha-answer').focus();
    return;
  }
  if (!state.token) await loadCaptcha();
  state.busy = true;
  const submit = $('#verify-submit');
  submit.disabled = true;
  $('#change-file').disabled = true;
  progress(t('verify.uploading', { percent: 0 }), 0);
  try {
    const result = await check(state.file, state.token, answer);
    state.token = '';
    showResult(result);
  } catch (err) {
    showMessage(error, failureMessage(err));
    // A captcha answers once: whatever went wrong, the next try needs a new one.
    await newCaptcha();
    $('#captcha-answer').focus();
  } finally {
    state.busy = false;
    submit.disabled = false;
    $('#change-file').disabled = false;
    $('#verify-progress').hidden = true;
  }
});

// ---------------------------------------------------------------- the report

const GOOD = new Set(['valid', 'allowed_change']);

/** The banner's verdict: [tone, title key, text key]. */
function verdictOf(report, revoked) {
  const sigs = report.signatures || [];
  if (revoked) return ['bad', 'verify.verdict.revoked', 'verify.verdict.revoked_text'];
  switch (report.verdict) {
    case 'VALID': return ['ok', 'verify.verdict.valid', 'verify.verdict.valid_text'];
    case 'ALLOWED_CHANGE': return ['ok', 'verify.verdict.allowed', 'verify.verdict.allowed_text'];
    case 'MODIFIED': return ['bad', 'verify.verdict.modified', 'verify.verdict.modified_text'];
    case 'BROKEN': {
      const broken = sigs.filter((s) => s.status === 'broken');
      if (broken.some((s) => !s.intact && s.byte_range)) return ['bad', 'verify.verdict.tampered', 'verify.verdict.tampered_text'];
      if (broken.some((s) => s.revocation?.status === 'revoked')) return ['bad', 'verify.verdict.cert_revoked', 'verify.verdict.cert_revoked_text'];
      if (broken.some((s) => s.trusted === false)) return ['bad', 'verify.verdict.untrusted', 'verify.verdict.untrusted_text'];
      return ['bad', 'verify.verdict.broken', 'verify.verdict.broken_text'];
    }
    default: return ['none', 'verify.verdict.none', 'verify.verdict.none_text'];
  }
}

function banner(result) {
  const { report } = result;
  const revoked = result.document_revocation;
  const sigs = report.signatures || [];
  const [tone, title, text] = verdictOf(report, revoked);
  const box = $('#verdict');
  box.className = `card verdict-banner ${tone}`;
  const icon = { ok: '✓', bad: '✕', none: '!' }[tone];
  const facts = el('dl', { class: 'kv' },
    el('dt', {}, t('verify.file')), el('dd', {}, state.file.name, el('span', { class: 'muted' }, ` · ${fmtSize(state.file.size)}`)),
    el('dt', {}, t('verify.checked_at')), el('dd', {}, fmtMoment(Date.now() / 1000)));
  if (revoked) {
    facts.prepend(
      el('dt', {}, t('verify.revoked_at')), el('dd', {}, fmtMoment(revoked.revoked_at)),
      el('dt', {}, t('verify.revoked_reason')), el('dd', { class: 'reason' }, revoked.reason));
  }
  box.replaceChildren(
    el('div', { class: 'verdict-icon', 'aria-hidden': 'true' }, icon),
    el('div', { class: 'verdict-body' },
      el('p', { class: `verdict ${tone === 'none' ? '' : tone}` }, t(title)),
      el('p', {}, t(text)),
      sigs.length ? el('p', { class: 'muted small' },
        t('verify.summary', { total: sigs.length, ok: sigs.filter((s) => GOOD.has(s.status)).length }),
        report.revisions > 1 ? ` · ${t('verify.revisions', { n: report.revisions })}` : '') : null,
      revoked && sigs.length ? el('p', { class: 'muted small' }, t('verify.revoked_sigs')) : null,
      facts,
      report.problems?.length ? el('div', { class: 'doc-problems' },
        el('h3', {}, t('verify.doc_problems')), problemList(report.problems)) : null));
}

function signerName(sig, n) {
  const name = sig.signer?.common_name || sig.signer?.organization || '';
  return name ? t('verify.mark_label', { n, name }) : t('verify.mark_label_plain', { n });
}

function row(label, ...value) {
  return [el('dt', {}, label), el('dd', {}, ...value)];
}

function timestampText(sig) {
  const ts = sig.timestamp;
  if (!ts) return [t('verify.timestamp_none')];
  if (!ts.valid) return [chip(t('verify.timestamp_bad'), false)];
  const time = fmtMoment(ts.time) || t('verify.unknown');
  if (ts.trusted === false) return [time, ' ', chip(t('verify.timestamp_untrusted'), false)];
  return [time, ' ', chip(t('verify.timestamp_ok'), true)];
}

function integrityText(sig) {
  if (!sig.byte_range) return chip(t('verify.coverage.none'), false);
  if (!sig.intact) return chip(t('verify.integrity_digest_bad'), false);
  if (!sig.valid) return chip(t('verify.integrity_sig_bad'), false);
  return chip(t('verify.integrity_ok'), true);
}

function changesText(sig) {
  const level = sig.modification || 'none';
  if (level === 'none') return [t('verify.change.none')];
  const allowed = sig.status !== 'modified' && level !== 'other';
  return [t(`verify.change.${level}`), ' ', chip(allowed ? t('verify.allowed') : t('verify.not_allowed'), allowed)];
}

function revocationText(sig) {
  const { status, source } = sig.revocation || { status: 'not_checked' };
  const good = status === 'good' ? true : status === 'revoked' ? false : null;
  const from = source && source !== 'none' ? el('span', { class: 'muted small' }, t(`verify.source.${source}`)) : null;
  return [chip(t(`verify.revocation.${status}`), good), ' ', from];
}

function chainText(sig) {
  if (sig.trusted === true) return chip(t('verify.chain_ok'), true);
  if (sig.trusted === false) return chip(t('verify.chain_bad'), false);
  return t('verify.chain_unknown');
}

function card(sig, index, locate) {
  const n = index + 1;
  const good = GOOD.has(sig.status);
  const signer = sig.signer || {};
  const pages = [...new Set((sig.marks || []).map((m) => m.page))];
  const kind = sig.kind && sig.kind !== 'approval' ? el('span', { class: 'status' }, t(`verify.kind.${sig.kind}`)) : null;
  const facts = el('dl', { class: 'kv' },
    row(t('verify.signer'), signer.common_name || t('verify.unknown')),
    signer.organization && signer.organization !== signer.common_name ? row(t('verify.organization'), signer.organization) : null,
    sig.kind !== 'document_timestamp' ? row(t('verify.signing_time'), sig.signing_time ? fmtMoment(sig.signing_time) : t('verify.unknown'),
      sig.signing_time && !sig.timestamp?.valid ? el('span', { class: 'muted small' }, t('verify.claimed')) : null) : null,
    row(t('verify.timestamp'), ...timestampText(sig)),
    row(t('verify.integrity'), integrityText(sig)),
    row(t('verify.chain'), chainText(sig)),
    row(t('verify.revocation'), ...revocationText(sig)),
    row(t('verify.changes'), ...changesText(sig)),
    row(t('verify.algorithm'), [sig.signature_algorithm, sig.digest_algorithm && !String(sig.signature_algorithm || '').toLowerCase().includes(sig.digest_algorithm.toLowerCase()) ? sig.digest_algorithm : null].filter(Boolean).join(' · ') || t('verify.unknown')),
    signer.serial ? row(t('verify.cert_serial'), el('code', {}, signer.serial)) : null,
    signer.issuer ? row(t('verify.cert_issuer'), commonName(signer.issuer)) : null,
    row(t('verify.marks_on'), pages.length ? t('verify.marks_pages', { pages: pages.join('、') }) : el('span', { class: 'muted' }, t('verify.no_marks'))));
  const details = el('details', {},
    el('summary', {}, t('verify.details')),
    el('dl', { class: 'kv small' },
      row(t('verify.field'), sig.field || ''),
      sig.sub_filter ? row(t('verify.sub_filter'), sig.sub_filter) : null,
      row(t('verify.coverage'), sig.coverage === 'entire_revision'
        ? t('verify.coverage.entire_revision', { n: sig.revision ?? '?' })
        : t(`verify.coverage.${sig.coverage || 'none'}`)),
      sig.byte_range ? row(t('verify.byte_range'), `[${sig.byte_range.join(' ')}]`) : null,
      sig.docmdp ? row(t('verify.docmdp'), `P=${sig.docmdp}`) : null,
      signer.subject ? row(t('verify.subject'), signer.subject) : null,
      signer.issuer ? row(t('verify.cert_issuer'), signer.issuer) : null,
      sig.chain?.length ? row(t('verify.chain'), el('ol', { class: 'chain' }, sig.chain.map((c) => el('li', {}, c)))) : null));
  const node = el('article', { class: `card sig${good ? '' : ' bad'}`, id: `sig-${n}`, 'aria-labelledby': `sig-${n}-title` },
    el('div', { class: 'spread sig-head' },
      el('h3', { id: `sig-${n}-title` }, t('verify.sig_title', { n }), kind ? ' ' : null, kind),
      chip(t(`verify.status.${sig.status}`), good)),
    facts,
    sig.problems?.length ? el('div', { class: 'sig-problems' }, el('h4', {}, t('verify.problems')), problemList(sig.problems)) : null,
    el('div', { class: 'sig-foot' },
      pages.length ? el('button', { type: 'button', class: 'locate', onclick: (e) => { e.stopPropagation(); locate(n); } }, t('verify.locate')) : null,
      details));
  if (pages.length) {
    node.classList.add('has-marks');
    node.addEventListener('click', (e) => {
      if (e.target.closest('details, button, a, code') || getSelection()?.toString()) return;
      locate(n);
    });
  }
  return node;
}

function flash(node) {
  node.classList.remove('flash');
  void node.offsetWidth; // restart the animation
  node.classList.add('flash');
}

function showResult(result) {
  state.run += 1;
  const { report } = result;
  const sigs = report.signatures || [];
  banner(result);

  const marks = new Map(); // signature number → mark nodes
  const locate = (n) => {
    const nodes = marks.get(n) || [];
    for (const c of $$('.verify-sigs .sig')) c.classList.toggle('selected', c.id === `sig-${n}`);
    if (!nodes.length) return;
    nodes[0].scrollIntoView({ behavior: 'smooth', block: 'center' });
    nodes.forEach(flash);
  };
  const toCard = (n) => {
    const target = $(`#sig-${n}`);
    if (!target) return;
    for (const c of $$('.verify-sigs .sig')) c.classList.toggle('selected', c === target);
    target.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    flash(target);
  };

  $('#sigs').replaceChildren(...sigs.map((sig, i) => card(sig, i, locate)));
  $('#sigs').hidden = !sigs.length;
  $('#report').classList.toggle('unsigned', !sigs.length);

  const pagesBox = $('#pages');
  const sizes = result.pages || [];
  $('#pages-hint').textContent = t('verify.pages_hint');
  $('#pages-hint').hidden = !sigs.some((s) => s.marks?.length);
  if (!sizes.length) {
    pagesBox.replaceChildren(el('div', { class: 'empty' }, t('verify.no_pages')));
  } else {
    const view = showPages(pagesBox, sizes, () => undefined, { pixelWidth: PIXEL_WIDTH });
    sigs.forEach((sig, i) => {
      const n = i + 1;
      const label = signerName(sig, n);
      for (const mark of sig.marks || []) {
        const page = view.byNumber(mark.page);
        if (!page) continue;
        const [x, y, width, height] = mark.rect;
        const node = el('div', {
          class: `mark found${GOOD.has(sig.status) ? '' : ' bad'}`, role: 'button', tabindex: 0, title: label, 'aria-label': label,
          dataset: { sig: n },
          onclick: () => toCard(n),
          onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toCard(n); } },
        }, el('span', {}, label));
        position(node, page, { x, y, width, height });
        page.node.append(node);
        if (!marks.has(n)) marks.set(n, []);
        marks.get(n).push(node);
      }
    });
    loadPages(view.pages, result.ticket, state.run);
  }

  $('#verify-start').hidden = true;
  $('#verify-result').hidden = false;
  fitSide();
  scrollTo({ top: 0 });
  $('#result-title').focus({ preventScroll: true });
}

/** The signature cards stay in view beside the pages while they fit in the window. */
function fitSide() {
  const side = $('#sigs');
  side.classList.remove('stick');
  if (!side.hidden && side.offsetHeight < innerHeight - 32) side.classList.add('stick');
}
addEventListener('resize', fitSide);
document.addEventListener('toggle', fitSide, true); // a <details> opened or closed

// ---------------------------------------------------------------- page images

function loadPages(pages, ticket, run) {
  const queue = [];
  let running = 0;
  let expired = false;
  const pump = () => {
    while (running < PAGE_JOBS && queue.length && run === state.run) {
      const page = queue.shift();
      running += 1;
      fetchPage(page).finally(() => { running -= 1; pump(); });
    }
  };
  const overlay = (page, content) => {
    $('.page-state', page.node)?.remove();
    if (content) page.node.append(el('div', { class: 'page-state' }, content));
  };
  const enqueue = (page) => {
    if (page.queued || expired) return;
    page.queued = true;
    overlay(page, [el('span', { class: 'spinner' }), ' ', t('verify.page_loading', { n: page.page })]);
    queue.push(page);
    pump();
  };
  const fetchPage = async (page) => {
    const image = $('img.sheet', page.node);
    try {
      const response = await fetch(`/verify/pages/${page.page}?ticket=${encodeURIComponent(ticket)}&width=${PIXEL_WIDTH}`, {
        method: 'POST', body: state.file, headers: { 'Content-Type': 'application/pdf' }, credentials: 'same-origin',
      });
      if (run !== state.run) return;
      if (!response.ok) {
        let problem = null;
        try { problem = await response.json(); } catch { /* not JSON */ }
        throw new ApiError(response.status, problem);
      }
      const url = URL.createObjectURL(await response.blob());
      if (run !== state.run) { URL.revokeObjectURL(url); return; }
      state.urls.push(url);
      image.addEventListener('load', () => overlay(page, null), { once: true });
      image.src = url;
    } catch (err) {
      if (run !== state.run) return;
      page.queued = false;
      if (err instanceof ApiError && err.code === 'ticket') {
        expired = true;
        overlay(page, t('verify.pages_expired'));
        return;
      }
      overlay(page, el('button', { type: 'button', class: 'link', onclick: () => enqueue(page) }, t('verify.page_failed', { n: page.page })));
    }
  };
  state.observer?.disconnect();
  if ('IntersectionObserver' in window) {
    state.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        const page = pages.find((p) => p.node === entry.target);
        if (page) { enqueue(page); state.observer.unobserve(entry.target); }
      }
    }, { rootMargin: '800px 0px' });
    for (const page of pages) state.observer.observe(page.node);
  } else {
    pages.forEach(enqueue);
  }
}

// ---------------------------------------------------------------- again

function reset() {
  state.run += 1;
  state.observer?.disconnect();
  state.observer = null;
  for (const url of state.urls) URL.revokeObjectURL(url);
  state.urls = [];
  $('#pages').replaceChildren();
  $('#sigs').replaceChildren();
  $('#verdict').replaceChildren();
  setFile(null);
  showMessage(fileError, '');
  showMessage($('#verify-error'), '');
  $('#verify-result').hidden = true;
  $('#verify-start').hidden = false;
  scrollTo({ top: 0 });
  newCaptcha();
  $('#pick').focus();
}

for (const button of $$('.again')) button.addEventListener('click', reset);

loadCaptcha();
