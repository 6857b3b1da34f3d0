// Browser tests of the dashboard against the real `flowcast run` (taxi and realty examples):
// the map draws and updates, a quality chart gains points, the models page lists a version, the
// price form answers with a model version. Screenshots go to $FLOWCAST_TEST_ARTIFACTS.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, launchBrowser, startFlowcast, stopFlowcast } from './harness.mjs';

const ADMIN_TOKEN = 'web-e2e-token';
const num = (page, sel, attr) => page.$eval(sel, (el, a) => Number(el.getAttribute(a)), attr);

async function shot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

// Waits until `sel`'s numeric attribute passes `pred`; the message names what was awaited.
async function waitAttr(page, sel, attr, pred, timeout, what) {
  try {
    await page.waitForFunction(([s, a, p]) => {
      const el = document.querySelector(s);
      return el && el.hasAttribute(a) && new Function('v', `return ${p}`)(Number(el.getAttribute(a)));
    }, [sel, attr, pred], { timeout, polling: 250 });
  } catch (e) {
    const v = await page.$eval(sel, (el, a) => el.getAttribute(a), attr).catch(() => 'absent');
    throw new Error(`${what}: ${sel}[${attr}] stayed ${v} for ${timeout / 1000} s (wanted v => ${pred})`);
  }
}

function suite(dataset, config, checks) {
  describe(`dashboard on ${dataset}`, () => {
    let run, browser, page;
    const errors = [];
    before(async () => {
      run = await startFlowcast(config, {
        name: dataset,
        sets: ['stages.evaluate.publish_interval=1s'],
        env: { FLOWCAST_ADMIN_TOKEN: ADMIN_TOKEN },
      });
      browser = await launchBrowser();
      page = browser.context.pages()[0] || (await browser.context.newPage());
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${run.url}/#/live/${dataset}`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
    });
    after(async () => {
      if (browser) await browser.close();
      await stopFlowcast(run);
    });

    checks(() => ({ run, page, dataset }));

    test('no script errors in the page', () => {
      assert.deepEqual(errors, []);
    });
  });
}

suite('taxi', 'examples/taxi.yaml', (ctx) => {
  test('the live map draws trips and keeps updating', { timeout: 90000 }, async () => {
    const { page } = ctx();
    await page.goto(`${ctx().run.url}/#/live/taxi`);
    await page.waitForSelector('#map[data-region="nyc"]', { timeout: 30000 });
    await waitAttr(page, '#map', 'data-trips-drawn', 'v > 0', 30000, 'trips on the map');
    await waitAttr(page, '#map', 'data-finished-total', 'v > 0', 30000, 'finished trips');
    const finished = await num(page, '#map', 'data-finished-total');
    const frames = await num(page, '#map', 'data-frames');
    await waitAttr(page, '#map', 'data-finished-total', `v > ${finished}`, 30000, 'more finished trips');
    await waitAttr(page, '#map', 'data-frames', `v > ${frames + 10}`, 10000, 'frames drawn');
    await waitAttr(page, '#latest', 'data-with-actual', 'v > 0', 30000, 'latest records with an actual');
    const maxMs = await num(page, '#map', 'data-frame-ms-max');
    assert.ok(maxMs < 100, `a map frame took ${maxMs} ms`);
    await shot(page, 'taxi-live');
  });

  test('a quality chart gains points', { timeout: 150000 }, async () => {
    const { page, run } = ctx();
    await page.goto(`${run.url}/#/quality/taxi`);
    await waitAttr(page, '#chart-metric', 'data-points', 'v > 0', 90000, 'RMSLE windows');
    const n = await num(page, '#chart-metric', 'data-points');
    await waitAttr(page, '#chart-metric', 'data-points', `v > ${n}`, 30000, 'a new RMSLE window');
    await waitAttr(page, '#chart-throughput', 'data-points', 'v > 1', 30000, 'throughput samples');
    await shot(page, 'taxi-quality');
  });

  test('the models page lists a version and shows a refused token', { timeout: 150000 }, async () => {
    const { page, run } = ctx();
    await page.goto(`${run.url}/#/models/taxi`);
    await waitAttr(page, '#models', 'data-rows', 'v > 0', 120000, 'model versions');
    const text = await page.textContent('#models tbody');
    assert.match(text, /v\d+/);
    assert.match(text, /active/);
    // A wrong admin token: the page says 401 and nothing changes.
    await page.evaluate(() => sessionStorage.setItem('flowcast.adminToken', 'wrong'));
    await page.click('#m-train');
    await page.waitForSelector('#token-dialog[open]', { timeout: 10000 });
    await page.fill('#token-input', 'still-wrong');
    await page.click('#token-ok');
    await page.waitForFunction(() => /401/.test(document.querySelector('#m-msg').textContent), null, { timeout: 10000 });
    assert.equal(await page.evaluate(() => sessionStorage.getItem('flowcast.adminToken')), null);
    await shot(page, 'taxi-models');
  });
});

suite('realty', 'examples/realty.yaml', (ctx) => {
  test('the live map shows listings by city', { timeout: 90000 }, async () => {
    const { page, run } = ctx();
    await page.goto(`${run.url}/#/live/realty`);
    await page.waitForSelector('#map[data-region="russia"]', { timeout: 30000 });
    await waitAttr(page, '#map', 'data-points-drawn', 'v > 0', 30000, 'cities on the map');
    await waitAttr(page, '#groups', 'data-rows', 'v > 0', 30000, 'the city table');
    const seen = await num(page, '#map', 'data-density-seen');
    await waitAttr(page, '#map', 'data-density-seen', `v > ${seen}`, 30000, 'more records seen');
    await shot(page, 'realty-live');
  });

  test('the quality and models pages render for realty', { timeout: 150000 }, async () => {
    const { page, run } = ctx();
    await page.goto(`${run.url}/#/quality/realty`);
    await waitAttr(page, '#chart-metric', 'data-points', 'v > 0', 120000, 'MAPE windows');
    await shot(page, 'realty-quality');
    await page.goto(`${run.url}/#/models/realty`);
    await waitAttr(page, '#models', 'data-rows', 'v > 0', 120000, 'model versions');
    await shot(page, 'realty-models');
  });

  test('the price form answers with a price and a model version', { timeout: 90000 }, async () => {
    const { page, run } = ctx();
    await page.goto(`${run.url}/#/price/realty`);
    await page.waitForSelector('#price-form[data-ready="true"]', { timeout: 30000 });
    // The form is generated from the dataset's fields: fill each one a person would.
    const apartment = {
      region: 'Москва', city: 'Москва', street: 'улица Ленина', rooms: '2', floor: '5', floors_total: '9',
      total_area: '54', kitchen_area: '9', building_type: 'panel', year_built: '1985', lat: '55.75', lon: '37.62',
      listed_at: '2021-05-01T10:00',
    };
    const names = await page.$$eval('#price-form [name]', (els) => Array.from(els, (e) => e.name));
    assert.ok(names.includes('city') && names.includes('total_area'), `form fields: ${names}`);
    assert.ok(!names.includes('price') && !names.includes('id'), 'the target and the key are not asked for');
    for (const n of names) if (apartment[n] !== undefined) await page.fill(`#price-form [name="${n}"]`, apartment[n]);
    await page.click('#price-submit');
    await page.waitForSelector('#price-result[data-model-version]', { timeout: 20000 });
    const price = Number(await page.getAttribute('#price-result', 'data-prediction'));
    const version = Number(await page.getAttribute('#price-result', 'data-model-version'));
    assert.ok(price > 0, `price ${price}`);
    assert.ok(Number.isInteger(version) && version >= 0, `model version ${version}`);
    assert.match(await page.textContent('#price-version'), /^v\d+$/);
    await shot(page, 'realty-price');
  });
});
