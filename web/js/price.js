// Price: a form generated from the dataset's request fields (GET /v1/datasets), posted to
// /v1/datasets/{name}/predict; shows the prediction and the model version that made it.

import { api } from './api.js';
import { escapeHtml, fmtInt, targetFormatter } from './format.js';

const pad = (n) => String(n).padStart(2, '0');
function toLocalInput(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
// Timestamps are zone-less wall-clock times on the bus ("2016-01-08 22:31:12").
function fromRecordTime(v) {
  if (typeof v === 'number') return new Date(v * 1000).toISOString().slice(0, 19);
  const s = String(v || '').replace(' ', 'T').replace(/Z$/, '');
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(s) ? s.slice(0, 19) : '';
}

export function mount(el, { dataset, meta, live }) {
  const offs = [];
  const fields = (meta.fields || []).filter((f) => (f.role || 'request') === 'request' &&
    f.name !== meta.key && f.name !== meta.target);
  const fmtTarget = targetFormatter(meta.target);
  const title = /price/i.test(meta.target || '') ? 'Recommended price' : `Predicted ${meta.target}`;

  const input = (f) => {
    const id = `f-${f.name}`;
    const req = f.required !== false;
    const label = `<label for="${id}">${escapeHtml(f.name.replace(/_/g, ' '))}${req ? '<span class="req">*</span>' : ''}` +
      ` <span class="muted">(${escapeHtml(f.type)})</span></label>`;
    const mm = (lo, hi) => `${Number.isFinite(lo) ? ` min="${lo}"` : ''}${Number.isFinite(hi) ? ` max="${hi}"` : ''}`;
    const common = `id="${id}" name="${escapeHtml(f.name)}" ${req ? 'required' : ''}`;
    let ctl;
    switch (f.type) {
      case 'int': ctl = `<input type="number" step="1" ${common}${mm(f.min, f.max)}>`; break;
      case 'float': ctl = `<input type="number" step="any" ${common}${mm(f.min, f.max)}>`; break;
      case 'latitude': ctl = `<input type="number" step="any" ${common}${mm(f.min ?? -90, f.max ?? 90)}>`; break;
      case 'longitude': ctl = `<input type="number" step="any" ${common}${mm(f.min ?? -180, f.max ?? 180)}>`; break;
      case 'bool': ctl = `<input type="checkbox" id="${id}" name="${escapeHtml(f.name)}">`; break;
      case 'timestamp': ctl = `<input type="datetime-local" step="1" ${common}>`; break;
      default: ctl = `<input type="text" ${common} list="${id}-list" autocomplete="off"><datalist id="${id}-list"></datalist>`;
    }
    return `<div class="field" data-field="${escapeHtml(f.name)}">${label}${ctl}</div>`;
  };

  el.innerHTML = `
    <div class="grid live-grid">
      <section class="panel">
        <header><h2>${escapeHtml(title)}</h2><span class="aside">${escapeHtml(meta.description || meta.name)}</span></header>
        <div class="body">
          <form id="price-form" data-filled="false" novalidate>
            <div class="form-grid">${fields.map(input).join('')}</div>
            <div class="form-actions">
              <button class="btn primary" type="submit" id="price-submit">Ask for a ${/price/i.test(meta.target || '') ? 'price' : 'prediction'}</button>
              <button class="btn" type="button" id="price-fill">Fill from a recent request</button>
              <span class="msg" id="price-msg" role="status"></span>
            </div>
          </form>
        </div>
      </section>
      <section class="panel">
        <header><h2>Answer</h2><span class="aside">POST /v1/datasets/${escapeHtml(dataset)}/predict</span></header>
        <div class="body">
          <div class="result" id="price-result"><span class="muted">Fill in the form and ask.</span></div>
        </div>
      </section>
    </div>`;

  const form = el.querySelector('#price-form');
  const msg = el.querySelector('#price-msg');
  const result = el.querySelector('#price-result');
  const ctl = (name) => form.querySelector(`[name="${CSS.escape(name)}"]`);

  // Suggestions for text fields from the values seen on the stream.
  const suggest = () => {
    for (const f of fields) {
      if (f.type !== 'category' && f.type !== 'string') continue;
      const dl = form.querySelector(`#${CSS.escape(`f-${f.name}-list`)}`);
      if (!dl) continue;
      const seen = new Map();
      for (const r of live.records.values()) {
        const v = r.record && r.record[f.name];
        if (v != null && v !== '') seen.set(String(v), (seen.get(String(v)) || 0) + 1);
      }
      const top = [...seen.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40);
      dl.innerHTML = top.map(([v]) => `<option value="${escapeHtml(v)}"></option>`).join('');
    }
  };

  const fill = (rec) => {
    if (!rec) return false;
    for (const f of fields) {
      const c = ctl(f.name);
      if (!c) continue;
      const v = rec[f.name];
      if (f.type === 'bool') c.checked = v === true || v === 'true' || v === 1;
      else if (f.type === 'timestamp') c.value = v != null ? fromRecordTime(v) : toLocalInput(new Date());
      else c.value = v == null ? '' : String(v);
    }
    form.dataset.filled = 'true';
    return true;
  };

  // Default: the current time in timestamp fields; a recent request when the stream has one.
  for (const f of fields) if (f.type === 'timestamp') ctl(f.name).value = toLocalInput(new Date());
  let touched = false;
  form.addEventListener('input', () => { touched = true; });
  if (!fill(live.latestRequest)) {
    const off = live.on('request', (r) => {
      if (!touched) fill(r.record);
      suggest();
      off();
    });
    offs.push(off);
  }
  suggest();

  el.querySelector('#price-fill').addEventListener('click', () => {
    if (fill(live.latestRequest)) { suggest(); msg.textContent = ''; } else {
      msg.textContent = 'No request has been seen on the stream yet.';
      msg.className = 'msg error';
    }
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const rec = {};
    for (const f of fields) {
      const c = ctl(f.name);
      if (!c) continue;
      if (f.type === 'bool') { rec[f.name] = c.checked; continue; }
      const raw = c.value.trim();
      if (raw === '') {
        if (f.required !== false) {
          msg.textContent = `'${f.name}' is required.`;
          msg.className = 'msg error';
          c.focus();
          return;
        }
        continue;
      }
      if (f.type === 'int' || f.type === 'float' || f.type === 'latitude' || f.type === 'longitude') rec[f.name] = Number(raw);
      else if (f.type === 'timestamp') rec[f.name] = raw.replace('T', ' ').length === 16 ? `${raw.replace('T', ' ')}:00` : raw.replace('T', ' ');
      else rec[f.name] = raw;
    }
    msg.textContent = 'asking…';
    msg.className = 'msg';
    const t0 = performance.now();
    try {
      const res = await api.predict(dataset, rec);
      const ms = performance.now() - t0;
      const p = Number(res.prediction);
      result.className = 'result';
      result.dataset.prediction = String(p);
      result.dataset.modelVersion = String(res.model_version);
      result.innerHTML = `<div class="muted">${escapeHtml(title)}</div><div class="big" id="price-value">${escapeHtml(fmtTarget(p))}</div>` +
        `<div>model <b id="price-version">v${escapeHtml(res.model_version)}</b>${res.model_version === 0 ? ' <span class="muted">(baseline: no trained model yet)</span>' : ''}</div>` +
        `<div class="muted small">key ${escapeHtml(res.key || '')} · answered in ${ms.toFixed(0)} ms` +
        `${/price/i.test(meta.target || '') && Number.isFinite(rec.total_area) && rec.total_area > 0 ? ` · ${fmtInt(p / rec.total_area)} per m²` : ''}</div>`;
      msg.textContent = '';
    } catch (err) {
      delete result.dataset.prediction;
      delete result.dataset.modelVersion;
      result.className = 'result error';
      result.textContent = err.status ? `${err.status}: ${err.message}` : err.message;
      msg.textContent = '';
    }
  });

  form.dataset.ready = 'true';
  return () => { for (const off of offs) off(); };
}
