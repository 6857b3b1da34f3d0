// The dashboard shell: hash routing (#/<page>/<dataset>), the dataset picker, the live stream
// shared by every page, the theme toggle.

import { api } from './api.js';
import { live } from './stream.js';
import { fmtInt } from './format.js';
import * as livePage from './live.js';
import * as qualityPage from './quality.js';
import * as modelsPage from './models.js';
import * as pricePage from './price.js';

const PAGES = { live: livePage, quality: qualityPage, models: modelsPage, price: pricePage };
const params = new URLSearchParams(location.search);
const MAX_RATE = Math.min(2000, Math.max(1, Number(params.get('max_rate')) || 500));

const $ = (id) => document.getElementById(id);
// A handle for tests and benchmarks (read-only use): the live store.
window.flowcast = { live };
const state = { datasets: [], dataset: null, page: null, unmount: null };

export function banner(text, kind = 'error') {
  const b = $('banner');
  if (!text) { b.hidden = true; return; }
  b.textContent = text;
  b.className = `banner ${kind === 'info' ? 'info' : ''}`;
  b.hidden = false;
}

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const page = PAGES[parts[0]] ? parts[0] : 'live';
  return { page, dataset: parts[1] || null };
}

function chooseDataset(wanted) {
  const names = state.datasets.map((d) => d.name);
  if (wanted && names.includes(wanted)) return wanted;
  if (state.dataset && names.includes(state.dataset)) return state.dataset;
  let saved = null;
  try { saved = localStorage.getItem('flowcast.dataset'); } catch (e) { /* no storage */ }
  if (saved && names.includes(saved)) return saved;
  return names[0] || null;
}

function route() {
  const { page, dataset: wanted } = parseHash();
  const dataset = chooseDataset(wanted);
  for (const a of document.querySelectorAll('#tabs a')) {
    const p = a.dataset.page;
    a.href = `#/${p}${dataset ? '/' + encodeURIComponent(dataset) : ''}`;
    if (p === page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  if (dataset !== state.dataset) {
    state.dataset = dataset;
    try { localStorage.setItem('flowcast.dataset', dataset); } catch (e) { /* no storage */ }
    $('dataset').value = dataset;
    const meta = state.datasets.find((d) => d.name === dataset) || null;
    if (dataset) live.connect(dataset, meta, MAX_RATE);
    state.page = null;  // remount for the new dataset
  }
  if (page === state.page) return;
  if (state.unmount) { try { state.unmount(); } catch (e) { console.error(e); } }
  state.unmount = null;
  state.page = page;
  banner(null);
  const el = $('page');
  el.innerHTML = '';
  el.dataset.page = page;
  document.body.dataset.page = page;
  const meta = state.datasets.find((d) => d.name === dataset) || null;
  if (!meta) {
    el.innerHTML = '<p class="empty">No dataset is configured on this server.</p>';
    return;
  }
  document.title = `flowcast · ${page[0].toUpperCase()}${page.slice(1)} · ${dataset}`;
  state.unmount = PAGES[page].mount(el, { dataset, meta, datasets: state.datasets, live, banner }) || null;
}

function setupTheme() {
  $('theme').addEventListener('click', () => {
    const root = document.documentElement;
    const dark = root.dataset.theme ? root.dataset.theme === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
    root.dataset.theme = dark ? 'light' : 'dark';
    try { localStorage.setItem('flowcast.theme', root.dataset.theme); } catch (e) { /* no storage */ }
    window.dispatchEvent(new Event('flowcast-theme'));
  });
}

function setupHeader() {
  const conn = $('conn');
  const labels = { open: 'live', connecting: 'connecting', error: 'stream unavailable', idle: 'idle' };
  live.on('state', (s) => { conn.dataset.state = s; conn.textContent = labels[s] || s; });
  let lastServing;
  const showServing = () => {
    const v = live.servingVersion;
    if (v === lastServing) return;
    lastServing = v;
    $('serving').textContent = Number.isFinite(v) ? `model v${v}` : 'model –';
    $('serving').dataset.version = Number.isFinite(v) ? String(v) : '';
  };
  live.on('stats', showServing);
  live.on('prediction', (r) => {
    if (!Number.isFinite(live.servingVersion) || r.version > live.servingVersion) live.servingVersion = r.version;
  });
  setInterval(() => {
    showServing();
    const c = live.counts;
    $('foot-stats').textContent = live.dataset
      ? `stream ${live.dataset}: ${fmtInt(c.request)} requests · ${fmtInt(c.prediction)} predictions · ${fmtInt(c.outcome)} outcomes` +
        (c.observation ? ` · ${fmtInt(c.observation)} observations` : '') + ` (thinned to ≤ ${MAX_RATE}/s)`
      : '';
  }, 1000);
  $('dataset').addEventListener('change', (e) => {
    const { page } = parseHash();
    location.hash = `#/${page}/${encodeURIComponent(e.target.value)}`;
  });
}

async function start() {
  setupTheme();
  setupHeader();
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await api.datasets();
      state.datasets = (res && res.datasets) || [];
      break;
    } catch (e) {
      banner(`Cannot load the datasets: ${e.message}. Retrying…`);
      await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** attempt)));
    }
  }
  banner(null);
  const sel = $('dataset');
  sel.innerHTML = '';
  for (const d of state.datasets) {
    const o = document.createElement('option');
    o.value = d.name;
    o.textContent = d.name;
    sel.appendChild(o);
  }
  document.body.dataset.ready = 'true';
  // The serving version also comes from GET /v1/datasets, for when no `stats` event arrives.
  setInterval(async () => {
    const last = live.statsHistory[live.statsHistory.length - 1];
    if (document.hidden || (last && Date.now() - last.t < 5000)) return;
    try {
      const res = await api.datasets();
      const d = ((res && res.datasets) || []).find((x) => x.name === live.dataset);
      if (d && Number.isFinite(d.serving_version)) live.servingVersion = d.serving_version;
    } catch (e) { /* the banner is for page loads; the next poll retries */ }
  }, 10000);
  window.addEventListener('hashchange', route);
  route();
}

start();
