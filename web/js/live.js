// Live: a map drawn from coordinates (trips from pickup to dropoff, or points grouped by a
// category such as the city), the key figures, and the latest records with their predictions.

import {
  NYC_BOUNDS, NYC_BOROUGHS, NYC_CONTEXT, NYC_PLACES, RUSSIA, RUSSIA_BOUNDS, fitProjection, traceRings,
} from './geo.js';
import {
  errClass, escapeHtml, fmtCompact, fmtInt, fmtNum, fmtPct, fmtSignedPct, fmtTime, targetFormatter, versionColor,
} from './format.js';

const FADE_MS = 6000;            // a finished trip fades out over this long
const MAX_ACTIVE = 3000;         // active trips kept (oldest dropped)
const MAX_FINISHED = 4000;       // fading trips kept
const MAX_GROUPS = 2000;         // groups (cities) kept
const MAX_FLASH = 600;           // recent points flashed on the group map
const TABLE_ROWS = 20;           // rows in the latest-records table
const DENSITY_W = 220, DENSITY_H = 180;

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function median(a) {
  if (!a.length) return NaN;
  const s = Float64Array.from(a).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Pairs of latitude/longitude fields by their common prefix: pickup_latitude + pickup_longitude.
function coordinatePairs(fields) {
  const stem = (n) => n.replace(/(latitude|longitude|lat|lon|lng)$/i, '');
  const lats = fields.filter((f) => f.type === 'latitude');
  const lons = fields.filter((f) => f.type === 'longitude');
  const pairs = [];
  for (const la of lats) {
    const lo = lons.find((f) => stem(f.name) === stem(la.name)) || (lats.length === 1 ? lons[0] : null);
    if (lo) pairs.push({ lat: la.name, lon: lo.name, stem: stem(la.name) });
  }
  const rank = (p) => (/^(pickup|start|from|origin)/i.test(p.stem) ? 0 : /^(dropoff|end|to|dest)/i.test(p.stem) ? 1 : 2);
  return pairs.sort((a, b) => rank(a) - rank(b));
}

const plural = (w) => (/[^aeiou]y$/.test(w) ? w.slice(0, -1) + 'ies' : w + 's');

function haversineKm(lat1, lon1, lat2, lon2) {
  const r = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * r) / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lon2 - lon1) * r) / 2) ** 2;
  return 12742 * Math.asin(Math.sqrt(a));
}

function inBounds(b, lat, lon) {
  return lat >= b.latMin && lat <= b.latMax && lon >= b.lonMin && lon <= b.lonMax;
}

export function mount(el, { meta, live }) {
  const fields = meta.fields || [];
  const pairs = coordinatePairs(fields);
  const mode = pairs.length >= 2 ? 'trips' : pairs.length === 1 ? 'groups' : 'none';
  const groupField = (fields.find((f) => f.name === 'city') ||
    fields.find((f) => f.type === 'category' && f.required !== false) ||
    fields.find((f) => f.type === 'category') || {}).name;
  const numericFields = fields.filter((f) => (f.type === 'int' || f.type === 'float') &&
    f.name !== meta.target && f.role !== 'outcome' && f.role !== 'target').map((f) => f.name);
  const fmtTarget = targetFormatter(meta.target);
  const mapTitle = mode === 'trips' ? 'Trips' : mode === 'groups' ? `Records by ${groupField || 'place'}` : 'Map';

  el.innerHTML = `
    <div class="grid live-grid">
      <section class="panel">
        <header><h2>${escapeHtml(mapTitle)}</h2><span class="aside" id="map-note"></span></header>
        <div class="body">
          <div class="canvas-wrap map-wrap" id="map" data-trips-drawn="0" data-points-drawn="0" data-frames="0"
               data-frame-ms-max="0" data-frame-ms-p99="0" data-region="">
            <canvas aria-label="${escapeHtml(mapTitle)} map"></canvas>
            <div class="map-legend" id="map-legend"></div>
          </div>
        </div>
      </section>
      <section class="panel">
        <header><h2>Now</h2><span class="aside">${escapeHtml(meta.name)}</span></header>
        <div class="body">
          <div class="figures" id="figures"></div>
          <h3 class="small muted" style="margin:16px 0 6px;font-weight:500">Error of the latest joined predictions</h3>
          <div class="canvas-wrap" id="err-hist" style="height:120px" data-count="0"><canvas aria-label="error histogram"></canvas></div>
          <div id="groups-box" ${mode === 'groups' ? '' : 'hidden'}>
            <h3 class="small muted" style="margin:16px 0 6px;font-weight:500">By ${escapeHtml(groupField || 'group')} (from the stream)</h3>
            <div class="table-wrap"><table id="groups" data-rows="0"><thead><tr>
              <th>${escapeHtml(groupField || 'group')}</th><th class="num">seen</th><th class="num">median ${escapeHtml(meta.target)}</th><th class="num">median |error|</th>
            </tr></thead><tbody></tbody></table></div>
          </div>
        </div>
      </section>
      <section class="panel span-all">
        <header><h2>Latest records</h2><span class="aside">a sample of the stream, joined with the outcomes · error = (prediction − actual) / actual</span></header>
        <div class="body table-wrap">
          <table id="latest" data-rows="0"><thead><tr>
            <th>time</th><th>key</th><th>record</th><th class="num">prediction</th><th class="num">actual</th>
            <th class="num">error</th><th class="num">model</th>
          </tr></thead><tbody><tr><td colspan="7" class="empty">waiting for the stream…</td></tr></tbody></table>
        </div>
      </section>
    </div>`;

  const mapEl = el.querySelector('#map');
  const canvas = mapEl.querySelector('canvas');
  const legendEl = el.querySelector('#map-legend');
  const noteEl = el.querySelector('#map-note');
  const figuresEl = el.querySelector('#figures');
  const latestBody = el.querySelector('#latest tbody');
  const latestTable = el.querySelector('#latest');
  const groupsBody = el.querySelector('#groups tbody');
  const groupsTable = el.querySelector('#groups');

  if (mode === 'trips') {
    legendEl.innerHTML = '<span class="sw" style="background:var(--accent)"></span>active' +
      '<span class="sw" style="background:var(--good)"></span>within ±30%' +
      '<span class="sw" style="background:var(--warn)"></span>±30–60%' +
      '<span class="sw" style="background:var(--bad)"></span>beyond ±60%';
  } else if (mode === 'groups') {
    legendEl.innerHTML = '<span class="sw" style="background:var(--accent);height:8px;width:8px;border-radius:50%"></span>size: records seen' +
      '<span class="sw" style="background:var(--good);height:8px;width:8px;border-radius:50%"></span>colour: median error';
  } else {
    legendEl.hidden = true;
  }

  // ---- state (all bounded) ----
  const active = new Map();   // key -> {x1,y1,x2,y2 in lat/lon, t}
  let finished = [];          // {lat1, lon1, lat2, lon2, t, err}
  const groups = new Map();   // name -> {n, req, lat, lon, prices[], errs[]}
  let flashes = [];           // {lat, lon, t}
  const density = new Float32Array(DENSITY_W * DENSITY_H);
  let densityMax = 0, densityDirty = true, densitySeen = 0;
  let rows = [];              // latest records (joined recs), newest last
  let tableDirty = true, groupsDirty = true;
  let region = null, bounds = null;   // chosen from the first coordinates seen
  const earlyPoints = [];
  let finishedTotal = 0;
  let baseDirty = true, proj = null, cw = 0, ch = 0, dpr = 1;

  const pickRegion = (lat, lon) => {
    if (region) return;
    if (inBounds({ latMin: 40.3, latMax: 41.2, lonMin: -74.6, lonMax: -73.4 }, lat, lon)) {
      region = 'nyc'; bounds = NYC_BOUNDS;
    } else if (inBounds({ latMin: 40, latMax: 82, lonMin: 19, lonMax: 181 }, lat, lon)) {
      region = 'russia'; bounds = RUSSIA_BOUNDS;
    } else {
      earlyPoints.push([lat, lon]);
      if (earlyPoints.length < 50) return;
      let b = { latMin: 90, latMax: -90, lonMin: 180, lonMax: -180 };
      for (const [a, o] of earlyPoints) {
        b = { latMin: Math.min(b.latMin, a), latMax: Math.max(b.latMax, a), lonMin: Math.min(b.lonMin, o), lonMax: Math.max(b.lonMax, o) };
      }
      const pl = (b.latMax - b.latMin) * 0.3 + 0.01, po = (b.lonMax - b.lonMin) * 0.3 + 0.01;
      region = 'auto';
      bounds = { latMin: b.latMin - pl, latMax: b.latMax + pl, lonMin: b.lonMin - po, lonMax: b.lonMax + po };
    }
    mapEl.dataset.region = region;
    baseDirty = true;
  };

  const coords = (rec, p) => {
    const lat = Number(rec[p.lat]), lon = Number(rec[p.lon]);
    return Number.isFinite(lat) && Number.isFinite(lon) ? [lat, lon] : null;
  };

  const addDensity = (lat, lon) => {
    if (!bounds) return;
    const gx = Math.floor(((lon - bounds.lonMin) / (bounds.lonMax - bounds.lonMin)) * DENSITY_W);
    const gy = Math.floor(((bounds.latMax - lat) / (bounds.latMax - bounds.latMin)) * DENSITY_H);
    if (gx < 0 || gy < 0 || gx >= DENSITY_W || gy >= DENSITY_H) return;
    const v = (density[gy * DENSITY_W + gx] += 1);
    if (v > densityMax) densityMax = v;
    densitySeen++;  // the layer is redrawn once a second
  };

  const group = (name) => {
    let g = groups.get(name);
    if (!g) {
      if (groups.size >= MAX_GROUPS) groups.delete(groups.keys().next().value);
      g = { name, n: 0, req: 0, latSum: 0, lonSum: 0, pts: 0, prices: [], errs: [] };
      groups.set(name, g);
    }
    return g;
  };
  const pushCapped = (a, v, cap = 300) => { a.push(v); if (a.length > cap) a.splice(0, a.length - cap); };

  const onRecordSeen = (rec, isRequest, key) => {
    if (mode === 'trips') {
      const a = coords(rec, pairs[0]), b = coords(rec, pairs[1]);
      if (!a) return;
      pickRegion(a[0], a[1]);
      addDensity(a[0], a[1]);
      if (isRequest && b) {
        active.set(key, { lat1: a[0], lon1: a[1], lat2: b[0], lon2: b[1], t: performance.now() });
        if (active.size > MAX_ACTIVE) active.delete(active.keys().next().value);
      }
    } else if (mode === 'groups') {
      const p = coords(rec, pairs[0]);
      if (p) { pickRegion(p[0], p[1]); addDensity(p[0], p[1]); }
      const name = groupField ? rec[groupField] : null;
      if (name != null && name !== '') {
        const g = group(String(name));
        g.n++;
        if (isRequest) g.req++;
        if (p) { g.latSum += p[0]; g.lonSum += p[1]; g.pts++; }
        const price = Number(rec[meta.target]);
        if (Number.isFinite(price)) pushCapped(g.prices, price);
        groupsDirty = true;
      }
      if (p) {
        flashes.push({ lat: p[0], lon: p[1], t: performance.now() });
        if (flashes.length > MAX_FLASH) flashes = flashes.slice(-MAX_FLASH);
      }
    }
  };

  const offs = [];
  offs.push(live.on('request', (r) => onRecordSeen(r.record, true, r.key)));
  offs.push(live.on('observation', (o) => onRecordSeen(o.record, false, o.key)));
  offs.push(live.on('prediction', (r) => {
    if (!rows.includes(r)) {
      rows.push(r);
      if (rows.length > TABLE_ROWS * 2) rows = rows.slice(-TABLE_ROWS);
    }
    tableDirty = true;
  }));

  offs.push(live.on('complete', (r) => {
    finishedTotal++;
    tableDirty = true;
    if (mode === 'trips') {
      const a = active.get(r.key);
      active.delete(r.key);
      const rec = r.record;
      const p = a || (rec && coords(rec, pairs[0]) && coords(rec, pairs[1])
        ? (() => { const x = coords(rec, pairs[0]), y = coords(rec, pairs[1]); return { lat1: x[0], lon1: x[1], lat2: y[0], lon2: y[1] }; })()
        : null);
      if (p) {
        finished.push({ lat1: p.lat1, lon1: p.lon1, lat2: p.lat2, lon2: p.lon2, t: performance.now(), err: r.err });
        if (finished.length > MAX_FINISHED) finished = finished.slice(-MAX_FINISHED);
      }
    } else if (mode === 'groups' && r.record && groupField) {
      const name = r.record[groupField];
      if (name != null) {
        const g = group(String(name));
        if (Number.isFinite(r.err)) pushCapped(g.errs, Math.abs(r.err));
        if (Number.isFinite(r.actual)) pushCapped(g.prices, r.actual);
        groupsDirty = true;
      }
    }
  }));
  // Records that arrived before this page was opened.
  for (const r of live.records.values()) if (r.record) onRecordSeen(r.record, !r.done, r.key);
  rows = live.finished.slice(-TABLE_ROWS);

  // ---- drawing ----
  const base = document.createElement('canvas');
  const composite = document.createElement('canvas');
  let compositeDirty = true;
  const dens = document.createElement('canvas');
  dens.width = DENSITY_W;
  dens.height = DENSITY_H;
  const densImg = dens.getContext('2d').createImageData(DENSITY_W, DENSITY_H);

  let colors = {};
  const readColors = () => {
    colors = {
      land: cssVar('--land'), edge: cssVar('--land-edge'), water: cssVar('--water'), muted: cssVar('--muted'),
      accent: cssVar('--accent'), good: cssVar('--good'), warn: cssVar('--warn'), bad: cssVar('--bad'), text: cssVar('--text'),
    };
  };
  readColors();
  const onTheme = () => { readColors(); baseDirty = true; densityDirty = true; };
  window.addEventListener('flowcast-theme', onTheme);
  const mq = matchMedia('(prefers-color-scheme: dark)');
  mq.addEventListener('change', onTheme);

  const resize = () => {
    const w = mapEl.clientWidth, h = mapEl.clientHeight;
    dpr = window.devicePixelRatio || 1;
    if (w === cw && h === ch && canvas.width === Math.round(w * dpr)) return;
    cw = w; ch = h;
    canvas.width = base.width = composite.width = Math.round(w * dpr);
    canvas.height = base.height = composite.height = Math.round(h * dpr);
    baseDirty = true;
  };
  const ro = new ResizeObserver(resize);
  ro.observe(mapEl);

  const drawBase = () => {
    baseDirty = false;
    const g = base.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = colors.water;
    g.fillRect(0, 0, cw, ch);
    if (!bounds) return;
    proj = fitProjection(bounds, cw, ch, region === 'nyc' ? 4 : 14);
    g.lineJoin = 'round';
    if (region === 'nyc') {
      g.globalAlpha = 0.45;
      g.fillStyle = colors.land;
      g.beginPath();
      traceRings(g, NYC_CONTEXT, proj);
      g.fill();
      g.globalAlpha = 1;
      g.fillStyle = colors.land;
      g.strokeStyle = colors.edge;
      g.lineWidth = 1;
      for (const b of NYC_BOROUGHS) {
        g.beginPath();
        traceRings(g, b.rings, proj);
        g.fill();
        g.stroke();
      }
      g.fillStyle = colors.muted;
      g.font = '600 11px system-ui, sans-serif';
      g.textAlign = 'center';
      g.globalAlpha = 0.8;
      for (const b of NYC_BOROUGHS) g.fillText(b.name.toUpperCase(), proj.x(b.label[1]), proj.y(b.label[0]));
      g.font = '10px system-ui, sans-serif';
      for (const p of NYC_PLACES) g.fillText(`✈ ${p.name}`, proj.x(p.lon) + 16, proj.y(p.lat) + 14);
      g.globalAlpha = 1;
    } else if (region === 'russia') {
      g.strokeStyle = colors.edge;
      g.globalAlpha = 0.35;
      g.lineWidth = 1;
      g.beginPath();
      for (let lon = 20; lon <= 180; lon += 20) { g.moveTo(proj.x(lon), proj.y(bounds.latMin)); g.lineTo(proj.x(lon), proj.y(bounds.latMax)); }
      for (let lat = 45; lat <= 75; lat += 10) { g.moveTo(proj.x(bounds.lonMin), proj.y(lat)); g.lineTo(proj.x(bounds.lonMax), proj.y(lat)); }
      g.stroke();
      g.globalAlpha = 1;
      g.fillStyle = colors.land;
      g.beginPath();
      traceRings(g, RUSSIA, proj);
      g.fill();
      g.stroke();
    } else {
      g.strokeStyle = colors.edge;
      g.globalAlpha = 0.4;
      g.strokeRect(4.5, 4.5, cw - 9, ch - 9);
      g.globalAlpha = 1;
    }
  };

  const drawDensity = () => {
    densityDirty = false;
    const px = densImg.data;
    const hex = colors.accent.replace('#', '');
    const full = hex.length === 3 ? hex.split('').map((c) => c + c).join('') : hex;
    const cr = parseInt(full.slice(0, 2), 16) || 60, cg = parseInt(full.slice(2, 4), 16) || 120, cb = parseInt(full.slice(4, 6), 16) || 230;
    const lm = Math.log1p(Math.max(1, densityMax));
    for (let i = 0; i < density.length; i++) {
      const v = density[i];
      const o = i * 4;
      px[o] = cr; px[o + 1] = cg; px[o + 2] = cb;
      px[o + 3] = v > 0 ? Math.min(150, 30 + (Math.log1p(v) / lm) * 120) : 0;
    }
    dens.getContext('2d').putImageData(densImg, 0, 0);
  };

  const frameTimes = [];
  let frames = 0, lastDensityAt = 0, lastTableAt = 0, lastGroupsAt = 0, lastFiguresAt = 0, raf = 0;

  const frame = (now) => {
    raf = requestAnimationFrame(frame);
    const t0 = performance.now();
    if (!cw) resize();
    if (baseDirty) { drawBase(); compositeDirty = true; }
    if (proj && now - lastDensityAt > 1000) {
      lastDensityAt = now;
      // Slow decay keeps the layer about the last several minutes.
      let m = 0;
      for (let i = 0; i < density.length; i++) { const v = density[i] * 0.997; density[i] = v < 0.05 ? 0 : v; if (v > m) m = v; }
      densityMax = m;
      densityDirty = true;
    }
    if (proj && densityDirty) { drawDensity(); compositeDirty = true; }
    if (compositeDirty) {
      // The outlines and the density layer change at most once a second: compose them once.
      compositeDirty = false;
      const cg = composite.getContext('2d');
      cg.setTransform(1, 0, 0, 1, 0, 0);
      cg.drawImage(base, 0, 0);
      if (proj) {
        cg.setTransform(dpr, 0, 0, dpr, 0, 0);
        cg.imageSmoothingEnabled = true;
        const x0 = proj.x(bounds.lonMin), y0 = proj.y(bounds.latMax);
        cg.drawImage(dens, x0, y0, proj.x(bounds.lonMax) - x0, proj.y(bounds.latMin) - y0);
      }
    }
    const g = canvas.getContext('2d');
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.drawImage(composite, 0, 0);
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    let drawn = 0, pointsDrawn = 0;
    if (proj) {
      if (mode === 'trips') {
        drawn = drawTrips(g, now);
      } else if (mode === 'groups') {
        pointsDrawn = drawGroups(g, now);
      }
    } else {
      g.fillStyle = colors.muted;
      g.font = '13px system-ui, sans-serif';
      g.textAlign = 'center';
      g.fillText('waiting for records with coordinates…', cw / 2, ch / 2);
    }
    frames++;
    const dt = performance.now() - t0;
    frameTimes.push(dt);
    if (frameTimes.length > 600) frameTimes.splice(0, frameTimes.length - 600);
    mapEl.dataset.tripsDrawn = String(drawn);
    mapEl.dataset.pointsDrawn = String(pointsDrawn);
    mapEl.dataset.frames = String(frames);
    if (now - lastFiguresAt > 500) {
      lastFiguresAt = now;
      const sorted = Float64Array.from(frameTimes).sort();
      mapEl.dataset.frameMsMax = sorted.length ? sorted[sorted.length - 1].toFixed(2) : '0';
      mapEl.dataset.frameMsP99 = sorted.length ? sorted[Math.floor(sorted.length * 0.99)].toFixed(2) : '0';
      mapEl.dataset.active = String(active.size);
      mapEl.dataset.finishedTotal = String(finishedTotal);
      mapEl.dataset.densitySeen = String(densitySeen);
      updateFigures();
      noteEl.textContent = mode === 'trips'
        ? `${fmtInt(active.size)} active · ${fmtInt(finished.length)} recently finished`
        : mode === 'groups' ? `${fmtInt(groups.size)} ${plural(groupField || 'group')} · ${fmtInt(densitySeen)} records seen` : '';
    }
    if (tableDirty && now - lastTableAt > 400) { lastTableAt = now; tableDirty = false; renderTable(); }
    if (groupsDirty && mode === 'groups' && now - lastGroupsAt > 500) { lastGroupsAt = now; groupsDirty = false; renderGroups(); }
  };

  const drawTrips = (g, now) => {
    let n = 0;
    // Finished trips by colour and fade bucket: one path per bucket.
    const buckets = [[], [], []];
    const keep = [];
    for (const f of finished) {
      const age = now - f.t;
      if (age > FADE_MS) continue;
      keep.push(f);
      const a = Math.abs(f.err);
      const c = !Number.isFinite(a) ? 2 : a <= 0.3 ? 0 : a <= 0.6 ? 1 : 2;
      buckets[c].push(f);
    }
    if (keep.length !== finished.length) finished = keep;
    const cols = [colors.good, colors.warn, colors.bad];
    const LEVELS = 5;
    g.lineWidth = 1.3;
    g.lineCap = 'round';
    for (let c = 0; c < 3; c++) {
      const levels = Array.from({ length: LEVELS }, () => []);
      for (const f of buckets[c]) levels[Math.max(0, Math.min(LEVELS - 1, Math.floor(((now - f.t) / FADE_MS) * LEVELS)))].push(f);
      g.strokeStyle = cols[c];
      g.fillStyle = cols[c];
      for (let l = 0; l < LEVELS; l++) {
        const list = levels[l];
        if (!list.length) continue;
        g.globalAlpha = 0.85 * (1 - l / LEVELS);
        g.beginPath();
        for (const f of list) { g.moveTo(proj.x(f.lon1), proj.y(f.lat1)); g.lineTo(proj.x(f.lon2), proj.y(f.lat2)); }
        g.stroke();
        g.beginPath();
        for (const f of list) { const x = proj.x(f.lon2), y = proj.y(f.lat2); g.moveTo(x + 2, y); g.arc(x, y, 2, 0, 6.2832); }
        g.fill();
        n += list.length;
      }
    }
    // Active trips: pickup dot, line towards the dropoff.
    const staleAfter = 120000;
    g.strokeStyle = colors.accent;
    g.fillStyle = colors.accent;
    g.globalAlpha = 0.75;
    g.lineWidth = 1.1;
    g.beginPath();
    for (const [k, a] of active) {
      if (now - a.t > staleAfter) { active.delete(k); continue; }
      g.moveTo(proj.x(a.lon1), proj.y(a.lat1));
      g.lineTo(proj.x(a.lon2), proj.y(a.lat2));
      n++;
    }
    g.stroke();
    g.globalAlpha = 0.95;
    g.beginPath();
    for (const a of active.values()) { const x = proj.x(a.lon1), y = proj.y(a.lat1); g.moveTo(x + 2.4, y); g.arc(x, y, 2.4, 0, 6.2832); }
    g.fill();
    g.globalAlpha = 1;
    return n;
  };

  const drawGroups = (g, now) => {
    let n = 0;
    let maxN = 1;
    for (const gr of groups.values()) if (gr.n > maxN) maxN = gr.n;
    const scale = Math.max(4, Math.min(cw, ch) / 22);
    // Groups: circles at their mean position, area by records seen, colour by median error.
    const list = [...groups.values()].filter((gr) => gr.pts > 0).sort((a, b) => b.n - a.n);
    for (const gr of list) {
      const x = proj.x(gr.lonSum / gr.pts), y = proj.y(gr.latSum / gr.pts);
      const r = 2.5 + Math.sqrt(gr.n / maxN) * scale;
      const e = median(gr.errs);
      const col = !Number.isFinite(e) ? colors.accent : e <= 0.3 ? colors.good : e <= 0.6 ? colors.warn : colors.bad;
      g.globalAlpha = 0.28;
      g.fillStyle = col;
      g.beginPath();
      g.arc(x, y, r, 0, 6.2832);
      g.fill();
      g.globalAlpha = 0.9;
      g.strokeStyle = col;
      g.lineWidth = 1.2;
      g.stroke();
      n++;
    }
    // Labels for the largest groups.
    g.globalAlpha = 0.9;
    g.fillStyle = colors.text;
    g.font = '11px system-ui, sans-serif';
    g.textAlign = 'left';
    for (const gr of list.slice(0, 8)) {
      const x = proj.x(gr.lonSum / gr.pts), y = proj.y(gr.latSum / gr.pts);
      g.fillText(gr.name, x + 2.5 + Math.sqrt(gr.n / maxN) * scale + 3, y + 4);
    }
    // Flashes of the latest records.
    const keep = [];
    g.fillStyle = colors.accent;
    for (const f of flashes) {
      const age = now - f.t;
      if (age > 2500) continue;
      keep.push(f);
      g.globalAlpha = 0.9 * (1 - age / 2500);
      g.beginPath();
      g.arc(proj.x(f.lon), proj.y(f.lat), 2 + age / 600, 0, 6.2832);
      g.fill();
      n++;
    }
    if (keep.length !== flashes.length) flashes = keep;
    g.globalAlpha = 1;
    return n;
  };

  const summary = (rec) => {
    if (!rec) return '';
    if (mode === 'trips') {
      const a = coords(rec, pairs[0]), b = coords(rec, pairs[1]);
      const parts = [];
      if (a && b) parts.push(`${haversineKm(a[0], a[1], b[0], b[1]).toFixed(1)} km`);
      for (const f of numericFields.slice(0, 2)) if (rec[f] !== undefined) parts.push(`${f.replace(/_/g, ' ')} ${rec[f]}`);
      return parts.join(' · ');
    }
    const parts = [];
    if (groupField && rec[groupField] != null) parts.push(String(rec[groupField]));
    for (const f of numericFields.slice(0, 3)) if (rec[f] !== undefined && rec[f] !== null) parts.push(`${f.replace(/_/g, ' ')} ${fmtNum(Number(rec[f]), 3)}`);
    return parts.join(' · ');
  };

  const renderTable = () => {
    // The latest records joined with their outcome; the pending ones until the first outcome.
    const done = live.finished.slice(-TABLE_ROWS);
    const list = (done.length ? done : rows.slice(-TABLE_ROWS)).reverse();
    if (!list.length) return;
    let html = '';
    for (const r of list) {
      const ts = r.predTs || r.reqTs;
      const hasActual = Number.isFinite(r.actual);
      html += `<tr><td>${fmtTime(ts)}</td><td class="key">${escapeHtml(r.key)}</td><td>${escapeHtml(summary(r.record))}</td>` +
        `<td class="num">${fmtTarget(r.prediction)}</td><td class="num">${hasActual ? fmtTarget(r.actual) : '<span class="muted">pending</span>'}</td>` +
        `<td class="num ${errClass(r.err)}">${hasActual ? fmtSignedPct(r.err) : ''}</td>` +
        `<td class="num"><span class="vdot" style="background:${versionColor(r.version)}"></span>v${escapeHtml(r.version)}</td></tr>`;
    }
    latestBody.innerHTML = html;
    latestTable.dataset.rows = String(list.length);
    latestTable.dataset.withActual = String(list.filter((r) => Number.isFinite(r.actual)).length);
  };

  const renderGroups = () => {
    const list = [...groups.values()].sort((a, b) => b.n - a.n).slice(0, 14);
    let html = '';
    for (const gr of list) {
      const e = median(gr.errs);
      html += `<tr><td>${escapeHtml(gr.name)}</td><td class="num">${fmtInt(gr.n)}</td><td class="num">${fmtTarget(median(gr.prices))}</td>` +
        `<td class="num ${errClass(e)}">${fmtPct(e, 1)}</td></tr>`;
    }
    groupsBody.innerHTML = html || '<tr><td colspan="4" class="empty">waiting…</td></tr>';
    groupsTable.dataset.rows = String(list.length);
  };

  const histEl = el.querySelector('#err-hist');
  const histSize = { w: 0, h: 0 };
  const histRo = new ResizeObserver(() => { histSize.w = histEl.clientWidth; histSize.h = histEl.clientHeight; });
  histRo.observe(histEl);
  const drawHistogram = () => {
    const c = histEl.querySelector('canvas');
    const w = histSize.w, h = histSize.h;
    if (!w || !h) return;
    if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const recent = live.finished.slice(-400).filter((r) => Number.isFinite(r.err));
    histEl.dataset.count = String(recent.length);
    const BINS = 21;  // -100% .. +100% in 10% steps; the ends collect the rest
    const bins = new Array(BINS).fill(0);
    for (const r of recent) bins[Math.max(0, Math.min(BINS - 1, Math.round(r.err * 10) + 10))]++;
    const max = Math.max(1, ...bins);
    const bw = w / BINS;
    for (let i = 0; i < BINS; i++) {
      const a = Math.abs(i - 10) / 10;
      g.fillStyle = a <= 0.3 ? colors.good : a <= 0.6 ? colors.warn : colors.bad;
      g.globalAlpha = 0.85;
      const bh = (bins[i] / max) * (h - 18);
      g.fillRect(i * bw + 1, h - 16 - bh, bw - 2, bh);
    }
    g.globalAlpha = 1;
    g.fillStyle = colors.muted;
    g.font = '10px system-ui, sans-serif';
    g.textAlign = 'center';
    for (const [i, t] of [[1, '−100%'], [7, '−30%'], [10, '0'], [13, '+30%'], [19, '+100%']]) g.fillText(t, (i + 0.5) * bw, h - 3);
    if (!recent.length) { g.fillText('waiting for outcomes…', w / 2, h / 2); }
  };

  const updateFigures = () => {
    drawHistogram();
    const s = live.stats;
    const predict = s && s.stages && s.stages.predict;
    const hist = live.statsHistory;
    const last = hist[hist.length - 1];
    const rate = last && last.stages.predict ? last.stages.predict.outRate : NaN;
    const recent = live.finished.slice(-300);
    const within = recent.length ? recent.filter((r) => Math.abs(r.err) <= 0.3).length / recent.length : NaN;
    const q = s && s.quality;
    const figs = [
      ['serving model', Number.isFinite(live.servingVersion) ? `v${live.servingVersion}` : '–'],
      [q && q.metric ? `${q.metric.toUpperCase()} (window)` : 'quality', q && Number.isFinite(q.value) ? fmtNum(q.value, 3) : '–'],
      ['predictions / s', Number.isFinite(rate) ? fmtCompact(rate) : '–'],
      ['p99 request → prediction', predict && Number.isFinite(predict.latency_p99_us) ? `${fmtNum(predict.latency_p99_us / 1000, 3)} ms` : '–'],
      ['within ±30% (sample)', fmtPct(within)],
      [mode === 'trips' ? 'active trips (sample)' : 'records seen (sample)', fmtInt(mode === 'trips' ? active.size : densitySeen)],
    ];
    figuresEl.innerHTML = figs.map(([l, v]) => `<div class="figure"><div class="label">${escapeHtml(l)}</div><div class="value">${escapeHtml(v)}</div></div>`).join('');
  };

  updateFigures();
  raf = requestAnimationFrame(frame);

  return () => {
    cancelAnimationFrame(raf);
    ro.disconnect();
    histRo.disconnect();
    window.removeEventListener('flowcast-theme', onTheme);
    mq.removeEventListener('change', onTheme);
    for (const off of offs) off();
  };
}
