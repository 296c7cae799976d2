// 手写签名采集 (phone): the PC shows a QR code of a one-time link; here the person writes their
// name with a finger, and the drawing goes to the server, which cleans it into their
// handwritten signature. The link is the credential (no login on the phone).
import { $, $$, api, ApiError, el, showError, t } from '/static/core.js';

/** Replaces `node`'s children, skipping null/false and flattening arrays. */
function put(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

const token = $('#hw').dataset.token;
const canvas = $('#pad');
const ctx = canvas.getContext('2d');
const INK = { black: '#141418', blue: '#122a8c' };

/** Strokes in canvas-relative units (0–1 of the width), so a resize redraws them. */
const strokes = [];
let current = null;
let ink = 'black';
let ratio = 1;

function size() {
  const rect = canvas.getBoundingClientRect();
  ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(rect.width * ratio));
  canvas.height = Math.max(1, Math.round(rect.height * ratio));
  redraw();
}

function cssWidth() { return canvas.width / ratio; }

/** The pen width at a point: thinner when moving fast, like a real pen. */
function widthFor(speed) {
  const base = Math.max(2.4, cssWidth() / 110);
  return base * Math.max(0.55, Math.min(1.35, 1.35 - speed * 0.35));
}

function drawStroke(stroke) {
  const w = cssWidth();
  const pts = stroke.points;
  ctx.save();
  ctx.scale(ratio, ratio);
  ctx.strokeStyle = INK[stroke.ink];
  ctx.fillStyle = INK[stroke.ink];
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  if (pts.length === 1) {
    ctx.beginPath();
    ctx.arc(pts[0].x * w, pts[0].y * w, pts[0].w / 2, 0, Math.PI * 2);
    ctx.fill();
  }
  // Quadratic curves through the midpoints: smooth strokes without a library.
  for (let i = 1; i < pts.length; i += 1) {
    const a = pts[i - 1];
    const b = pts[i];
    const prev = i > 1 ? pts[i - 2] : a;
    const from = { x: (prev.x + a.x) / 2, y: (prev.y + a.y) / 2 };
    const to = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    ctx.beginPath();
    ctx.lineWidth = (a.w + b.w) / 2;
    ctx.moveTo(from.x * w, from.y * w);
    ctx.quadraticCurveTo(a.x * w, a.y * w, to.x * w, to.y * w);
    if (i === pts.length - 1) ctx.lineTo(b.x * w, b.y * w);
    ctx.stroke();
  }
  ctx.restore();
}

function redraw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (const stroke of strokes) drawStroke(stroke);
  if (current) drawStroke(current);
  const drawn = strokes.length > 0;
  $('#hw-undo').disabled = !drawn;
  $('#hw-clear').disabled = !drawn;
  $('#hw-submit').disabled = !drawn;
  $('#hw-placeholder').hidden = drawn || !!current;
}

function point(e) {
  const rect = canvas.getBoundingClientRect();
  return { x: (e.clientX - rect.left) / rect.width, y: (e.clientY - rect.top) / rect.width, t: e.timeStamp };
}

canvas.addEventListener('pointerdown', (e) => {
  if (e.button > 0) return;
  e.preventDefault();
  canvas.setPointerCapture(e.pointerId);
  const p = point(e);
  p.w = widthFor(0);
  current = { ink, points: [p], pointer: e.pointerId };
  $('#hw-error').hidden = true;
  redraw();
});

canvas.addEventListener('pointermove', (e) => {
  if (!current || current.pointer !== e.pointerId) return;
  e.preventDefault();
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const ev of events.length ? events : [e]) {
    const p = point(ev);
    const last = current.points[current.points.length - 1];
    const dx = (p.x - last.x) * cssWidth();
    const dy = (p.y - last.y) * cssWidth();
    const dist = Math.hypot(dx, dy);
    if (dist < 1.2) continue;
    const speed = dist / Math.max(1, p.t - last.t); // CSS px per ms
    // Smooth the width so it does not jump between samples.
    p.w = last.w * 0.7 + widthFor(speed) * 0.3;
    current.points.push(p);
  }
  redraw();
});

function endStroke(e) {
  if (!current || current.pointer !== e.pointerId) return;
  strokes.push(current);
  current = null;
  redraw();
}
canvas.addEventListener('pointerup', endStroke);
canvas.addEventListener('pointercancel', endStroke);

$('#hw-undo').addEventListener('click', () => { strokes.pop(); redraw(); });
$('#hw-clear').addEventListener('click', () => { strokes.length = 0; redraw(); });
for (const radio of $$('input[name=ink]')) {
  radio.addEventListener('change', () => {
    ink = radio.value;
    // One ink for the whole signature: the server colours every stroke alike anyway.
    for (const stroke of strokes) stroke.ink = ink;
    redraw();
  });
}

/** The drawing as a PNG, trimmed to the strokes with a margin (smaller upload). */
function exportPng() {
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let [x0, y0, x1, y1] = [canvas.width, canvas.height, -1, -1];
  for (let y = 0; y < canvas.height; y += 1) {
    for (let x = 0; x < canvas.width; x += 1) {
      if (data[(y * canvas.width + x) * 4 + 3] > 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return Promise.resolve(null);
  const pad = Math.round(12 * ratio);
  x0 = Math.max(0, x0 - pad); y0 = Math.max(0, y0 - pad);
  x1 = Math.min(canvas.width - 1, x1 + pad); y1 = Math.min(canvas.height - 1, y1 + pad);
  const out = document.createElement('canvas');
  out.width = x1 - x0 + 1;
  out.height = y1 - y0 + 1;
  out.getContext('2d').drawImage(canvas, x0, y0, out.width, out.height, 0, 0, out.width, out.height);
  return new Promise((resolve) => out.toBlob(resolve, 'image/png'));
}

$('#hw-submit').addEventListener('click', async () => {
  const button = $('#hw-submit');
  const error = $('#hw-error');
  error.hidden = true;
  button.disabled = true;
  put(button, el('span', { class: 'spinner' }), ' ', t('hw.sending'));
  try {
    const png = await exportPng();
    if (!png) { error.textContent = t('hw.empty'); error.hidden = false; return; }
    await api('POST', `/handwriting-links/${encodeURIComponent(token)}?ink=${ink}`, png);
    $('#hw-pad').hidden = true;
    const img = $('#hw-result');
    img.src = URL.createObjectURL(png);
    img.hidden = false;
    $('#hw-done').hidden = false;
    $('#hw-done').scrollIntoView({ block: 'start' });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) gone();
    else showError(err, error);
  } finally {
    button.textContent = t('common.submit');
    button.disabled = strokes.length === 0;
  }
});

function gone() {
  $('#hw-pad').hidden = true;
  $('#hw-state').hidden = false;
  put($('#hw-state'), 
    el('p', { class: 'error' }, t('hw.gone')),
    el('p', { class: 'muted' }, t('hw.gone_hint')));
}

(async () => {
  const state = $('#hw-state');
  try {
    const link = await api('GET', `/handwriting-links/${encodeURIComponent(token)}`);
    state.hidden = true;
    put($('#hw-who'), t('hw.for'), ' ', el('strong', {}, link.name || ''));
    $('#hw-pad').hidden = false;
    size();
    let last = canvas.getBoundingClientRect();
    window.addEventListener('resize', () => {
      const rect = canvas.getBoundingClientRect();
      if (Math.abs(rect.width - last.width) > 1 || Math.abs(rect.height - last.height) > 1) { last = rect; size(); }
    });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) gone();
    else showError(err, state);
  }
})();
