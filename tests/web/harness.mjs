// Shared by the browser tests and the frame-time benchmark: start `flowcast run` on loopback with
// a temporary bus and store, and drive Debian's chromium with playwright-core.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = process.env.FLOWCAST_SOURCE_DIR || path.resolve(here, '../..');
export const CHROMIUM = process.env.FLOWCAST_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = process.env.FLOWCAST_TEST_ARTIFACTS || path.join(SOURCE_DIR, 'build', 'test-artifacts', 'web');

export function flowcastBinary() {
  const bin = process.env.FLOWCAST_BINARY || path.join(SOURCE_DIR, 'build', 'release', 'flowcast');
  if (!fs.existsSync(bin)) {
    throw new Error(`flowcast binary not found at ${bin}: build it (make build) or set FLOWCAST_BINARY`);
  }
  return bin;
}

export async function loadChromium() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`chromium not found at ${CHROMIUM}: install Debian's chromium (scripts/bootstrap does it)`);
  }
  let pw;
  try {
    pw = await import('playwright-core');
  } catch (e) {
    throw new Error(`playwright-core is not installed in ${here}/node_modules: run \`npm ci\` there ` +
      `(make test runs it as the web_npm_ci test): ${e.message}`);
  }
  return pw.chromium;
}

// A fresh chromium profile each time; the caller closes the context and removes the directory.
export async function launchBrowser(options = {}) {
  const chromium = await loadChromium();
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowcast-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    ...options,
  });
  const close = async () => {
    try { await context.close(); } catch (e) { /* already gone */ }
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, close };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts `flowcast run CONFIG` on 127.0.0.1 with a free port; resolves once the port file exists.
export async function startFlowcast(config, { sets = [], args = [], env = {}, name, waitMs = 60000 } = {}) {
  const bin = flowcastBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `flowcast-web-${name || 'run'}-`));
  const portFile = path.join(dir, 'port');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const logPath = path.join(ARTIFACTS, `${name || 'flowcast'}.log`);
  const log = fs.openSync(logPath, 'w');
  const argv = ['run', path.resolve(SOURCE_DIR, config),
    '--set', `bus=local:${dir}/bus`, '--set', `store=sqlite:${dir}/x.db`,
    ...sets.flatMap((s) => ['--set', s]),
    '--listen', '127.0.0.1:0', '--port-file', portFile, '--no-status', ...args];
  const child = spawn(bin, argv, {
    cwd: SOURCE_DIR, stdio: ['ignore', log, log], env: { ...process.env, ...env },
  });
  fs.closeSync(log);
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const proc = {
    pid: child.pid, dir, logPath, argv,
    get exited() { return exited; },
    async stop() {
      if (!exited) {
        try { process.kill(child.pid, 'SIGTERM'); } catch (e) { /* gone */ }
        for (let i = 0; i < 100 && !exited; i++) await sleep(100);
        if (!exited) {
          try { process.kill(child.pid, 'SIGKILL'); } catch (e) { /* gone */ }
          for (let i = 0; i < 50 && !exited; i++) await sleep(100);
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(proc);
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (exited) {
      running.delete(proc);
      const tail = fs.readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n');
      throw new Error(`flowcast ${argv.join(' ')} exited (${JSON.stringify(exited)}) before listening:\n${tail}`);
    }
    if (fs.existsSync(portFile)) {
      const text = fs.readFileSync(portFile, 'utf8');
      const port = Number.parseInt(text, 10);
      if (text.endsWith('\n') && port > 0) {
        proc.port = port;
        proc.url = `http://127.0.0.1:${port}`;
        return proc;
      }
    }
    await sleep(100);
  }
  await proc.stop();
  running.delete(proc);
  throw new Error(`flowcast did not write its port file within ${waitMs / 1000} s (log: ${logPath})`);
}

// Every flowcast process still running is killed by its PID when node exits, whatever happened.
const running = new Set();
process.on('exit', () => {
  for (const p of running) {
    if (!p.exited) { try { process.kill(p.pid, 'SIGKILL'); } catch (e) { /* gone */ } }
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(130));
}
export async function stopFlowcast(proc) {
  if (!proc) return;
  await proc.stop();
  running.delete(proc);
}
