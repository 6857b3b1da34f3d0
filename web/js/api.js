// HTTP helpers for the flowcast API (contract: GET /v1/datasets, /v1/datasets/{name}/...).

const TOKEN_KEY = 'flowcast.adminToken';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function request(method, path, { body, admin = false, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (admin) {
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `the server did not answer (${e.message})`);
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const reason = (json && json.error) || text.trim() || res.statusText;
    throw new ApiError(res.status, reason, json);
  }
  return json;
}

const enc = encodeURIComponent;
export const api = {
  datasets: () => request('GET', '/v1/datasets'),
  models: (ds) => request('GET', `/v1/datasets/${enc(ds)}/models`),
  metrics: (ds, limit = 300) => request('GET', `/v1/datasets/${enc(ds)}/metrics?limit=${limit}`),
  predict: (ds, record) => request('POST', `/v1/datasets/${enc(ds)}/predict`, { body: record }),
  promote: (ds, version) => request('POST', `/v1/datasets/${enc(ds)}/models/${enc(version)}/promote`, { admin: true, body: {} }),
  train: (ds) => request('POST', `/v1/datasets/${enc(ds)}/train`, { admin: true, body: {} }),
};

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
}
export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
  } catch (e) { /* storage disabled */ }
}

// A readable sentence for an admin call that failed.
export function adminErrorText(err) {
  if (err.status === 401) return `The admin token was refused (401): ${err.message}. Enter the value of FLOWCAST_ADMIN_TOKEN.`;
  if (err.status === 403) return `Admin actions are disabled on this server (403): ${err.message}.`;
  if (err.status === 404) return `Not found (404): ${err.message}.`;
  if (err.status === 409) return `Busy (409): ${err.message}.`;
  return err.status ? `Failed (${err.status}): ${err.message}` : `Failed: ${err.message}`;
}
