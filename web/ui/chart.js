// A small canvas line chart of an instance's traffic history: bytes per
// second in and out for every bucket of the window, gaps drawn as zero.

import { h, fmtRate } from './dom.js';

// trafficChart returns {el, draw(history)} for GET /instances/{id}/history answers.
export function trafficChart() {
  const canvas = h('canvas', { class: 'chart', role: 'img', 'aria-label': 'Traffic chart: no data yet', id: 'traffic-chart' });
  const legend = h('p', { class: 'legend' },
    h('span', { class: 'key in' }, 'in (from users)'), ' ', h('span', { class: 'key out' }, 'out (to users)'));
  const el = h('figure', { class: 'chart-wrap' }, canvas, legend);
  let last = null;

  function draw(hist) {
    if (hist) last = hist;
    if (!last) return;
    const { step, points } = last;
    const n = Math.round((last.range === '24h' ? 86400 : 3600) / step);
    const now = Math.floor(Date.now() / 1000 / step) * step;
    const start = now - (n - 1) * step;
    const rx = new Float64Array(n), tx = new Float64Array(n);
    let total = 0, buckets = 0;
    for (const p of points) {
      const i = Math.round((p.t - start) / step);
      if (i < 0 || i >= n) continue;
      rx[i] += p.rx / step;
      tx[i] += p.tx / step;
      total += p.rx + p.tx;
      if (p.rx + p.tx > 0) buckets++;
    }
    let peak = 0;
    for (let i = 0; i < n; i++) peak = Math.max(peak, rx[i], tx[i]);
    canvas.dataset.total = String(total);
    canvas.dataset.buckets = String(buckets);
    canvas.setAttribute('aria-label',
      `Traffic, last ${last.range === '24h' ? '24 hours' : 'hour'}: peak ${fmtRate(peak)}, ${buckets} active ${step}-second buckets`);

    const css = getComputedStyle(canvas);
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(200, canvas.clientWidth), ht = Math.max(120, canvas.clientHeight);
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(ht * dpr);
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, ht);
    const padL = 84, padR = 8, padT = 8, padB = 20;
    const pw = w - padL - padR, ph = ht - padT - padB;
    const top = niceMax(peak);
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = css.getPropertyValue('--muted').trim() || '#777';
    g.strokeStyle = css.getPropertyValue('--grid').trim() || '#ddd';
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let k = 0; k <= 4; k++) {
      const y = padT + ph - (ph * k) / 4;
      g.beginPath(); g.moveTo(padL, y + 0.5); g.lineTo(w - padR, y + 0.5); g.stroke();
      g.fillText(fmtRate((top * k) / 4), padL - 6, y);
    }
    g.textBaseline = 'top';
    g.textAlign = 'left';
    g.fillText(new Date(start * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }), padL, padT + ph + 4);
    g.textAlign = 'right';
    g.fillText('now', w - padR, padT + ph + 4);
    const line = (arr, color) => {
      g.strokeStyle = color;
      g.lineWidth = 1.5;
      g.beginPath();
      for (let i = 0; i < n; i++) {
        const x = padL + (pw * i) / Math.max(1, n - 1);
        const y = padT + ph - (top ? (ph * arr[i]) / top : 0);
        if (i) g.lineTo(x, y); else g.moveTo(x, y);
      }
      g.stroke();
    };
    line(rx, css.getPropertyValue('--chart-in').trim() || '#2a7');
    line(tx, css.getPropertyValue('--chart-out').trim() || '#27a');
  }

  window.addEventListener('resize', () => draw());
  return { el, draw, canvas };
}

// niceMax rounds a peak up to 1, 2 or 5 times a power of ten of a binary
// unit (B, KiB, MiB...), at least 1 KiB/s, so the grid lines read well.
function niceMax(v) {
  v = Math.max(v, 1024);
  let unit = 1;
  while (v / unit >= 1000) unit *= 1024;
  const x = v / unit;
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 2, 4, 5, 10]) if (m * p >= x) return m * p * unit;
  return 10 * p * unit;
}
