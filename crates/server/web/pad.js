// A signature pad: draw with a finger, a pen or the mouse on a canvas; answers a PNG with a
// transparent background (the server cleans and trims it into a handwriting seal).

/** Makes `canvas` drawable; answers {clear(), empty(), toBlob()}. */
export function signaturePad(canvas) {
  const ctx = canvas.getContext('2d');
  let drawn = false;
  let last = null;
  const fit = () => {
    const ratio = window.devicePixelRatio || 1;
    const { width, height } = canvas.getBoundingClientRect();
    canvas.width = Math.max(1, Math.round(width * ratio));
    canvas.height = Math.max(1, Math.round(height * ratio));
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.strokeStyle = '#111';
    ctx.lineWidth = 3.2;
    drawn = false;
  };
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  canvas.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    last = at(e);
    ctx.beginPath();
    ctx.arc(last.x, last.y, 1.4, 0, Math.PI * 2);
    ctx.fillStyle = '#111';
    ctx.fill();
    drawn = true;
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!last) return;
    const point = at(e);
    const mid = { x: (last.x + point.x) / 2, y: (last.y + point.y) / 2 };
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.quadraticCurveTo(last.x, last.y, mid.x, mid.y);
    ctx.lineTo(point.x, point.y);
    ctx.stroke();
    last = point;
  });
  const end = () => { last = null; };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  fit();
  return {
    clear: fit,
    empty: () => !drawn,
    toBlob: () => new Promise((resolve) => canvas.toBlob(resolve, 'image/png')),
    fit,
  };
}
