// End-to-end tests of the lab bench in headless Chromium: `ifctl serve
// --mock` on the example manifests, `ifctl lab` in front of it, and the
// page driven as a person would. Run from this folder with `npm test`
// after building ifctl into .bin/ (.ci/run does both). With LAB_SCREENSHOT
// set, the screenshot is also written there (the README's is made so:
// LAB_SCREENSHOT=../../../../docs/lab-bench.png npm test).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, copyFileSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../../..');
const ifctl = process.env.IFCTL || join(here, '.bin', 'ifctl');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT = 30_000; // a wait, not a measure: the machine is shared

const examples = ['blob.stream', 'db.kv', 'events.topic', 'http.api', 'jobs.queue', 'logs.sink', 'sensors.temperature'];
const procs = [];
let tmp, labURL, context, page, server;

// live is an interface whose manifest the tests change while it is served.
const live = (version, title) => `ifkit: 1
name: lab.live
version: ${version}
title: ${title}
direction: recv
messages:
  recv:
    Note: {schema: {type: object, required: [text], properties: {text: {type: string}}}, examples: [{text: hi}]}
`;
const pageErrors = [];

// start runs ifctl and resolves with the last word of the first stdout
// line that starts with prefix.
function start(args, prefix) {
  const p = spawn(ifctl, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  let stderr = '';
  p.stderr.on('data', (d) => { stderr += d; });
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`ifctl ${args[0]} printed no "${prefix}" line; stderr:\n${stderr}`)), WAIT);
    p.on('exit', (code) => fail(new Error(`ifctl ${args[0]} exited ${code}; stderr:\n${stderr}`)));
    createInterface({ input: p.stdout }).on('line', (line) => {
      if (line.startsWith(prefix)) { clearTimeout(timer); ok(line.trim().split(/\s+/).pop()); }
    });
  });
}

before(async () => {
  assert.ok(existsSync(ifctl), `no ifctl at ${ifctl}: build it with go build -o ${ifctl} ./cmd/ifctl`);
  assert.ok(existsSync(chromiumPath), `no Chromium at ${chromiumPath}: apt-get install chromium`);
  tmp = mkdtempSync(join(tmpdir(), 'ifkit-lab-'));
  const manifests = readdirSync(join(repo, 'internal/examples/manifests')).filter((f) => /\.(ya?ml|json)$/.test(f)).map((f) => 'internal/examples/manifests/' + f);
  writeFileSync(join(tmp, 'live.yaml'), live('1.0.0', 'Live one'));
  manifests.push(join(tmp, 'live.yaml'));
  const addr = await start(['serve', ...manifests, '--listen', `unix://${join(tmp, 's.sock')}`, '--mock', '--rate', '20/s', '-q'], 'listening on ');
  server = procs[procs.length - 1];
  labURL = await start(['lab', addr, '--http', '127.0.0.1:0'], 'lab bench for ');
  context = await chromium.launchPersistentContext(join(tmp, 'chromium'), {
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  });
  context.setDefaultTimeout(WAIT);
  page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
});

after(async () => {
  if (context) await context.close();
  await Promise.all(procs.map((p) => new Promise((ok) => {
    if (p.exitCode !== null) return ok();
    p.on('exit', ok);
    p.kill('SIGINT');
  })));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// open shows an interface, as a click in the list does.
async function open(name) {
  await page.goto(`${labURL}/#/${name}`);
  await page.locator('#main .docs code.iname', { hasText: name }).waitFor();
}

test('lists every example interface and renders its documentation', async () => {
  await page.goto(labURL + '/');
  for (const name of examples) await page.locator(`#iface-list a[data-iface="${name}"]`).waitFor();
  await page.locator('#status.good').waitFor();
  await page.click('#iface-list a[data-iface="sensors.temperature"]');
  const docs = page.locator('#main .docs');
  await docs.locator('h2', { hasText: 'Greenhouse temperature readings' }).waitFor();
  // The Markdown description, rendered.
  assert.equal(await docs.locator('.md strong').first().textContent(), 'one per probe per second');
  assert.match(await docs.locator('.hash').getAttribute('title'), /^sha256:[0-9a-f]{64}$/);
  assert.match(await docs.locator('.facts').textContent(), /drop_oldest/);
  // The message type, with its fields from the protobuf message.
  const reading = page.locator('#type-Reading');
  await reading.locator('table.fields code', { hasText: 'celsius' }).waitFor();
  await reading.locator('table.fields code', { hasText: 'zone' }).waitFor();
  // Every example interface's documents load.
  for (const name of examples) {
    await open(name);
    assert.ok(await page.locator('#main .docs .facts').isVisible(), name);
  }
});

test('a form makes a call and shows the reply; a stream call its replies as they come', async () => {
  await open('db.kv');
  const get = page.locator('form.msgform[data-type="Get"]');
  await get.locator('.verdict.good').waitFor();
  await get.locator('input[name="key"]').fill('config/greenhouse/north');
  await get.locator('button[type="submit"]').click();
  await get.locator('.reply .good', { hasText: 'Value' }).waitFor();
  const answer = JSON.parse(await get.locator('.reply pre.answer').textContent());
  assert.equal(typeof answer, 'object');
  assert.ok('found' in answer || 'key' in answer, JSON.stringify(answer));

  const scan = page.locator('form.msgform[data-type="Scan"]');
  await scan.locator('button[type="submit"]').click();
  await scan.locator('.reply .good', { hasText: 'then the end' }).waitFor();
  assert.ok(await scan.locator('.reply ol.replies li').count() >= 1);
  assert.match(await scan.locator('.reply ol.replies li').first().textContent(), /#1 Row/);

  // A one-way message.
  await open('logs.sink');
  const rec = page.locator('form.msgform[data-type="Record"]');
  await rec.locator('input[name="message"]').waitFor();
  await rec.locator('.verdict.good').waitFor();
  await rec.locator('button[type="submit"]').click();
  await rec.locator('.reply .good', { hasText: 'sent' }).waitFor();
  assert.match(await rec.locator('.reply pre.answer').textContent(), /"sent": 1/);
});

test('an invalid value is refused with the server\'s reason', async () => {
  await open('db.kv');
  const get = page.locator('form.msgform[data-type="Get"]');
  await get.locator('.verdict.good').waitFor();
  const bad = '{"key": 5}';
  await get.locator('textarea.json').fill(bad);
  const verdict = get.locator('.verdict.bad');
  await verdict.waitFor();
  // The reason is the server's own: what the gateway answers the same POST.
  const res = await fetch(`${labURL}/gw/db.kv/Get`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: bad });
  const { error } = await res.json();
  assert.equal(res.status, 400);
  assert.equal(error.code, 'invalid_message');
  assert.match(await verdict.textContent(), /the server refuses it: invalid_message/);
  assert.ok((await verdict.textContent()).includes(error.message), `${await verdict.textContent()} lacks ${error.message}`);
  await get.locator('button[type="submit"]').click();
  const refusal = get.locator('.reply .refusal');
  await refusal.waitFor();
  assert.ok((await refusal.textContent()).includes(error.message));
  assert.match(await refusal.textContent(), /invalid_message \(400\)/);
  // A field of the wrong kind in a JSON Schema type: its input is marked.
  await open('logs.sink');
  const rec = page.locator('form.msgform[data-type="Record"]');
  await rec.locator('.verdict.good').waitFor();
  await rec.locator('input[name="trace_id"]').fill('not-a-trace-id');
  await rec.locator('.verdict.bad').waitFor();
  assert.match(await rec.locator('.verdict.bad').textContent(), /invalid_message.*\/trace_id/);
  await rec.locator('input[name="trace_id"].invalid').waitFor();
  await rec.locator('input[name="trace_id"]').fill('');
  await rec.locator('.verdict.good').waitFor();
});

// shown returns the tail's message count.
async function shown() {
  const text = await page.locator('#tail .tail-count').textContent();
  return Number(text.split(' ')[0]);
}

async function grows(from, by = 3) {
  await page.waitForFunction(([n]) => Number(document.querySelector('#tail .tail-count').textContent.split(' ')[0]) >= n, [from + by], { timeout: WAIT });
}

test('the tail grows, filters on the server, pauses and resumes, shows credits and a plot', async () => {
  await open('sensors.temperature');
  const tail = page.locator('#tail');
  await grows(0);
  const n = await shown();
  await grows(n);
  // The credit window, from the stream's connection's stats.
  await tail.locator('.credits dd[data-k="granted"]').waitFor();
  await tail.locator('.credits dd[data-k="state"]', { hasText: 'flowing' }).waitFor();
  // The tail's connection in the monitor, marked as this page's.
  await page.locator('#conn-open tr.mine').waitFor();
  // A filter the server cannot compile: its reason.
  await tail.locator('input.filter').fill('zone ==');
  await tail.locator('.filter-row button[type="submit"]').click();
  await tail.locator('.filter-msg.bad', { hasText: 'invalid_filter' }).waitFor();
  // One it can: from then on only the north zone's readings.
  await tail.locator('input.filter').fill('zone == "north"');
  await tail.locator('.filter-row button[type="submit"]').click();
  await tail.locator('.filter-msg.good').waitFor();
  await tail.locator('button', { hasText: 'Clear' }).click();
  await grows(0, 4);
  const zones = await tail.locator('table.records tbody td code').allTextContents();
  // Those sent before the filter came first; the newest are north.
  assert.ok(zones.slice(0, 3).every((z) => z.includes('"zone":"north"')), zones.slice(0, 3).join('\n'));
  // Pause: the server holds what it would send.
  await tail.locator('button.pause').click();
  await tail.locator('.credits dd[data-k="state"]', { hasText: 'paused' }).waitFor();
  await page.waitForFunction(() => Number(document.querySelector('#tail .credits dd[data-k="queued"]').textContent) > 0, null, { timeout: WAIT });
  // Resume: it flows again.
  await tail.locator('button.pause', { hasText: 'Resume' }).click();
  await tail.locator('.credits dd[data-k="state"]', { hasText: 'flowing' }).waitFor();
  await grows(await shown());
  // The plot has the numeric fields to choose from.
  const fields = await tail.locator('select.plot-field option').allTextContents();
  assert.ok(fields.includes('celsius'), fields.join(','));
  await tail.locator('input.filter').fill('');
  await tail.locator('.filter-row button[type="submit"]').click();
  await tail.locator('.filter-msg.good', { hasText: 'no filter' }).waitFor();
  await grows(await shown(), 12);
  const shot = join(tmp, 'lab.png');
  await page.setViewportSize({ width: 1280, height: 1080 });
  await grows(await shown(), 2);
  await page.screenshot({ path: shot });
  await page.setViewportSize({ width: 1280, height: 860 });
  assert.ok(statSync(shot).size > 10_000);
  if (process.env.LAB_SCREENSHOT) copyFileSync(shot, resolve(process.env.LAB_SCREENSHOT));
});

test('the connection monitor shows why a connection ended', async () => {
  await open('sensors.temperature');
  await page.locator('#conn-open tr.mine').waitFor();
  const id = await page.locator('#conn-open tr.mine').getAttribute('data-conn');
  await page.locator('#tail button', { hasText: 'Stop' }).click();
  const ended = page.locator(`#conn-closed li[data-conn="${id}"]`);
  await ended.waitFor();
  assert.match(await ended.locator('.code').textContent(), /normal_close/);
  assert.match(await ended.locator('.reason').textContent(), /WebSocket client closed/);
});

test('the page follows the server: a manifest that changes is shown anew', async () => {
  await open('lab.live');
  await page.locator('#main .docs h2', { hasText: 'Live one' }).waitFor();
  writeFileSync(join(tmp, 'live.yaml'), live('1.1.0', 'Live two'));
  server.kill('SIGHUP'); // ifctl serve reloads its manifest files
  await page.locator('#iface-list a[data-iface="lab.live"] .title', { hasText: 'Live two' }).waitFor();
  await page.locator('#main .banner', { hasText: 'The manifest changed' }).waitFor();
  await page.locator('#main .docs h2', { hasText: 'Live two' }).waitFor();
  assert.match(await page.locator('#main .docs .ver').textContent(), /v1\.1\.0/);
});

test('the page threw no error', () => {
  assert.deepEqual(pageErrors, []);
});
