// The live stream: one EventSource on /v1/stream for the chosen dataset. Requests, predictions
// and outcomes are joined by key here in the browser; every map and list is bounded.

const MAX_RECORDS = 5000;   // joined records kept by key (oldest evicted first)
const MAX_FINISHED = 400;   // completed records (prediction and outcome) kept for tables
const MAX_STATS = 900;      // stats samples kept (about 15 minutes at one a second)

export class LiveStore {
  constructor() {
    this.listeners = new Map();
    this.reset(null, null);
    this.es = null;
    this.retryTimer = 0;
    this.retryDelay = 1000;
  }

  reset(dataset, meta) {
    this.dataset = dataset;
    this.meta = meta;                 // the dataset's description from GET /v1/datasets
    this.target = meta ? meta.target : null;
    this.records = new Map();         // key -> joined record
    this.finished = [];               // completed records, oldest first
    this.stats = null;                // the latest `stats` payload for this dataset
    this.statsHistory = [];           // [{t, stages: {name: {inRate, outRate, lag, p99}}, quality}]
    this.prevStats = null;
    this.counts = { request: 0, prediction: 0, outcome: 0, observation: 0, stats: 0 };
    this.servingVersion = meta && Number.isFinite(meta.serving_version) ? meta.serving_version : null;
    this.latestRequest = null;        // the newest request record (the Price page can prefill from it)
    this.state = 'idle';
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type).delete(fn);
  }

  emit(type, arg) {
    const set = this.listeners.get(type);
    if (set) for (const fn of set) {
      try { fn(arg); } catch (e) { console.error(e); }
    }
  }

  setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  connect(dataset, meta, maxRate) {
    this.close();
    this.reset(dataset, meta);
    this.maxRate = maxRate;
    this.open();
  }

  open() {
    const url = `/v1/stream?dataset=${encodeURIComponent(this.dataset)}&max_rate=${this.maxRate}`;
    this.setState('connecting');
    const es = new EventSource(url);
    this.es = es;
    es.onopen = () => { this.retryDelay = 1000; this.setState('open'); };
    es.onerror = () => {
      if (this.es !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // Refused (e.g. 503: too many open streams) or the server went away: retry with back-off.
        this.setState('error');
        this.es = null;
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.open(), this.retryDelay);
        this.retryDelay = Math.min(this.retryDelay * 2, 15000);
      } else {
        this.setState('connecting');
      }
    };
    const parse = (fn) => (ev) => {
      let d;
      try { d = JSON.parse(ev.data); } catch (e) { return; }
      if (d && d.dataset && this.dataset && d.dataset !== this.dataset) return;
      fn(d);
    };
    es.addEventListener('hello', parse((d) => this.emit('hello', d)));
    es.addEventListener('request', parse((d) => this.onRequest(d)));
    es.addEventListener('prediction', parse((d) => this.onPrediction(d)));
    es.addEventListener('outcome', parse((d) => this.onOutcome(d)));
    es.addEventListener('observation', parse((d) => this.onObservation(d)));
    es.addEventListener('stats', (ev) => {
      let d;
      try { d = JSON.parse(ev.data); } catch (e) { return; }
      this.onStats(d);
    });
  }

  close() {
    clearTimeout(this.retryTimer);
    if (this.es) { this.es.close(); this.es = null; }
    this.setState('idle');
  }

  rec(key) {
    let r = this.records.get(key);
    if (!r) {
      r = { key, record: null, reqTs: NaN, prediction: NaN, version: null, predTs: NaN, actual: NaN, outTs: NaN, err: NaN, done: false };
      this.records.set(key, r);
      if (this.records.size > MAX_RECORDS) {
        // Maps iterate in insertion order: drop the oldest tenth in one go.
        let n = MAX_RECORDS / 10;
        for (const k of this.records.keys()) {
          this.records.delete(k);
          if (--n <= 0) break;
        }
      }
    }
    return r;
  }

  onRequest(d) {
    this.counts.request++;
    const r = this.rec(d.key);
    r.record = d.record || {};
    r.reqTs = d.ts_ms;
    this.latestRequest = r.record;
    this.emit('request', r);
    this.maybeComplete(r);
  }

  onPrediction(d) {
    this.counts.prediction++;
    const r = this.rec(d.key);
    r.prediction = Number(d.prediction);
    r.version = d.model_version;
    r.predTs = d.ts_ms;
    this.emit('prediction', r);
    this.maybeComplete(r);
  }

  onOutcome(d) {
    this.counts.outcome++;
    const r = this.rec(d.key);
    const rec = d.record || {};
    const t = this.target;
    const v = t && rec[t] !== undefined ? Number(rec[t]) : Number(d.actual);
    r.actual = v;
    r.outTs = d.ts_ms;
    r.outcome = rec;
    this.emit('outcome', r);
    this.maybeComplete(r);
  }

  onObservation(d) {
    this.counts.observation++;
    this.emit('observation', { key: d.key, ts: d.ts_ms, record: d.record || {} });
  }

  maybeComplete(r) {
    if (r.done || !Number.isFinite(r.prediction) || !Number.isFinite(r.actual)) return;
    r.done = true;
    r.err = r.actual !== 0 ? (r.prediction - r.actual) / r.actual : NaN;
    this.finished.push(r);
    if (this.finished.length > MAX_FINISHED * 1.25) this.finished.splice(0, this.finished.length - MAX_FINISHED);
    this.emit('complete', r);
  }

  onStats(d) {
    this.counts.stats++;
    const ds = d && d.datasets && d.datasets[this.dataset];
    if (!ds) return;
    this.stats = ds;
    if (Number.isFinite(ds.serving_version)) this.servingVersion = ds.serving_version;
    const t = Number(d.time_ms) || Date.now();
    const sample = { t, stages: {}, quality: ds.quality || null, serving: ds.serving_version };
    const prev = this.prevStats;
    for (const [name, s] of Object.entries(ds.stages || {})) {
      const p = prev && prev.ds.stages && prev.ds.stages[name];
      const dt = prev ? (t - prev.t) / 1000 : 0;
      const rate = (a, b) => (dt > 0 && Number.isFinite(a) && Number.isFinite(b) && a >= b ? (a - b) / dt : NaN);
      sample.stages[name] = {
        inRate: p ? rate(s.in, p.in) : NaN,
        outRate: p ? rate(s.out, p.out) : NaN,
        lag: Number(s.lag),
        p50: Number(s.latency_p50_us),
        p99: Number(s.latency_p99_us),
        running: s.running,
      };
    }
    this.prevStats = { t, ds };
    this.statsHistory.push(sample);
    if (this.statsHistory.length > MAX_STATS) this.statsHistory.splice(0, this.statsHistory.length - MAX_STATS);
    this.emit('stats', sample);
  }
}

export const live = new LiveStore();
