// Frame times of the Live page while the taxi pipeline runs at a high rate.
//   node tests/web/frame_bench.mjs [--rate 10000] [--seconds 20] [--runs 3] [--max-rate 500]
// Each run starts a fresh `flowcast run examples/taxi.yaml --rate N` (FLOWCAST_BINARY, default
// build/release/flowcast), opens the Live page in headless chromium, waits until trips are drawn,
// then records the interval between requestAnimationFrame callbacks for the given time. Prints
// one line per run and the median over runs as JSON.
import { parseArgs } from 'node:util';
import { launchBrowser, startFlowcast, stopFlowcast } from './harness.mjs';

const { values: opt } = parseArgs({
  options: {
    rate: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '20' },
    runs: { type: 'string', default: '3' },
    'max-rate': { type: 'string', default: '500' },
  },
});
const rate = Number(opt.rate), seconds = Number(opt.seconds), runs = Number(opt.runs);

const pct = (a, p) => a[Math.min(a.length - 1, Math.floor(a.length * p))];
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

async function oneRun(i) {
  const run = await startFlowcast('examples/taxi.yaml', { name: `frame-bench-${i}`, args: ['--rate', String(rate)] });
  const browser = await launchBrowser();
  try {
    const page = browser.context.pages()[0] || (await browser.context.newPage());
    await page.goto(`${run.url}/?max_rate=${opt['max-rate']}#/live/taxi`);
    await page.waitForFunction(() => Number(document.querySelector('#map')?.dataset.tripsDrawn) > 0, null, { timeout: 60000, polling: 250 });
    await page.waitForTimeout(3000);
    // The renderer's main-thread time over the window (CPU time the page used, whatever else runs).
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    const m0 = await metrics();
    const r = await page.evaluate((ms) => new Promise((resolve) => {
      const gaps = [];
      // Long tasks (> 50 ms of script, style or layout on the page's main thread): tells the
      // page's own work apart from a renderer that the CPU did not schedule.
      const longTasks = [];
      const obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push(e.duration); });
      obs.observe({ type: 'longtask' });
      let last = performance.now();
      const t0 = last;
      const start = Number(document.querySelector('#map').dataset.frames);
      const tick = (now) => {
        gaps.push(now - last);
        last = now;
        if (now - t0 < ms) requestAnimationFrame(tick);
        else {
          obs.disconnect();
          const map = document.querySelector('#map').dataset;
          const hist = window.flowcast.live.statsHistory.slice(-Math.ceil(ms / 1000));
          const rates = (stage) => hist.map((s) => s.stages[stage] && s.stages[stage].outRate).filter(Number.isFinite);
          const avg = (a) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN);
          resolve({
            gaps, longTasks, frames: Number(map.frames) - start, drawMaxMs: Number(map.frameMsMax), drawP99Ms: Number(map.frameMsP99),
            tripsDrawn: Number(map.tripsDrawn), produceRate: avg(rates('produce')), predictRate: avg(rates('predict')),
            streamEvents: window.flowcast.live.counts,
          });
        }
      };
      requestAnimationFrame(tick);
    }), seconds * 1000);
    const m1 = await metrics();
    const busy = (k) => (m1[k] - m0[k]) / (m1.Timestamp - m0.Timestamp);
    const g = r.gaps.slice(1).sort((a, b) => a - b);
    return {
      run: i + 1, frames: g.length, frame_ms_median: +median(g).toFixed(2), frame_ms_p99: +pct(g, 0.99).toFixed(2),
      frame_ms_max: +g[g.length - 1].toFixed(2), draw_ms_max: r.drawMaxMs, draw_ms_p99: r.drawP99Ms,
      main_thread_busy: +busy('TaskDuration').toFixed(3), script_busy: +busy('ScriptDuration').toFixed(3),
      layout_style_busy: +(busy('LayoutDuration') + busy('RecalcStyleDuration')).toFixed(3),
      long_tasks: r.longTasks.length, long_task_ms_max: +Math.max(0, ...r.longTasks).toFixed(1),
      trips_drawn_last_frame: r.tripsDrawn, produce_per_s: Math.round(r.produceRate), predict_per_s: Math.round(r.predictRate),
    };
  } finally {
    await browser.close();
    await stopFlowcast(run);
  }
}

const results = [];
for (let i = 0; i < runs; i++) {
  const r = await oneRun(i);
  console.log(JSON.stringify(r));
  results.push(r);
}
const m = (k) => median(results.map((r) => r[k]));
console.log(JSON.stringify({
  rate, seconds, runs, median_of_runs: {
    frame_ms_median: m('frame_ms_median'), frame_ms_p99: m('frame_ms_p99'), frame_ms_max: m('frame_ms_max'),
    draw_ms_p99: m('draw_ms_p99'), draw_ms_max: m('draw_ms_max'), long_tasks: m('long_tasks'), long_task_ms_max: m('long_task_ms_max'),
    main_thread_busy: m('main_thread_busy'), script_busy: m('script_busy'), layout_style_busy: m('layout_style_busy'), produce_per_s: m('produce_per_s'), predict_per_s: m('predict_per_s'),
  },
  worst_frame_ms_max: Math.max(...results.map((r) => r.frame_ms_max)),
}));
