// Corral web UI: datacenter tree, CT page, Create CT, browser console.
// Talks only to corral-api, as the signed-in caller (bearer token kept in
// sessionStorage: this tab only).

const $ = (s) => document.querySelector(s);
const state = { token: sessionStorage.getItem('corral-token'), selected: null, term: null, ws: null, watch: null };

function banner(msg) {
  const b = $('#banner');
  b.textContent = msg;
  b.hidden = !msg;
  if (msg) setTimeout(() => { if (b.textContent === msg) b.hidden = true; }, 6000);
}

class ApiError extends Error {
  constructor(status, problem) { super(problem.detail || `HTTP ${status}`); this.status = status; this.problem = problem; }
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${state.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const err = new ApiError(res.status, data || {});
    if (res.status === 401) { signOut(`Not signed in: ${err.message}`); }
    throw err;
  }
  return data;
}

function describe(err) {
  if (err instanceof ApiError) {
    const kind = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not found', 409: 'Conflict', 503: 'Cluster unreachable' }[err.status] || `Error ${err.status}`;
    return `${kind}: ${err.message}`;
  }
  return String(err);
}

// ---- sign-in ----
function signOut(reason) {
  sessionStorage.removeItem('corral-token');
  state.token = null;
  $('#signin-error').textContent = reason || '';
  if (!$('#signin').open) $('#signin').showModal();
}

$('#signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  state.token = $('#token').value.trim();
  try {
    await api('GET', `/api/v1/tree${nsQuery()}`);
    sessionStorage.setItem('corral-token', state.token);
    $('#signin').close();
    start();
  } catch (err) {
    $('#signin-error').textContent = describe(err);
    if (!$('#signin').open) $('#signin').showModal();
  }
});
$('#signout').addEventListener('click', () => { stopWatch(); signOut(''); });

// ---- tree ----
const nsQuery = () => { const ns = $('#ns-filter').value.trim(); return ns ? `?namespace=${encodeURIComponent(ns)}` : ''; };

function guestItem(g) {
  const li = document.createElement('li');
  li.className = 'guest';
  li.dataset.ns = g.namespace; li.dataset.name = g.name; li.dataset.kind = g.kind;
  if (state.selected && state.selected.ns === g.namespace && state.selected.name === g.name) li.classList.add('selected');
  li.innerHTML = `<span class="dot ${g.status}"></span>`;
  li.append(`${g.kind === 'vm' ? '[vm] ' : ''}${g.name} `);
  const small = document.createElement('small'); small.textContent = `${g.namespace} · ${g.status}`; li.append(small);
  li.addEventListener('click', () => select(g.namespace, g.name, g.kind));
  return li;
}

// Long guest lists are virtualised: a scroll box as tall as every row, with
// only the rows in view (plus a margin) in the DOM, so 10,000 CTs cost a few
// dozen elements. Scroll positions survive the reloads the watch triggers.
const ROW_PX = 24;
const VIRTUAL_FROM = 200;
const scrollTops = new Map();
function guestList(key, guests) {
  const ul = document.createElement('ul');
  if (guests.length < VIRTUAL_FROM) { guests.forEach((g) => ul.append(guestItem(g))); return ul; }
  const box = document.createElement('div');
  box.className = 'vlist'; box.dataset.count = String(guests.length); box.dataset.key = key;
  const spacer = document.createElement('div');
  spacer.className = 'vlist-spacer'; spacer.style.height = `${guests.length * ROW_PX}px`;
  ul.className = 'vlist-rows';
  spacer.append(ul); box.append(spacer);
  let painted = -1;
  const paint = () => {
    const first = Math.max(0, Math.floor(box.scrollTop / ROW_PX) - 10);
    if (first === painted) return;
    painted = first;
    const last = Math.min(guests.length, first + Math.ceil((box.clientHeight || 600) / ROW_PX) + 20);
    ul.style.top = `${first * ROW_PX}px`;
    ul.replaceChildren(...guests.slice(first, last).map(guestItem));
  };
  box.addEventListener('scroll', () => { scrollTops.set(key, box.scrollTop); requestAnimationFrame(paint); });
  // Once attached: restore where the user was, then draw what is in view.
  requestAnimationFrame(() => { box.scrollTop = scrollTops.get(key) || 0; painted = -1; paint(); });
  paint();
  return box;
}

let treeLoading = null;
let treeAgain = false;
// At most one tree request at a time; changes that arrive meanwhile cause
// one more load when it finishes, not one each.
function loadTree() {
  if (treeLoading) { treeAgain = true; return treeLoading; }
  treeLoading = loadTreeNow().finally(() => {
    treeLoading = null;
    if (treeAgain) { treeAgain = false; loadTree(); }
  });
  return treeLoading;
}

async function loadTreeNow() {
  let tree;
  try { tree = await api('GET', `/api/v1/tree${nsQuery()}`); } catch (err) { banner(describe(err)); return; }
  const root = document.createElement('ul');
  const cluster = document.createElement('li');
  cluster.innerHTML = `<strong>${tree.cluster}</strong>`;
  const nodes = document.createElement('ul');
  for (const n of tree.nodes) {
    const li = document.createElement('li');
    li.innerHTML = `<span class="dot ${n.ready ? 'Running' : 'Failed'}"></span>${n.name}`;
    li.append(guestList(`node/${n.name}`, n.guests)); nodes.append(li);
  }
  const un = document.createElement('li');
  un.innerHTML = '<em>Stopped / not scheduled</em>';
  un.append(guestList('unscheduled', tree.unscheduled)); nodes.append(un);
  cluster.append(nodes); root.append(cluster);
  $('#tree').replaceChildren(root);
  if (state.selected && !state.term) showCt(state.selected.ns, state.selected.name, false);
}

// Live updates: a server-sent event stream fed by a watch; fetch (not
// EventSource) so the bearer token goes in a header.
function stopWatch() { if (state.watch) state.watch.abort(); state.watch = null; }
async function watch() {
  stopWatch();
  const ctl = new AbortController(); state.watch = ctl;
  while (!ctl.signal.aborted) {
    try {
      const res = await fetch(`/api/v1/watch${nsQuery()}`, { headers: { authorization: `Bearer ${state.token}` }, signal: ctl.signal });
      if (!res.ok) { await new Promise((r) => setTimeout(r, 3000)); continue; }
      const reader = res.body.getReader(); const dec = new TextDecoder(); let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i); buf = buf.slice(i + 2);
          if (ev.includes('data: changed')) loadTree();
        }
      }
    } catch (err) {
      if (ctl.signal.aborted) return;
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
}

// ---- CT page ----
function select(ns, name, kind) {
  closeConsole();
  state.selected = { ns, name, kind };
  document.querySelectorAll('.guest').forEach((el) => el.classList.toggle('selected', el.dataset.ns === ns && el.dataset.name === name));
  if (kind === 'vm') {
    $('#content').innerHTML = `<h2>VM ${ns}/${name}</h2><p>A KubeVirt VM: its serial console opens here; manage it with KubeVirt's tools.</p><div class="actions"><button id="btn-console">Console</button></div>`;
    $('#btn-console').onclick = () => openConsole(ns, name);
    return;
  }
  showCt(ns, name, true);
}

async function showCt(ns, name, replace) {
  let ct;
  try { ct = await api('GET', `/api/v1/namespaces/${ns}/cts/${name}`); } catch (err) {
    if (err.status === 404) { state.selected = null; $('#content').innerHTML = ''; return; }
    banner(describe(err)); return;
  }
  if (!replace && state.term) return;
  const c = $('#content');
  c.innerHTML = '';
  const h = document.createElement('h2'); h.textContent = `CT ${ct.namespace}/${ct.name}`; c.append(h);
  const dl = document.createElement('dl');
  const rows = [['Status', ct.reason ? `${ct.status} (${ct.reason})` : ct.status], ['Mode', ct.mode], ['Image', ct.image], ['CPU', ct.cpu], ['Memory', ct.memory], ['Disk', ct.disk],
    ['Node', ct.node || '-'], ['IP', ct.ip || '-'], ['Service', ct.service ? `${ct.service} (${ct.service_ip || '-'})` : '-'], ['Volume', `persistentvolumeclaim/${ct.volume}`]];
  for (const [k, v] of rows) { const dt = document.createElement('dt'); dt.textContent = k; const dd = document.createElement('dd'); dd.textContent = v; dd.dataset.key = k.toLowerCase(); dl.append(dt, dd); }
  c.append(dl);
  const actions = document.createElement('div'); actions.className = 'actions';
  const btn = (label, fn) => { const b = document.createElement('button'); b.textContent = label; b.id = `btn-${label.toLowerCase()}`; b.addEventListener('click', fn); actions.append(b); };
  btn('Start', () => act(ct, 'start'));
  btn('Stop', () => act(ct, 'stop'));
  btn('Console', () => openConsole(ct.namespace, ct.name));
  btn('Delete', () => del(ct));
  c.append(actions);
  const ev = document.createElement('table'); ev.className = 'events';
  ev.innerHTML = '<tr><th>Type</th><th>Reason</th><th>Object</th><th>Message</th></tr>';
  for (const e of ct.events) { const tr = document.createElement('tr'); for (const v of [e.type, e.reason, e.object, e.message]) { const td = document.createElement('td'); td.textContent = v; tr.append(td); } ev.append(tr); }
  c.append(ev);
}

async function act(ct, verb) {
  try { await api('POST', `/api/v1/namespaces/${ct.namespace}/cts/${ct.name}/${verb}`); await loadTree(); showCt(ct.namespace, ct.name, true); } catch (err) { banner(describe(err)); }
}

async function del(ct) {
  const typed = prompt(`Delete CT ${ct.namespace}/${ct.name}? Its volume and every file on it are deleted.\nType the CT's name to confirm:`);
  if (typed !== ct.name) { banner('Not deleted: the name did not match.'); return; }
  try { await api('DELETE', `/api/v1/namespaces/${ct.namespace}/cts/${ct.name}`); state.selected = null; $('#content').innerHTML = ''; loadTree(); } catch (err) { banner(describe(err)); }
}

// ---- console ----
function closeConsole() {
  if (state.ws) { state.ws.onclose = null; state.ws.close(); }
  if (state.term) state.term.dispose();
  state.ws = null; state.term = null;
  window.onresize = null;
}

async function openConsole(ns, name) {
  closeConsole();
  const c = $('#content');
  let ticket;
  try { ticket = await api('POST', '/api/v1/tty-tickets', { namespace: ns, name }); } catch (err) {
    c.insertAdjacentHTML('beforeend', '<p class="error" id="console-error"></p>');
    $('#console-error').textContent = err.status === 409 ? `${name} is not running — start it first. (${err.message})` : describe(err);
    return;
  }
  c.innerHTML = `<h2>Console ${ns}/${name}</h2><div class="actions"><button id="btn-back">Back</button><button id="btn-reconnect">Reconnect</button><span id="console-state"></span></div><div id="terminal"></div>`;
  $('#btn-back').onclick = () => { closeConsole(); const k = state.selected && state.selected.kind; if (k === 'vm') select(ns, name, 'vm'); else showCt(ns, name, true); };
  $('#btn-reconnect').onclick = () => openConsole(ns, name);
  const term = new Terminal({ convertEol: false, fontSize: 14 });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit); term.open($('#terminal')); fit.fit(); term.focus();
  state.term = term;
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${proto}://${location.host}/api/tty/${ns}/${name}?ticket=${ticket.ticket}`);
  ws.binaryType = 'arraybuffer';
  state.ws = ws;
  const sendSize = () => { if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows })); };
  ws.onopen = () => { $('#console-state').textContent = 'connected'; sendSize(); };
  ws.onmessage = (m) => {
    if (typeof m.data === 'string') { const msg = JSON.parse(m.data); $('#console-state').textContent = msg.type === 'exit' ? `session ended (exit ${msg.code})` : msg.type === 'closed' ? 'session ended (console closed)' : `error: ${msg.message}`; return; }
    term.write(new Uint8Array(m.data));
  };
  ws.onclose = () => { if (!/ended|error/.test($('#console-state').textContent)) $('#console-state').textContent = 'disconnected'; };
  const enc = new TextEncoder();
  term.onData((d) => { if (ws.readyState === 1) ws.send(enc.encode(d)); });
  term.onResize(sendSize);
  window.onresize = () => fit.fit();
}

// ---- create ----
$('#create-btn').addEventListener('click', () => {
  document.querySelectorAll('.field-error').forEach((e) => { e.textContent = ''; });
  $('#create-error').textContent = '';
  const ns = $('#ns-filter').value.trim(); if (ns) $('#create-form').elements['namespace'].value = ns;
  $('#create').showModal();
});
$('#create-cancel').addEventListener('click', () => $('#create').close());
$('#create-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target;
  document.querySelectorAll('.field-error').forEach((x) => { x.textContent = ''; });
  $('#create-error').textContent = '';
  const body = { name: f.elements['name'].value.trim(), image: f.elements['image'].value.trim(), cpu: f.elements['cpu'].value.trim() || null, memory: f.elements['memory'].value.trim() || null, disk: f.elements['disk'].value.trim() || null, privileged: f.elements['privileged'].checked };
  try {
    const ct = await api('POST', `/api/v1/namespaces/${encodeURIComponent(f.elements['namespace'].value.trim())}/cts`, body);
    $('#create').close();
    await loadTree();
    select(ct.namespace, ct.name, 'ct');
  } catch (err) {
    const field = err.problem && err.problem.field;
    const slot = field && document.querySelector(`.field-error[data-field="${field}"]`);
    if (slot) slot.textContent = err.message; else $('#create-error').textContent = describe(err);
  }
});

$('#ns-filter').addEventListener('change', () => { loadTree(); watch(); });

function start() {
  $('#create-btn').disabled = false;
  $('#signout').hidden = false;
  loadTree();
  watch();
}

if (state.token) start(); else signOut('');
