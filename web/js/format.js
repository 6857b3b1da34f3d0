// Number, time and error formatting shared by the pages.

const group = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function fmtInt(v) {
  return Number.isFinite(v) ? group.format(Math.round(v)).replace(/,/g, '\u2009') : '–';
}

export function fmtNum(v, digits = 3) {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e5) return fmtInt(v);
  if (Number.isInteger(v)) return String(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toPrecision(digits).replace(/\.?0+$/, (m) => (m.includes('.') ? '' : m));
}

export function fmtCompact(v) {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'B';
  if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(0) + 'k';
  if (a >= 1e3) return (v / 1e3).toFixed(1) + 'k';
  return fmtNum(v, 2);
}

export function fmtDuration(sec) {
  if (!Number.isFinite(sec)) return '–';
  const s = Math.round(sec);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60), r = s % 60;
  if (m < 60) return `${m} min ${String(r).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function fmtPct(frac, digits = 0) {
  return Number.isFinite(frac) ? `${(frac * 100).toFixed(digits)}%` : '–';
}

export function fmtSignedPct(frac) {
  if (!Number.isFinite(frac)) return '–';
  const p = frac * 100;
  return `${p > 0 ? '+' : p < 0 ? '−' : ''}${Math.abs(p).toFixed(Math.abs(p) < 10 ? 1 : 0)}%`;
}

export function fmtTime(ms) {
  if (!Number.isFinite(ms)) return '–';
  const d = new Date(ms);
  return d.toLocaleTimeString('en-GB', { hour12: false });
}

export function fmtDateTime(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return '–';
  const d = new Date(ms);
  return `${d.toISOString().slice(0, 10)} ${d.toLocaleTimeString('en-GB', { hour12: false })}`;
}

// Formats a value of the dataset's target: durations as minutes, money with digit groups.
export function targetFormatter(targetName) {
  const n = (targetName || '').toLowerCase();
  if (n.includes('duration') || n.endsWith('_s') || n.endsWith('_sec') || n.endsWith('seconds')) return fmtDuration;
  if (n.includes('price') || n.includes('cost') || n.includes('amount')) return fmtInt;
  return (v) => fmtNum(v, 4);
}

// Error class of a relative error (prediction - actual) / actual.
export function errClass(rel) {
  if (!Number.isFinite(rel)) return '';
  const a = Math.abs(rel);
  return a <= 0.3 ? 'err-good' : a <= 0.6 ? 'err-warn' : 'err-bad';
}

export function escapeHtml(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// One colour per model version, stable across pages.
const VERSION_COLORS = ['#8a94a3', '#1f77d0', '#e8710a', '#12a150', '#c2185b', '#7b5cd6', '#0097a7', '#b8860b', '#d84315', '#5c6bc0'];
export function versionColor(v) {
  const i = Number(v);
  if (!Number.isFinite(i) || i < 0) return VERSION_COLORS[0];
  return i === 0 ? VERSION_COLORS[0] : VERSION_COLORS[1 + ((i - 1) % (VERSION_COLORS.length - 1))];
}
