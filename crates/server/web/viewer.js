// Page images from the server with marks on them: seals being placed (dragged, moved with the
// mouse, a finger or the arrow keys), preset positions, and the marks a verified signature
// made. Positions are kept in PDF points (origin bottom-left, as the API takes them) and drawn
// in percent of the page, so they stay put whatever width the page is shown at.

import { el, t } from '/static/core.js';

/**
 * Shows every page of a document in `container`. `sizes` is the API's list of
 * `{page, width, height}` (points); `src(page, width)` gives the address of a page image.
 * Answers `{pages, pageAt(x, y), toPoints(page, clientX, clientY), addMark(…)}`.
 */
export function showPages(container, sizes, src, { pixelWidth = 900 } = {}) {
  container.replaceChildren();
  const pages = sizes.map((size) => {
    const node = el('div', { class: 'page', dataset: { page: size.page }, role: 'group', 'aria-label': t('viewer.page', { n: size.page }) },
      el('span', { class: 'pageno' }, t('viewer.page_of', { n: size.page, total: sizes.length })),
      el('img', { class: 'sheet', alt: t('viewer.page', { n: size.page }), loading: size.page > 2 ? 'lazy' : 'eager', width: pixelWidth, height: Math.round(pixelWidth * size.height / size.width), src: src(size.page, pixelWidth), draggable: 'false' }));
    node.style.width = `${Math.min(pixelWidth, size.width * 1.5)}px`;
    node.style.aspectRatio = `${size.width} / ${size.height}`;
    container.append(node);
    return { ...size, node };
  });

  const pageAt = (clientX, clientY) => pages.find((p) => {
    const r = p.node.getBoundingClientRect();
    return clientX >= r.left && clientX <= r.right && clientY >= r.top && clientY <= r.bottom;
  });

  /** Client coordinates to points on `page` (bottom-left origin). */
  const toPoints = (page, clientX, clientY) => {
    const r = page.node.getBoundingClientRect();
    return {
      x: ((clientX - r.left) / r.width) * page.width,
      y: ((r.bottom - clientY) / r.height) * page.height,
    };
  };

  return { pages, pageAt, toPoints, byNumber: (n) => pages.find((p) => p.page === n) };
}

/** Places `node` on `page` at the rectangle `rect` = {x, y, width, height} in points. */
export function position(node, page, rect) {
  node.style.left = `${(rect.x / page.width) * 100}%`;
  node.style.top = `${((page.height - rect.y - rect.height) / page.height) * 100}%`;
  node.style.width = `${(rect.width / page.width) * 100}%`;
  node.style.height = `${(rect.height / page.height) * 100}%`;
}

/**
 * A mark the user can move: pointer drags and arrow keys (Shift: larger steps), Delete
 * removes it. `mark.rect` holds its rectangle in points; `onChange(mark)` after each move,
 * `onRemove(mark)` after removal. `lockX` keeps it at its x (cross-page seals sit at the
 * right edge).
 */
export function movableMark(view, page, rect, { image, label, cls = '', lockX = false, onChange = () => {}, onRemove } = {}) {
  const node = el('div', { class: `mark ${cls}`, tabindex: 0, role: 'button', 'aria-label': label || t('viewer.mark') });
  if (image) node.append(el('img', { src: image, alt: '' }));
  else if (label) node.append(el('span', {}, label));
  const mark = { node, page, rect: { ...rect } };
  const clamp = () => {
    mark.rect.x = Math.min(Math.max(mark.rect.x, 0), Math.max(0, mark.page.width - mark.rect.width));
    mark.rect.y = Math.min(Math.max(mark.rect.y, 0), Math.max(0, mark.page.height - mark.rect.height));
  };
  const redraw = () => { clamp(); position(node, mark.page, mark.rect); };
  if (onRemove) {
    node.append(el('button', {
      type: 'button', class: 'remove', title: t('viewer.remove'), 'aria-label': t('viewer.remove'),
      onpointerdown: (e) => e.stopPropagation(),
      onclick: (e) => { e.stopPropagation(); node.remove(); onRemove(mark); },
    }, '×'));
  }
  let start = null;
  node.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    node.setPointerCapture(e.pointerId);
    node.focus();
    start = { x: e.clientX, y: e.clientY, rect: { ...mark.rect } };
  });
  node.addEventListener('pointermove', (e) => {
    if (!start) return;
    const r = mark.page.node.getBoundingClientRect();
    const dx = ((e.clientX - start.x) / r.width) * mark.page.width;
    const dy = ((e.clientY - start.y) / r.height) * mark.page.height;
    if (!lockX) mark.rect.x = start.rect.x + dx;
    mark.rect.y = start.rect.y - dy;
    redraw();
  });
  const end = (e) => {
    if (!start) return;
    start = null;
    // Dropped over another page: move there (not for cross-page seals, bound to their pages).
    const target = lockX ? null : view.pageAt(e.clientX, e.clientY);
    if (target && target !== mark.page) {
      const at = view.toPoints(target, e.clientX, e.clientY);
      mark.page = target;
      mark.rect.x = at.x - mark.rect.width / 2;
      mark.rect.y = at.y - mark.rect.height / 2;
      target.node.append(node);
      redraw();
    }
    onChange(mark);
  };
  node.addEventListener('pointerup', end);
  node.addEventListener('pointercancel', end);
  node.addEventListener('keydown', (e) => {
    const step = e.shiftKey ? 20 : 4;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (moves[e.key]) {
      e.preventDefault();
      if (!lockX) mark.rect.x += moves[e.key][0];
      mark.rect.y += moves[e.key][1];
      redraw();
      onChange(mark);
    } else if ((e.key === 'Delete' || e.key === 'Backspace') && onRemove) {
      e.preventDefault();
      node.remove();
      onRemove(mark);
    }
  });
  page.node.append(node);
  redraw();
  return mark;
}

/**
 * Lets `source` be dragged onto a page of `view` (pointer, so it works with a finger too).
 * `onDrop(page, point)` gets the page and the point in points where it was let go. A click
 * or Enter without dragging calls `onDrop` with the first page shown and its centre.
 */
export function dragSource(view, source, ghostImage, onDrop) {
  let ghost = null;
  let moved = false;
  source.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    source.setPointerCapture(e.pointerId);
    moved = false;
    ghost = el('img', { src: ghostImage, alt: '', class: 'ghost' });
    Object.assign(ghost.style, { position: 'fixed', width: '90px', opacity: '.75', pointerEvents: 'none', zIndex: 50, left: `${e.clientX - 45}px`, top: `${e.clientY - 45}px` });
    document.body.append(ghost);
  });
  source.addEventListener('pointermove', (e) => {
    if (!ghost) return;
    moved = true;
    ghost.style.left = `${e.clientX - 45}px`;
    ghost.style.top = `${e.clientY - 45}px`;
  });
  const finish = (e, cancelled) => {
    if (!ghost) return;
    ghost.remove();
    ghost = null;
    if (cancelled) return;
    if (!moved) { dropAtCentre(); return; }
    const page = view.pageAt(e.clientX, e.clientY);
    if (page) onDrop(page, view.toPoints(page, e.clientX, e.clientY));
  };
  const dropAtCentre = () => {
    // The page most in view, else the first.
    const visible = view.pages.find((p) => {
      const r = p.node.getBoundingClientRect();
      return r.top < innerHeight / 2 && r.bottom > innerHeight / 2;
    }) || view.pages[0];
    if (visible) onDrop(visible, { x: visible.width / 2, y: visible.height / 2 });
  };
  source.addEventListener('pointerup', (e) => finish(e, false));
  source.addEventListener('pointercancel', (e) => finish(e, true));
  source.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); dropAtCentre(); }
  });
}

/** The printed size of a seal picture in points: drawn at 300 dpi. */
export function printedSize(image) {
  const width = (image.naturalWidth || 300) * 72 / 300;
  const height = (image.naturalHeight || 300) * 72 / 300;
  return { width, height };
}

/** Loads an image and answers it when its size is known. */
export function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = reject;
    image.src = src;
  });
}
