// Models: the registry's versions with their validation metrics and status; promote and train
// (admin: the token is asked once and kept in sessionStorage for this tab).

import { adminErrorText, api, getToken, setToken } from './api.js';
import { escapeHtml, fmtDateTime, fmtInt, fmtNum, fmtPct, versionColor } from './format.js';

const POLL_MS = 5000;

export function mount(el, { dataset, banner }) {
  el.innerHTML = `
    <section class="panel">
      <header><h2>Model versions</h2><span class="aside" id="m-serving"></span></header>
      <div class="body">
        <div class="form-actions" style="margin:0 0 12px">
          <button class="btn" id="m-train" type="button">Train a new version now</button>
          <button class="btn" id="m-forget" type="button" hidden>Forget the admin token</button>
          <span class="msg" id="m-msg" role="status"></span>
        </div>
        <div class="table-wrap"><table id="models" data-rows="0"><thead><tr>
          <th>version</th><th>status</th><th>learner</th><th>created</th><th>promoted</th><th class="num">trained rows</th>
          <th>validation metrics</th><th></th>
        </tr></thead><tbody><tr><td colspan="8" class="empty">loading…</td></tr></tbody></table></div>
      </div>
    </section>
    <dialog id="token-dialog">
      <form method="dialog">
        <h3>Admin token</h3>
        <div class="muted small">Promoting and training need the server's <code>FLOWCAST_ADMIN_TOKEN</code>. It is kept in this tab only.</div>
        <input type="password" id="token-input" autocomplete="off" placeholder="token" aria-label="Admin token">
        <div class="row"><button class="btn" value="cancel" type="submit">Cancel</button>
        <button class="btn primary" value="ok" type="submit" id="token-ok">Continue</button></div>
      </form>
    </dialog>`;

  const tbody = el.querySelector('#models tbody');
  const table = el.querySelector('#models');
  const msg = el.querySelector('#m-msg');
  const dialog = el.querySelector('#token-dialog');
  const forget = el.querySelector('#m-forget');
  let stopped = false, timer = 0;

  const say = (text, kind = '') => { msg.textContent = text; msg.className = `msg ${kind}`; };
  const refreshForget = () => { forget.hidden = !getToken(); };
  refreshForget();

  const askToken = () => new Promise((resolve) => {
    const input = el.querySelector('#token-input');
    input.value = '';
    dialog.returnValue = '';
    dialog.addEventListener('close', () => {
      const ok = dialog.returnValue === 'ok' && input.value.trim();
      if (ok) setToken(input.value.trim());
      refreshForget();
      resolve(Boolean(ok));
    }, { once: true });
    dialog.showModal();
  });

  // Runs an admin call; asks for the token when none is kept, and again once when it is refused.
  const admin = async (what, fn) => {
    if (!getToken() && !(await askToken())) return;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const res = await fn();
        say(`${what}: done.`, 'ok');
        return res;
      } catch (e) {
        if (e.status === 401) {
          setToken('');
          refreshForget();
          say(adminErrorText(e), 'error');
          if (attempt === 0 && (await askToken())) continue;
        } else {
          say(adminErrorText(e), 'error');
        }
        return null;
      }
    }
    return null;
  };

  // Validation figures: {validation: {rmsle, mape, ...}, training: {...}} or a flat object.
  const metricsText = (all) => {
    if (!all || typeof all !== 'object') return '';
    const m = all.validation && typeof all.validation === 'object' ? all.validation : all;
    const keys = ['rmsle', 'mape', 'rmse', 'mae', 'within_30'];
    const shown = keys.filter((k) => Number.isFinite(Number(m[k])));
    const rest = Object.keys(m).filter((k) => !keys.includes(k) && k !== 'count' && Number.isFinite(Number(m[k]))).slice(0, 2);
    const fmt = (k, v) => (k === 'mape' || k === 'within_30' ? fmtPct(v, 1) : fmtNum(v, 3));
    const names = { within_30: 'within ±30%' };
    let text = [...shown, ...rest].map((k) => `${names[k] || k} ${fmt(k, Number(m[k]))}`).join(' · ');
    const t = all.training;
    if (t && Number.isFinite(Number(t.seconds))) text += ` · trained in ${fmtNum(Number(t.seconds), 2)} s`;
    return text;
  };

  const render = (res) => {
    const models = (res && res.models) || [];
    el.querySelector('#m-serving').textContent = Number.isFinite(res && res.serving_version)
      ? `serving v${res.serving_version}` : '';
    table.dataset.rows = String(models.length);
    table.dataset.serving = String(res && res.serving_version);
    if (!models.length) {
      tbody.innerHTML = '<tr><td colspan="8" class="empty">No model yet: the first is trained when enough labelled records are stored (version 0, the baseline, answers until then).</td></tr>';
      return;
    }
    tbody.innerHTML = models.map((m) => {
      const serving = m.version === res.serving_version || m.status === 'active';
      return `<tr data-version="${escapeHtml(m.version)}"><td><span class="vdot" style="background:${versionColor(m.version)}"></span>v${escapeHtml(m.version)}</td>` +
        `<td><span class="badge ${escapeHtml(m.status)}">${escapeHtml(m.status || '')}</span></td><td>${escapeHtml(m.learner || '')}</td>` +
        `<td>${fmtDateTime(m.created_at_ms)}</td><td>${fmtDateTime(m.promoted_at_ms)}</td><td class="num">${fmtInt(m.trained_rows)}</td>` +
        `<td class="small">${escapeHtml(metricsText(m.metrics))}</td>` +
        `<td><button class="btn promote" type="button" data-version="${escapeHtml(m.version)}" ${serving ? 'disabled title="already serving"' : ''}>Promote</button></td></tr>`;
    }).join('');
  };

  const load = async () => {
    if (stopped) return;
    try {
      const res = await api.models(dataset);
      if (!stopped) { render(res); banner(null); }
    } catch (e) {
      if (!stopped) banner(`Cannot load the models: ${e.message}`);
    }
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(load, POLL_MS);
  };

  tbody.addEventListener('click', async (e) => {
    const b = e.target.closest('button.promote');
    if (!b) return;
    const v = b.dataset.version;
    b.disabled = true;
    const res = await admin(`Promote v${v}`, () => api.promote(dataset, v));
    if (res) say(`v${res.promoted ?? v} is now serving ${escapeHtml(dataset)}.`, 'ok');
    b.disabled = false;
    load();
  });
  el.querySelector('#m-train').addEventListener('click', async (e) => {
    e.target.disabled = true;
    const res = await admin('Train', () => api.train(dataset));
    if (res) say('Training started; the new version appears here when it is stored.', 'ok');
    e.target.disabled = false;
  });
  forget.addEventListener('click', () => { setToken(''); refreshForget(); say('The admin token was forgotten.'); });

  load();
  return () => { stopped = true; clearTimeout(timer); };
}
