// The ifkit lab bench. Plain script, no build step: everything the page
// does goes through the HTTP gateway under /gw (package httpgw), and the
// interface's Markdown comes rendered from /api/docs.
'use strict';

const GW = '/gw';
const HISTORY = 200;      // tail rows kept on the page
const PLOT_POINTS = 600;  // points kept for the plot
const STATS_EVERY = 500;  // ms between two stats of the tail's connection
const CLOSED_SHOWN = 50;  // ended connections listed

// ---- small DOM helpers --------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else if (k === 'style') e.style.cssText = v; // CSSOM: allowed by the page's CSP, an attribute is not
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// html puts server-rendered Markdown in an element (goldmark without raw
// HTML: see markdown.go).
function html(tag, cls, markup) {
  const e = el(tag, { class: cls });
  e.innerHTML = markup;
  return e;
}

function pretty(v) { return JSON.stringify(v, null, 2); }

function errorText(e) {
  if (!e) return 'unknown error';
  let s = `${e.code || 'error'}${e.status ? ' (' + e.status + ')' : ''}: ${e.message || ''}`;
  if (e.pointer) s += ` [at ${e.pointer}]`;
  return s;
}

async function getJSON(path) {
  const res = await fetch(path, { headers: { Accept: 'application/json' } });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw Object.assign(new Error(body && body.error ? errorText(body.error) : res.statusText), { body });
  return body;
}

// ---- state --------------------------------------------------------------

const state = {
  ifaces: new Map(),   // name -> summary from GET /gw/
  current: null,       // the interface shown
  tail: null,          // the running tail
  tailConnID: 0,
  open: new Map(),     // connection id -> ConnEvent
  closed: [],
};

// ---- interfaces ---------------------------------------------------------

async function loadIfaces() {
  const idx = await getJSON(GW + '/');
  state.ifaces = new Map(idx.interfaces.map((s) => [s.name, s]));
  renderIfaceList();
  const want = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
  if (state.current) {
    const s = state.ifaces.get(state.current.name);
    if (!s) showGone(state.current.name);
    else if (s.manifest_hash !== state.current.hash) showIface(s.name, 'The manifest changed: this is the new one.');
  } else if (want && state.ifaces.has(want)) {
    showIface(want);
  }
}

function renderIfaceList() {
  const ul = document.getElementById('iface-list');
  ul.replaceChildren();
  if (state.ifaces.size === 0) ul.append(el('li', { class: 'muted' }, 'no interfaces'));
  for (const s of state.ifaces.values()) {
    const active = state.current && state.current.name === s.name;
    ul.append(el('li', { class: active ? 'active' : '' },
      el('a', { href: '#/' + s.name, 'data-iface': s.name },
        el('span', { class: 'name' }, s.name),
        el('span', { class: 'dir ' + s.direction }, s.direction),
        s.title ? el('span', { class: 'title' }, s.title) : null)));
  }
}

window.addEventListener('hashchange', () => {
  const name = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
  if (state.ifaces.has(name)) showIface(name);
});

function showGone(name) {
  stopTail();
  const main = document.getElementById('main');
  main.prepend(el('p', { class: 'banner bad' }, `${name} is no longer served: the server removed it.`));
  state.current = null;
}

async function showIface(name, banner) {
  stopTail();
  const main = document.getElementById('main');
  main.replaceChildren(el('p', { class: 'muted' }, 'loading ' + name + '…'));
  let manifest, openapi, docs;
  try {
    [manifest, openapi, docs] = await Promise.all([
      getJSON(`${GW}/${name}/manifest`), getJSON(`${GW}/${name}/openapi.json`), getJSON(`/api/docs/${name}`)]);
  } catch (err) {
    main.replaceChildren(el('p', { class: 'banner bad' }, `${name}: ${err.message}`));
    return;
  }
  const summary = state.ifaces.get(name);
  state.current = { name, hash: summary ? summary.manifest_hash : docs.manifest_hash };
  renderIfaceList();
  main.replaceChildren();
  if (banner) main.append(el('p', { class: 'banner' }, banner));
  main.append(renderDocs(manifest, docs, summary));
  const comps = (openapi.components && openapi.components.schemas) || {};
  const routes = new Map(((summary && summary.messages) || []).map((r) => [r.type, r]));
  const replies = new Set([...routes.values()].filter((r) => r.reply).map((r) => r.reply));
  const recv = Object.entries((manifest.messages && manifest.messages.recv) || {});
  const send = Object.entries((manifest.messages && manifest.messages.send) || {});
  if (summary && summary.links.stream && send.some(([t]) => !replies.has(t))) {
    main.append(renderTail(name, manifest, send.filter(([t]) => !replies.has(t)).map(([t]) => t)));
  }
  const types = el('section', { class: 'types' }, el('h2', {}, 'Messages'));
  for (const [t, def] of recv) types.append(renderType(name, t, def, 'recv', routes.get(t), comps, docs));
  for (const [t, def] of send) types.append(renderType(name, t, def, 'send', null, comps, docs, replies.has(t)));
  main.append(types);
  if (state.tail) state.tail.start();
}

// ---- documentation ------------------------------------------------------

function renderDocs(m, docs, summary) {
  const flow = m.flow || {};
  const sec = el('section', { class: 'docs card' },
    el('h2', {}, m.title || m.name),
    el('p', { class: 'meta' },
      el('code', { class: 'iname' }, m.name), ' ', el('span', { class: 'ver' }, 'v' + m.version), ' ',
      el('span', { class: 'dir ' + m.direction }, m.direction), ' ',
      el('span', { class: 'hash', title: docs.manifest_hash }, docs.manifest_hash.slice(0, 19) + '…')),
    docs.description ? html('div', 'md', docs.description) : el('p', { class: 'muted' }, 'No description.'),
    el('dl', { class: 'facts' },
      el('dt', {}, 'codecs'), el('dd', {}, (m.codecs || []).join(', ')),
      el('dt', {}, 'credits'), el('dd', {}, String(flow.credits)),
      el('dt', {}, 'max message'), el('dd', {}, `${flow.max_message_bytes} bytes`),
      el('dt', {}, 'without credit'), el('dd', {}, flow.on_exhausted || 'block'),
      el('dt', {}, 'control'), el('dd', {}, (m.control || []).length ? m.control.map((c) => el('span', { class: 'chip' }, c)) : 'none'),
      m.message_auth && m.message_auth !== 'none' ? [el('dt', {}, 'message auth'), el('dd', {}, m.message_auth)] : null,
      el('dt', {}, 'documents'), el('dd', {},
        el('a', { href: `${GW}/${m.name}/manifest`, target: '_blank' }, 'manifest'), ' · ',
        el('a', { href: `${GW}/${m.name}/openapi.json`, target: '_blank' }, 'OpenAPI'), ' · ',
        el('a', { href: `${GW}/${m.name}/asyncapi.json`, target: '_blank' }, 'AsyncAPI'))));
  if (m.metadata && Object.keys(m.metadata).length) {
    sec.append(el('details', {}, el('summary', {}, 'metadata'), el('pre', {}, pretty(m.metadata))));
  }
  return sec;
}

// resolve follows $refs into the OpenAPI components, keeping the outer
// node's description and examples.
function resolve(node, comps, depth = 0) {
  if (!node || typeof node !== 'object' || depth > 16) return node || {};
  if (node.$ref && node.$ref.startsWith('#/components/schemas/')) {
    const target = comps[node.$ref.slice('#/components/schemas/'.length)];
    const { $ref, ...rest } = node;
    return { ...resolve(target, comps, depth + 1), ...rest };
  }
  return node;
}

function typeName(s) {
  if (!s) return 'any';
  const t = Array.isArray(s.type) ? s.type.join(' | ') : s.type;
  if (s.enum) return 'enum';
  if (t === 'array' && s.items) return typeName(s.items) + '[]';
  return t || (s.properties ? 'object' : s.oneOf || s.anyOf ? 'one of' : 'any');
}

function renderType(iname, tname, def, dir, route, comps, docs, isReply) {
  const schema = resolve(comps[tname], comps);
  let kind = 'sent by the server';
  if (dir === 'send' && isReply) kind = 'a reply';
  if (route) kind = route.kind === 'request' ? `request → ${route.reply}` : route.kind === 'request_stream' ? `request → stream of ${route.reply}` : 'one-way message';
  const card = el('article', { class: 'type card', id: `type-${tname}` },
    el('h3', {}, el('span', { class: 'tname' }, tname), el('span', { class: 'kind ' + dir }, kind)),
    docs.types[tname] ? html('div', 'md', docs.types[tname]) : null,
    def.proto ? el('p', { class: 'muted small' }, 'protobuf ', el('code', {}, def.proto), ', as its JSON mapping') : null);
  const props = schema.properties ? Object.entries(schema.properties) : [];
  if (props.length) {
    const req = new Set(schema.required || []);
    card.append(el('table', { class: 'fields' },
      el('thead', {}, el('tr', {}, el('th', {}, 'field'), el('th', {}, 'type'), el('th', {}, 'description'))),
      el('tbody', {}, props.map(([k, p]) => {
        const r = resolve(p, comps);
        return el('tr', {}, el('td', {}, el('code', {}, k), req.has(k) ? el('span', { class: 'req', title: 'required' }, ' *') : null),
          el('td', {}, typeName(r), r.enum ? el('span', { class: 'muted small' }, ' ' + r.enum.join(' | ')) : null),
          el('td', {}, r.description || ''));
      }))));
  } else if (schema.type) {
    card.append(el('p', { class: 'small' }, 'value: ', el('code', {}, typeName(schema)), schema.description ? ' — ' + schema.description : ''));
  }
  const examples = def.examples || [];
  if (examples.length) {
    card.append(el('details', {}, el('summary', {}, `examples (${examples.length})`), examples.map((x) => el('pre', {}, pretty(x)))));
  }
  if (route) card.append(renderForm(iname, tname, route, schema, comps, examples));
  return card;
}

// ---- forms --------------------------------------------------------------

function fieldKind(s) {
  const t = Array.isArray(s.type) ? s.type.filter((x) => x !== 'null') : [s.type];
  if (s.enum) return 'enum';
  if (t.length === 1 && t[0] === 'boolean') return 'boolean';
  if (t.length === 1 && (t[0] === 'integer' || t[0] === 'number')) return 'number';
  if (t.length === 1 && t[0] === 'string') return 'string';
  if (t.includes('string') && t.includes('integer')) return 'int64';  // protojson's 64-bit integers
  return 'json';
}

function renderForm(iname, tname, route, schema, comps, examples) {
  const form = el('form', { class: 'msgform', 'data-type': tname, novalidate: true });
  const json = el('textarea', { class: 'json', name: 'json', rows: 4, spellcheck: 'false', 'aria-label': `${tname} as JSON` });
  const verdict = el('p', { class: 'verdict', 'aria-live': 'polite' });
  const out = el('div', { class: 'reply', 'aria-live': 'polite' });
  const inputs = new Map();
  const props = schema.properties ? Object.entries(schema.properties) : [];
  const req = new Set(schema.required || []);
  const grid = el('div', { class: 'grid' });
  for (const [k, p0] of props) {
    const p = resolve(p0, comps);
    const kind = fieldKind(p);
    let input;
    if (kind === 'enum') input = el('select', { name: k }, req.has(k) ? null : el('option', { value: '' }, '—'), p.enum.map((v) => el('option', { value: JSON.stringify(v) }, String(v))));
    else if (kind === 'boolean') input = el('input', { type: 'checkbox', name: k });
    else if (kind === 'json') input = el('textarea', { name: k, rows: 1, spellcheck: 'false', placeholder: 'JSON' });
    else input = el('input', { type: 'text', name: k, inputmode: kind === 'number' ? 'decimal' : null, placeholder: typeName(p), spellcheck: 'false' });
    inputs.set(k, { input, kind });
    grid.append(el('label', { class: 'field' }, el('span', {}, k, req.has(k) ? el('span', { class: 'req' }, ' *') : null), input));
  }
  // fromFields writes the JSON the fields make; toFields the other way.
  const fromFields = () => {
    let v = {};
    try { v = JSON.parse(json.value || '{}'); } catch { v = {}; }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) v = {};
    for (const [k, { input, kind }] of inputs) {
      const raw = kind === 'boolean' ? input.checked : input.value;
      delete v[k];
      if (kind === 'boolean') { if (raw || req.has(k)) v[k] = raw; continue; }
      if (raw === '') continue;
      if (kind === 'enum') v[k] = JSON.parse(raw);
      else if (kind === 'number') v[k] = /^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(raw) ? Number(raw) : raw;
      else if (kind === 'json') { try { v[k] = JSON.parse(raw); } catch { v[k] = raw; } }
      else v[k] = raw;
    }
    json.value = pretty(v);
  };
  const toFields = () => {
    let v;
    try { v = JSON.parse(json.value); } catch { return; }
    if (typeof v !== 'object' || v === null) return;
    for (const [k, { input, kind }] of inputs) {
      const x = v[k];
      if (kind === 'boolean') input.checked = !!x;
      else if (x === undefined) input.value = '';
      else if (kind === 'enum') input.value = JSON.stringify(x);
      else if (kind === 'json') input.value = JSON.stringify(x);
      else input.value = String(x);
    }
  };
  const fit = () => { json.rows = Math.min(12, Math.max(3, json.value.split('\n').length)); };
  json.value = pretty(examples.length ? examples[0] : (props.length ? {} : ''));
  toFields();
  fit();
  let timer = 0;
  const check = async () => {
    const body = json.value;
    for (const { input } of inputs.values()) input.classList.remove('invalid');
    json.classList.remove('invalid');
    const res = await fetch(`${GW}/${iname}/${tname}?validate`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    if (body !== json.value) return; // changed again since
    const ans = await res.json().catch(() => ({}));
    if (res.ok && ans.valid) {
      verdict.className = 'verdict good';
      verdict.textContent = '✓ valid: the server\'s check passes';
      return;
    }
    const e = ans.error || { message: res.statusText };
    verdict.className = 'verdict bad';
    verdict.textContent = '✗ the server refuses it: ' + errorText(e);
    const field = e.pointer ? decodeURIComponent(e.pointer.split('/')[1] || '') : '';
    (inputs.get(field) ? inputs.get(field).input : json).classList.add('invalid');
  };
  const changed = () => { clearTimeout(timer); timer = setTimeout(check, 250); };
  form.addEventListener('input', (ev) => {
    if (ev.target === json) toFields(); else fromFields();
    fit();
    changed();
  });
  const exampleButtons = examples.length > 1 ? examples.map((x, i) => el('button', { type: 'button', class: 'link', onclick: () => { json.value = pretty(x); toFields(); changed(); } }, `example ${i + 1}`)) : [];
  const label = route.kind === 'message' ? 'Send' : 'Call';
  form.append(
    el('h4', {}, `${label} ${tname}`, el('span', { class: 'muted small' }, ` POST ${GW}/${iname}/${tname}`)),
    props.length ? grid : null,
    el('label', { class: 'field wide' }, el('span', {}, 'JSON'), json),
    el('div', { class: 'row' }, el('button', { type: 'submit' }, label), exampleButtons, verdict),
    out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearTimeout(timer);
    check();
    await submit(iname, tname, route, json.value, out);
  });
  check();
  return form;
}

async function submit(iname, tname, route, body, out) {
  out.replaceChildren(el('p', { class: 'muted' }, 'waiting for the server…'));
  const started = performance.now();
  const stream = route.kind === 'request_stream';
  let res;
  try {
    res = await fetch(`${GW}/${iname}/${tname}`, {
      method: 'POST', body,
      headers: { 'Content-Type': 'application/json', Accept: stream ? 'application/x-ndjson' : 'application/json' },
    });
  } catch (err) {
    out.replaceChildren(el('p', { class: 'bad' }, 'the lab did not answer: ' + err.message));
    return;
  }
  const took = () => `${Math.round(performance.now() - started)} ms`;
  if (!res.ok) {
    const ans = await res.json().catch(() => ({}));
    out.replaceChildren(el('p', { class: 'bad refusal' }, '✗ refused: ' + errorText(ans.error || { status: res.status, message: res.statusText })),
      ans.refused ? el('pre', {}, pretty(ans.refused)) : null);
    return;
  }
  if (!stream) {
    const ans = await res.json().catch(() => null);
    const rtype = res.headers.get('Ifkit-Type');
    out.replaceChildren(el('p', { class: 'good' }, rtype ? `✓ ${rtype} in ${took()}` : `✓ sent in ${took()}`), el('pre', { class: 'answer' }, pretty(ans)));
    return;
  }
  const list = el('ol', { class: 'replies' });
  const head = el('p', { class: 'good' }, 'replies as they arrive…');
  out.replaceChildren(head, list);
  let n = 0;
  for await (const line of lines(res.body)) {
    let rec;
    try { rec = JSON.parse(line); } catch { continue; }
    if (rec.error) { out.append(el('p', { class: 'bad' }, '✗ the stream failed: ' + errorText(rec.error))); break; }
    n++;
    list.append(el('li', {}, el('span', { class: 'seq' }, `#${rec.seq} ${rec.type}`), el('code', {}, JSON.stringify(rec.value))));
  }
  head.textContent = `✓ ${n} ${route.reply} in ${took()}, then the end`;
}

// lines yields the lines of a streamed body as they arrive.
async function* lines(body) {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) yield line;
    }
  }
  if (buf.trim()) yield buf.trim();
}

// ---- live tail ----------------------------------------------------------

function renderTail(iname, manifest, types) {
  const filterFields = types.flatMap((t) => (manifest.messages.send[t].filter_fields || []));
  const sec = el('section', { class: 'tail card', id: 'tail' });
  const filter = el('input', { type: 'text', class: 'filter', placeholder: filterFields.length ? `a CEL filter, e.g. ${filterFields[0]} == "…"` : 'a CEL filter', spellcheck: 'false', 'aria-label': 'filter' });
  const filterMsg = el('span', { class: 'filter-msg', 'aria-live': 'polite' });
  const pause = el('button', { type: 'button', class: 'pause' }, 'Pause');
  const startStop = el('button', { type: 'button', class: 'secondary' }, 'Stop');
  const clear = el('button', { type: 'button', class: 'secondary' }, 'Clear');
  const count = el('span', { class: 'tail-count' }, '0 messages');
  const rows = el('tbody', {});
  const credits = el('div', { class: 'credits' });
  const fieldSel = el('select', { class: 'plot-field', 'aria-label': 'field to plot' });
  const canvas = el('canvas', { class: 'plot', width: 800, height: 170 });
  sec.append(
    el('h2', {}, 'Live tail ', el('span', { class: 'muted small' }, `GET ${GW}/${iname}/stream (WebSocket, the server's credits following this page)`)),
    el('form', { class: 'row filter-row', onsubmit: (ev) => { ev.preventDefault(); tail.setFilter(filter.value); } },
      filter, el('button', { type: 'submit' }, 'Filter'), filterMsg),
    el('div', { class: 'row' }, pause, startStop, clear, count),
    el('div', { class: 'tail-grid' },
      el('div', { class: 'credit-box' }, el('h3', {}, 'Credit window'), credits),
      el('div', { class: 'plot-box' }, el('h3', {}, 'Plot ', fieldSel), canvas)),
    el('div', { class: 'tail-rows' }, el('table', { class: 'records' },
      el('thead', {}, el('tr', {}, el('th', {}, 'seq'), el('th', {}, 'time'), el('th', {}, 'type'), el('th', {}, 'value'))), rows)));
  const tail = new Tail(iname, { filter, filterMsg, pause, startStop, count, rows, credits, fieldSel, canvas });
  clear.addEventListener('click', () => tail.clear());
  state.tail = tail;
  return sec;
}

class Tail {
  constructor(iname, ui) {
    this.iname = iname;
    this.ui = ui;
    this.total = 0;
    this.points = new Map();  // numeric field path -> [{t, v}]
    this.paused = false;
    this.ws = null;
    this.stats = null;
    ui.pause.addEventListener('click', () => this.togglePause());
    ui.startStop.addEventListener('click', () => (this.ws ? this.stop() : this.start()));
    ui.fieldSel.addEventListener('change', () => this.draw());
    this.renderCredits();
  }

  start() {
    if (this.ws) return;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${GW}/${this.iname}/stream`; // the window: ifctl lab --credits
    const ws = new WebSocket(url);
    this.ws = ws;
    this.ui.startStop.textContent = 'Stop';
    this.ui.pause.disabled = false;
    this.paused = false;
    this.ui.pause.textContent = 'Pause';
    ws.onopen = () => {
      this.control({ control: 'stats' });
      if (this.ui.filter.value.trim()) this.setFilter(this.ui.filter.value);
      this.timer = setInterval(() => this.control({ control: 'stats' }), STATS_EVERY);
    };
    ws.onmessage = (ev) => this.onMessage(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      clearInterval(this.timer);
      if (this.ws === ws) {
        this.ws = null;
        this.ui.startStop.textContent = 'Start';
        this.ui.pause.disabled = true;
        this.ui.filterMsg.className = 'filter-msg muted';
        this.ui.filterMsg.textContent = ev.code === 1000 ? 'the stream ended' : `the stream ended: ${ev.reason || ev.code}`;
      }
    };
  }

  stop() {
    if (!this.ws) return;
    const ws = this.ws;
    this.ws = null;
    clearInterval(this.timer);
    ws.close(1000, 'the lab page stopped the tail');
    this.ui.startStop.textContent = 'Start';
    this.ui.pause.disabled = true;
    state.tailConnID = 0;
  }

  control(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  setFilter(text) {
    this.ui.filterMsg.className = 'filter-msg muted';
    this.ui.filterMsg.textContent = 'asking the server…';
    this.control({ control: 'filter', filter: text.trim() });
  }

  togglePause() {
    this.control({ control: this.paused ? 'resume' : 'pause' });
  }

  clear() {
    this.total = 0;
    this.points.clear();
    this.ui.rows.replaceChildren();
    this.ui.count.textContent = '0 messages';
    this.draw();
  }

  onMessage(m) {
    if (m.control) return this.onControl(m);
    if (m.error) {
      this.ui.filterMsg.className = 'filter-msg bad';
      this.ui.filterMsg.textContent = '✗ ' + errorText(m.error);
      return;
    }
    this.total++;
    const now = Date.now();
    const tr = el('tr', {}, el('td', { class: 'seq' }, String(m.seq)), el('td', { class: 'muted' }, new Date(now).toLocaleTimeString([], { hour12: false })),
      el('td', {}, m.type), el('td', {}, el('code', {}, JSON.stringify(m.value))));
    this.ui.rows.prepend(tr);
    while (this.ui.rows.childElementCount > HISTORY) this.ui.rows.lastElementChild.remove();
    this.ui.count.textContent = `${this.total} messages${this.total > HISTORY ? ` (the last ${HISTORY} shown)` : ''}`;
    for (const [path, v] of numbers(m.value)) {
      let pts = this.points.get(path);
      if (!pts) {
        pts = [];
        this.points.set(path, pts);
        this.ui.fieldSel.append(el('option', { value: path }, path));
      }
      pts.push({ t: now, v });
      if (pts.length > PLOT_POINTS) pts.splice(0, pts.length - PLOT_POINTS);
    }
    this.scheduleDraw();
  }

  onControl(m) {
    if (m.error) {
      if (m.control === 'filter') {
        this.ui.filterMsg.className = 'filter-msg bad';
        this.ui.filterMsg.textContent = '✗ the server refuses the filter: ' + errorText(m.error);
      } else if (m.control !== 'stats') {
        this.ui.filterMsg.className = 'filter-msg bad';
        this.ui.filterMsg.textContent = `✗ ${m.control}: ${errorText(m.error)}`;
      }
      return;
    }
    switch (m.control) {
      case 'stats':
        this.stats = m.stats;
        state.tailConnID = m.stats.connection_id;
        this.paused = m.stats.paused;
        this.ui.pause.textContent = this.paused ? 'Resume' : 'Pause';
        this.renderCredits();
        markTailConn();
        break;
      case 'filter':
        this.ui.filterMsg.className = 'filter-msg good';
        this.ui.filterMsg.textContent = this.ui.filter.value.trim() ? '✓ the server filters' : '✓ no filter';
        break;
      case 'pause': case 'resume':
        this.paused = m.control === 'pause';
        this.ui.pause.textContent = this.paused ? 'Resume' : 'Pause';
        this.control({ control: 'stats' });
        break;
    }
  }

  renderCredits() {
    const s = this.stats;
    const box = this.ui.credits;
    if (!s) { box.replaceChildren(el('p', { class: 'muted' }, 'no stats yet')); return; }
    const inFlight = Math.max(0, s.sent_messages - s.delivered);
    // Read by this page, its credit not yet given back (the gateway gives
    // credit back in batches of half the window).
    const owed = Math.max(0, s.window - s.credits_held - inFlight);
    const scale = Math.max(s.window, s.credits_held + inFlight, s.queued, 1);
    const pct = (n) => `${(100 * n / scale).toFixed(1)}%`;
    box.replaceChildren(
      el('p', { class: 'bar-label' }, `the credit window: ${s.window} messages`),
      el('div', { class: 'bar', title: 'the credit window' },
        el('span', { class: 'seg granted', style: `width:${pct(s.credits_held)}` }),
        el('span', { class: 'seg inflight', style: `width:${pct(inFlight)}` }),
        el('span', { class: 'seg owed', style: `width:${pct(owed)}` })),
      el('p', { class: 'bar-label' }, 'the server\'s queue'),
      el('div', { class: 'bar', title: 'messages the server holds, waiting for credit' },
        el('span', { class: 'seg queued', style: `width:${pct(s.queued)}` })),
      el('dl', { class: 'nums' },
        el('dt', {}, el('i', { class: 'key granted' }), 'granted'), el('dd', { 'data-k': 'granted' }, String(s.credits_held)),
        el('dt', {}, el('i', { class: 'key inflight' }), 'in flight'), el('dd', { 'data-k': 'inflight' }, String(inFlight)),
        el('dt', {}, el('i', { class: 'key queued' }), 'queued'), el('dd', { 'data-k': 'queued' }, String(s.queued)),
        el('dt', {}, el('i', { class: 'key owed' }), 'returning'), el('dd', { 'data-k': 'owed' }, String(owed)),
        el('dt', {}, 'delivered'), el('dd', { 'data-k': 'delivered' }, String(s.delivered)),
        el('dt', {}, 'dropped'), el('dd', {}, String(s.dropped)),
        el('dt', {}, 'filtered out'), el('dd', {}, String(s.filtered_out)),
        el('dt', {}, 'state'), el('dd', { 'data-k': 'state' }, s.paused ? 'paused' : 'flowing')),
      el('p', { class: 'muted small' }, `connection ${s.connection_id}: granted is the credit the server holds, in flight what it sent that this page has not read yet, returning what the page read whose credit goes back with the next batch, queued what waits on the server for credit.`));
  }

  scheduleDraw() {
    if (this.drawing) return;
    this.drawing = true;
    requestAnimationFrame(() => { this.drawing = false; this.draw(); });
  }

  draw() {
    const c = this.ui.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || 800, h = c.clientHeight || 170;
    if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const pts = this.points.get(this.ui.fieldSel.value) || [];
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#667085';
    if (pts.length === 0) { g.fillText('a numeric field of the stream is plotted here as it arrives', 12, h / 2); return; }
    let lo = Infinity, hi = -Infinity;
    for (const p of pts) { lo = Math.min(lo, p.v); hi = Math.max(hi, p.v); }
    if (lo === hi) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.1; lo -= pad; hi += pad;
    const L = 48, R = 8, T = 8, B = 18;
    const t1 = pts[pts.length - 1].t, t0 = Math.min(pts[0].t, t1 - 10000);
    const x = (t) => L + (w - L - R) * (t - t0) / Math.max(1, t1 - t0);
    const y = (v) => T + (h - T - B) * (1 - (v - lo) / (hi - lo));
    g.strokeStyle = '#e4e7ec'; g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = lo + (hi - lo) * i / 4, yy = Math.round(y(v)) + 0.5;
      g.beginPath(); g.moveTo(L, yy); g.lineTo(w - R, yy); g.stroke();
      g.fillText(fmt(v), 4, yy + 4);
    }
    g.fillText(`${Math.round((t1 - t0) / 1000)} s`, L, h - 4);
    g.fillText('now', w - R - 22, h - 4);
    g.strokeStyle = '#2563eb'; g.lineWidth = 2; g.beginPath();
    pts.forEach((p, i) => (i ? g.lineTo(x(p.t), y(p.v)) : g.moveTo(x(p.t), y(p.v))));
    g.stroke();
    const last = pts[pts.length - 1];
    g.fillStyle = '#2563eb'; g.beginPath(); g.arc(x(last.t), y(last.v), 3, 0, 7); g.fill();
    g.fillText(fmt(last.v), Math.min(x(last.t) - 30, w - 60), Math.max(12, y(last.v) - 8));
  }
}

function fmt(v) { return Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(4)).toString(); }

// numbers lists the numeric fields of a value, by path (two levels deep).
function numbers(v, prefix = '', depth = 0) {
  const out = [];
  if (typeof v === 'number' && isFinite(v)) out.push([prefix || 'value', v]);
  else if (v && typeof v === 'object' && !Array.isArray(v) && depth < 2) {
    for (const [k, x] of Object.entries(v)) out.push(...numbers(x, prefix ? `${prefix}.${k}` : k, depth + 1));
  }
  return out;
}

function stopTail() {
  if (state.tail) state.tail.stop();
  state.tail = null;
}

// ---- connection monitor -------------------------------------------------

function onEvent(ev) {
  switch (ev.event) {
    case 'snapshot':
      state.open = new Map((ev.open || []).map((c) => [c.connection_id, c]));
      state.closed = ev.closed || [];
      setStatus('good', `connected${document.body.dataset.server ? ' to ' + document.body.dataset.server : ''}`);
      loadIfaces().catch((err) => setStatus('bad', err.message));
      break;
    case 'connection_opened':
      state.open.set(ev.connection_id, { connection_id: ev.connection_id, interface: ev.interface, client: ev.client, codec: ev.codec, opened: ev.time });
      break;
    case 'connection_closed': {
      const c = state.open.get(ev.connection_id) || { connection_id: ev.connection_id, interface: ev.interface };
      state.open.delete(ev.connection_id);
      state.closed.push({ ...c, closed: ev.time, code: ev.code, reason: ev.reason });
      if (state.closed.length > CLOSED_SHOWN) state.closed.splice(0, state.closed.length - CLOSED_SHOWN);
      break;
    }
    case 'interfaces_changed': case 'manifest_changed':
      loadIfaces().catch((err) => setStatus('bad', err.message));
      break;
    case 'session_ended':
      state.open.clear();
      setStatus('bad', 'the lab lost the server: ' + (ev.reason || 'session ended') + '; dialling again');
      break;
    case 'session_started':
      setStatus('good', 'connected again');
      loadIfaces().catch(() => {});
      break;
    case 'draining':
      setStatus('wait', 'the server is draining (shutting down)');
      break;
    case 'notifications_lost':
      setStatus('wait', ev.reason);
      break;
  }
  renderConns();
}

function renderConns() {
  const tbody = document.getElementById('conn-open');
  tbody.replaceChildren(...[...state.open.values()].map((c) =>
    el('tr', { 'data-conn': c.connection_id, class: c.connection_id === state.tailConnID ? 'mine' : '' },
      el('td', {}, String(c.connection_id)), el('td', {}, c.interface), el('td', { class: 'muted' }, c.client || ''))));
  if (state.open.size === 0) tbody.append(el('tr', {}, el('td', { colspan: 3, class: 'muted' }, 'none')));
  document.getElementById('conn-count').textContent = `${state.open.size} open`;
  const ol = document.getElementById('conn-closed');
  ol.replaceChildren(...state.closed.slice().reverse().map((c) =>
    el('li', { 'data-conn': c.connection_id },
      el('div', {}, el('b', {}, `#${c.connection_id}`), ' ', c.interface, ' ', el('span', { class: 'code ' + (c.code === 'normal_close' ? 'ok' : 'err') }, c.code || '?')),
      c.reason ? el('div', { class: 'reason' }, c.reason) : null)));
}

function markTailConn() {
  for (const tr of document.querySelectorAll('#conn-open tr[data-conn]')) tr.classList.toggle('mine', Number(tr.dataset.conn) === state.tailConnID);
}

function setStatus(kind, text) {
  const s = document.getElementById('status');
  s.className = 'status ' + kind;
  s.textContent = text;
}

function follow() {
  const es = new EventSource(GW + '/_events');
  for (const name of ['snapshot', 'connection_opened', 'connection_closed', 'interfaces_changed', 'manifest_changed', 'session_ended', 'session_started', 'draining', 'notifications_lost']) {
    es.addEventListener(name, (m) => onEvent(JSON.parse(m.data)));
  }
  es.addEventListener('error', (m) => {
    if (m.data) { try { setStatus('bad', errorText(JSON.parse(m.data).error)); } catch { /* not ours */ } }
    else if (es.readyState !== EventSource.OPEN) setStatus('bad', 'the lab does not answer; trying again');
  });
}

follow();
