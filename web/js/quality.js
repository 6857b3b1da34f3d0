// Quality: the evaluated windows from /v1/datasets/{name}/metrics (polled) per model version,
// and the pipeline's throughput and lag from the stream's `stats` events.

import { api } from './api.js';
import { LineChart } from './chart.js';
import { escapeHtml, fmtCompact, fmtDateTime, fmtInt, fmtNum, fmtPct, versionColor } from './format.js';

const POLL_MS = 3000;
const STAGE_COLORS = { produce: '#8a94a3', ingest: '#1f77d0', predict: '#12a150', evaluate: '#e8710a', train: '#7b5cd6', serve: '#c2185b' };
const stageColor = (name, i) => STAGE_COLORS[name] || ['#0097a7', '#b8860b', '#d84315', '#5c6bc0'][i % 4];

export function mount(el, { dataset, meta, live, banner }) {
  // The headline figure: MAPE for prices (relative error is what a seller reads), else the
  // dataset's metric; a switch shows the others.
  const METRICS = ['rmsle', 'mape', 'mae', 'rmse'];
  const fromServer = (meta.metric || '').toLowerCase();
  let metricName = meta.target && /price/i.test(meta.target) ? 'mape' : METRICS.includes(fromServer) ? fromServer : 'rmsle';
  let lastRes = null;
  el.innerHTML = `
    <div class="grid two">
      <section class="panel"><header><h2><span id="metric-title">${escapeHtml(metricName.toUpperCase())}</span> by model version</h2>
        <span class="aside seg" id="metric-switch" role="group" aria-label="Metric">${METRICS.map((m) =>
          `<button type="button" class="seg-btn" data-metric="${m}" aria-pressed="${m === metricName}">${m.toUpperCase()}</button>`).join('')}</span>
        </header><div class="body" id="c-metric"></div></section>
      <section class="panel"><header><h2>Within ±30% of the actual</h2>
        <span class="aside">share of predictions</span></header><div class="body" id="c-within"></div></section>
      <section class="panel"><header><h2>Evaluated per second by model version</h2>
        <span class="aside">predictions joined with their outcome</span></header><div class="body" id="c-joined"></div></section>
      <section class="panel"><header><h2>Pipeline throughput</h2>
        <span class="aside">records out per second, per stage</span></header><div class="body" id="c-rate"></div></section>
      <section class="panel"><header><h2>Consumer lag</h2>
        <span class="aside">records behind, per stage</span></header><div class="body" id="c-lag"></div></section>
      <section class="panel"><header><h2>Request → prediction latency</h2>
        <span class="aside">predict stage, ms</span></header><div class="body" id="c-latency"></div></section>
      <section class="panel span-all"><header><h2>Latest window per version</h2><span class="aside" id="q-stats"></span></header>
        <div class="body table-wrap"><table id="q-table"><thead><tr>
          <th>model</th><th>window end</th><th class="num">pairs</th><th class="num">MAE</th><th class="num">RMSE</th>
          <th class="num">RMSLE</th><th class="num">MAPE</th><th class="num">within ±30%</th>
        </tr></thead><tbody><tr><td colspan="8" class="empty">waiting for the first evaluated window…</td></tr></tbody></table></div></section>
    </div>`;

  const metricFmt = (v) => (metricName === 'mape' ? fmtPct(v, 1) : fmtNum(v, 3));
  const charts = {
    metric: new LineChart(el.querySelector('#c-metric'), { yFormat: metricFmt, label: metricName, empty: 'waiting for evaluated windows…' }),
    within: new LineChart(el.querySelector('#c-within'), { yFormat: (v) => fmtPct(v), yMax: 1, label: 'within 30%' }),
    joined: new LineChart(el.querySelector('#c-joined'), { yFormat: fmtCompact, label: 'evaluated per second' }),
    rate: new LineChart(el.querySelector('#c-rate'), { yFormat: fmtCompact, label: 'throughput', empty: 'waiting for stats…' }),
    lag: new LineChart(el.querySelector('#c-lag'), { yFormat: fmtCompact, label: 'lag', empty: 'waiting for stats…' }),
    latency: new LineChart(el.querySelector('#c-latency'), { yFormat: (v) => fmtNum(v, 3), label: 'latency', empty: 'waiting for stats…' }),
  };
  el.querySelector('#c-metric .canvas-wrap').id = 'chart-metric';
  el.querySelector('#c-within .canvas-wrap').id = 'chart-within';
  el.querySelector('#c-joined .canvas-wrap').id = 'chart-joined';
  el.querySelector('#c-rate .canvas-wrap').id = 'chart-throughput';
  el.querySelector('#c-lag .canvas-wrap').id = 'chart-lag';
  el.querySelector('#c-latency .canvas-wrap').id = 'chart-latency';

  let stopped = false, timer = 0, ctrl = null;
  const poll = async () => {
    if (stopped) return;
    ctrl = new AbortController();
    try {
      const res = await api.metrics(dataset, 300);
      if (stopped) return;
      banner(null);
      showWindows(res);
    } catch (e) {
      if (e.name !== 'AbortError' && !stopped) banner(`Cannot load the metrics: ${e.message}`);
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  };

  const showWindows = (res) => {
    const windows = (res && res.windows) || [];
    const byVersion = new Map();
    for (const w of windows) {
      if (!byVersion.has(w.model_version)) byVersion.set(w.model_version, []);
      byVersion.get(w.model_version).push(w);
    }
    const versions = [...byVersion.keys()].sort((a, b) => a - b);
    const series = (pick) => versions.map((v) => ({
      id: `v${v}`, label: `v${v}`, color: versionColor(v),
      points: byVersion.get(v).map((w) => [w.window_end_ms, pick(w)]).sort((a, b) => a[0] - b[0]),
    }));
    lastRes = res;
    charts.metric.setSeries(series((w) => Number(w[metricName])));
    charts.within.setSeries(series((w) => Number(w.within_30)));
    charts.joined.setSeries(series((w) => (w.window_ms > 0 ? (Number(w.count) / w.window_ms) * 1000 : NaN)));
    const tbody = el.querySelector('#q-table tbody');
    if (versions.length) {
      tbody.innerHTML = versions.slice().reverse().map((v) => {
        const list = byVersion.get(v);
        const w = list[list.length - 1];
        return `<tr><td><span class="vdot" style="background:${versionColor(v)}"></span>v${escapeHtml(v)}</td>` +
          `<td>${fmtDateTime(w.window_end_ms)}</td><td class="num">${fmtInt(w.count)}</td><td class="num">${fmtNum(w.mae)}</td>` +
          `<td class="num">${fmtNum(w.rmse)}</td><td class="num">${fmtNum(w.rmsle)}</td><td class="num">${fmtPct(w.mape, 1)}</td>` +
          `<td class="num">${fmtPct(w.within_30, 1)}</td></tr>`;
      }).join('');
    }
    const st = res && res.stats;
    if (st) {
      el.querySelector('#q-stats').textContent = `stored: ${fmtInt(st.records)} records · ${fmtInt(st.labelled)} labelled · ` +
        `${fmtInt(st.predictions)} predictions · ${fmtInt(st.evaluations)} evaluations`;
    }
  };

  const showStats = () => {
    const hist = live.statsHistory;
    const names = new Set();
    for (const s of hist) for (const n of Object.keys(s.stages)) names.add(n);
    const stageNames = [...names];
    const mk = (pick) => stageNames.map((n, i) => ({
      id: n, label: n, color: stageColor(n, i),
      points: hist.filter((s) => s.stages[n]).map((s) => [s.t, pick(s.stages[n])]),
    })).filter((s) => s.points.some((p) => Number.isFinite(p[1])));
    charts.rate.setSeries(mk((s) => s.outRate));
    charts.lag.setSeries(mk((s) => s.lag));
    const lat = hist.filter((s) => s.stages.predict);
    charts.latency.setSeries([
      { id: 'p50', label: 'p50', color: '#1f77d0', points: lat.map((s) => [s.t, s.stages.predict.p50 / 1000]) },
      { id: 'p99', label: 'p99', color: '#e8710a', points: lat.map((s) => [s.t, s.stages.predict.p99 / 1000]) },
    ].filter((s) => s.points.some((p) => Number.isFinite(p[1]))));
  };

  el.querySelector('#metric-switch').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-metric]');
    if (!b) return;
    metricName = b.dataset.metric;
    for (const x of el.querySelectorAll('#metric-switch button')) x.setAttribute('aria-pressed', String(x === b));
    el.querySelector('#metric-title').textContent = metricName.toUpperCase();
    charts.metric.canvas.setAttribute('aria-label', metricName);
    if (lastRes) showWindows(lastRes);
  });

  const off = live.on('stats', showStats);
  const onTheme = () => Object.values(charts).forEach((c) => c.update());
  window.addEventListener('flowcast-theme', onTheme);
  showStats();
  poll();

  return () => {
    stopped = true;
    clearTimeout(timer);
    if (ctrl) ctrl.abort();
    off();
    window.removeEventListener('flowcast-theme', onTheme);
    Object.values(charts).forEach((c) => c.destroy());
  };
}
