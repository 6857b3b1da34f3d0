// A small time-series line chart on a canvas: several series, one colour each, nice ticks,
// a DOM legend. Redraws are coalesced into one requestAnimationFrame.

import { fmtTime } from './format.js';

function niceStep(range, count) {
  const raw = range / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * mag;
}

function cssVar(el, name) {
  return getComputedStyle(el).getPropertyValue(name).trim();
}

export class LineChart {
  // opts: {yFormat(v), yMin0 (bool), yMax (number|undefined), empty: text}
  constructor(parent, opts = {}) {
    this.opts = opts;
    this.series = [];
    this.wrap = document.createElement('div');
    this.wrap.className = 'canvas-wrap chart-wrap';
    this.canvas = document.createElement('canvas');
    this.canvas.setAttribute('role', 'img');
    if (opts.label) this.canvas.setAttribute('aria-label', opts.label);
    this.wrap.appendChild(this.canvas);
    this.legend = document.createElement('div');
    this.legend.className = 'legend';
    parent.appendChild(this.wrap);
    parent.appendChild(this.legend);
    this.wrap.dataset.points = '0';
    this.wrap.dataset.series = '0';
    this.legendKey = '';
    this.pending = 0;
    this.hoverX = null;
    this.canvas.addEventListener('mousemove', (e) => { this.hoverX = e.offsetX; this.update(); });
    this.canvas.addEventListener('mouseleave', () => { this.hoverX = null; this.update(); });
    this.ro = new ResizeObserver(() => this.update());
    this.ro.observe(this.wrap);
  }

  destroy() {
    this.ro.disconnect();
    cancelAnimationFrame(this.pending);
  }

  // series: [{id, label, color, points: [[t_ms, value], ...] sorted by t}]
  setSeries(series) {
    this.series = series;
    let n = 0;
    for (const s of series) n += s.points.length;
    this.wrap.dataset.points = String(n);
    this.wrap.dataset.series = String(series.filter((s) => s.points.length).length);
    const key = series.map((s) => `${s.id}|${s.label}|${s.color}`).join(',');
    if (key !== this.legendKey) {
      this.legendKey = key;
      this.legend.innerHTML = '';
      for (const s of series) {
        const item = document.createElement('span');
        const sw = document.createElement('span');
        sw.className = 'sw';
        sw.style.background = s.color;
        item.append(sw, s.label);
        this.legend.appendChild(item);
      }
    }
    this.update();
  }

  update() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = 0; this.draw(); });
  }

  draw() {
    const c = this.canvas;
    const w = this.wrap.clientWidth, h = this.wrap.clientHeight;
    if (!w || !h) return;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const muted = cssVar(this.wrap, '--muted') || '#888';
    const grid = cssVar(this.wrap, '--grid') || 'rgba(128,128,128,0.15)';
    g.font = '11px system-ui, sans-serif';

    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const s of this.series) for (const [t, v] of s.points) {
      if (!Number.isFinite(v)) continue;
      if (t < x0) x0 = t;
      if (t > x1) x1 = t;
      if (v < y0) y0 = v;
      if (v > y1) y1 = v;
    }
    if (!Number.isFinite(x0)) {
      g.fillStyle = muted;
      g.textAlign = 'center';
      g.fillText(this.opts.empty || 'waiting for data…', w / 2, h / 2);
      return;
    }
    if (this.opts.yMin0 !== false) y0 = Math.min(0, y0);
    if (Number.isFinite(this.opts.yMax)) y1 = Math.max(Math.min(y1 * 1.08, this.opts.yMax), y0 + 1e-9);
    else y1 = y1 + (y1 - y0) * 0.08;
    if (y1 <= y0) y1 = y0 + 1;
    if (x1 - x0 < 10000) x0 = x1 - 10000;

    const fmt = this.opts.yFormat || ((v) => String(+v.toPrecision(3)));
    const step = niceStep(y1 - y0, 4);
    const ticks = [];
    for (let v = Math.ceil(y0 / step) * step; v <= y1 + 1e-12; v += step) ticks.push(v);
    let left = 8;
    for (const v of ticks) left = Math.max(left, g.measureText(fmt(v)).width + 12);
    const pad = { l: left, r: 12, t: 10, b: 22 };
    const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
    const X = (t) => pad.l + ((t - x0) / (x1 - x0)) * pw;
    const Y = (v) => pad.t + ph - ((v - y0) / (y1 - y0)) * ph;

    g.strokeStyle = grid;
    g.lineWidth = 1;
    g.fillStyle = muted;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    g.beginPath();
    for (const v of ticks) {
      const y = Math.round(Y(v)) + 0.5;
      g.moveTo(pad.l, y);
      g.lineTo(w - pad.r, y);
      g.fillText(fmt(v), pad.l - 6, y);
    }
    g.stroke();
    // Time ticks: about one per 110 px.
    const spanS = (x1 - x0) / 1000;
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
    const want = spanS / Math.max(1, pw / 110);
    const ts = (steps.find((s) => s >= want) || 86400) * 1000;
    g.textAlign = 'center';
    g.textBaseline = 'top';
    for (let t = Math.ceil(x0 / ts) * ts; t <= x1; t += ts) {
      const x = X(t);
      g.fillText(fmtTime(t).slice(0, ts >= 60000 ? 5 : 8), x, h - pad.b + 6);
    }

    g.save();
    g.beginPath();
    g.rect(pad.l, pad.t - 2, pw, ph + 4);
    g.clip();
    g.lineJoin = 'round';
    for (const s of this.series) {
      if (!s.points.length) continue;
      g.strokeStyle = s.color;
      g.fillStyle = s.color;
      g.lineWidth = 1.8;
      g.beginPath();
      let started = false;
      let prevT = -Infinity;
      for (const [t, v] of s.points) {
        if (!Number.isFinite(v)) { started = false; continue; }
        const x = X(t), y = Y(v);
        // A gap longer than a fifth of the span breaks the line.
        if (!started || t - prevT > (x1 - x0) / 5) g.moveTo(x, y); else g.lineTo(x, y);
        started = true;
        prevT = t;
      }
      g.stroke();
      const [lt, lv] = s.points[s.points.length - 1];
      if (Number.isFinite(lv)) {
        g.beginPath();
        g.arc(X(lt), Y(lv), 3, 0, Math.PI * 2);
        g.fill();
      }
      if (s.points.length === 1) {
        const [t, v] = s.points[0];
        g.beginPath();
        g.arc(X(t), Y(v), 3, 0, Math.PI * 2);
        g.fill();
      }
    }
    g.restore();
    if (this.hoverX !== null && this.hoverX >= pad.l && this.hoverX <= w - pad.r) this.drawHover(g, X, Y, x0, x1, pad, w, h, fmt);
  }

  // A crosshair at the pointer and the nearest value of each series.
  drawHover(g, X, Y, x0, x1, pad, w, h, fmt) {
    const t = x0 + ((this.hoverX - pad.l) / (w - pad.l - pad.r)) * (x1 - x0);
    const rows = [];
    for (const s of this.series) {
      let best = null;
      for (const p of s.points) if (Number.isFinite(p[1]) && (!best || Math.abs(p[0] - t) < Math.abs(best[0] - t))) best = p;
      if (best && Math.abs(best[0] - t) < (x1 - x0) / 8) rows.push([s, best]);
    }
    if (!rows.length) return;
    const text = cssVar(this.wrap, '--text') || '#222';
    const panel = cssVar(this.wrap, '--panel') || '#fff';
    const border = cssVar(this.wrap, '--border') || '#ccc';
    g.strokeStyle = border;
    g.beginPath();
    g.moveTo(Math.round(this.hoverX) + 0.5, pad.t);
    g.lineTo(Math.round(this.hoverX) + 0.5, h - pad.b);
    g.stroke();
    for (const [s, p] of rows) {
      g.fillStyle = s.color;
      g.beginPath();
      g.arc(X(p[0]), Y(p[1]), 4, 0, Math.PI * 2);
      g.fill();
    }
    const lines = [fmtTime(rows[0][1][0]), ...rows.map(([s, p]) => `${s.label}: ${fmt(p[1])}`)];
    g.font = '11px system-ui, sans-serif';
    const bw = Math.max(...lines.map((l) => g.measureText(l).width)) + 16, bh = lines.length * 15 + 8;
    let bx = this.hoverX + 10;
    if (bx + bw > w - 4) bx = this.hoverX - 10 - bw;
    g.fillStyle = panel;
    g.strokeStyle = border;
    g.fillRect(bx, pad.t, bw, bh);
    g.strokeRect(bx + 0.5, pad.t + 0.5, bw, bh);
    g.textAlign = 'left';
    g.textBaseline = 'top';
    lines.forEach((l, i) => {
      g.fillStyle = i === 0 ? (cssVar(this.wrap, '--muted') || '#888') : text;
      g.fillText(l, bx + 8, pad.t + 5 + i * 15);
    });
  }
}
