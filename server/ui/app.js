// igor's web client: a pure function of the schema igord publishes, as the CLI is.
//
// The page knows the API's fixed routes (login, logout, schema, rpc) and nothing about the
// commands: its navigation comes from the schema's topics, each command's form from its
// parameter JSON Schema, and each result view from its output schema. The default version
// of a command is the highest the schema offers, and a fingerprint header that differs from
// the one the page holds makes it fetch the schema again. The token lives in
// sessionStorage (never a cookie) and goes with every call as a bearer token; every text
// from the server goes into the page as text, never as markup.
'use strict';

const S = {
  token: sessionStorage.getItem('igor.token'),
  user: sessionStorage.getItem('igor.user'),
  role: sessionStorage.getItem('igor.role'),
  schema: null,
  fp: null,
  cmds: new Map(),
};

// ---- DOM helpers ------------------------------------------------------------------------

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid != null) e.append(kid.nodeType ? kid : document.createTextNode(String(kid)));
  }
  return e;
}
const $ = (sel) => document.querySelector(sel);

// Replaces an element's children; arrays are flattened and nulls left out.
function put(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k != null));
}

// ---- the API --------------------------------------------------------------------------

async function api(path, opts = {}) {
  const headers = {};
  if (S.token) headers.Authorization = 'Bearer ' + S.token;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, {
    method: opts.method || 'GET',
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    cache: 'no-store',
    credentials: 'omit',
  });
  const fp = r.headers.get('Igor-Schema-Fingerprint');
  if (fp && S.fp && fp !== S.fp) {
    // The server's schema changed under us (an upgrade): learn it again.
    S.fp = null;
    loadSchema().then(route);
  }
  if (r.status === 401 && S.token && path !== '/api/login') {
    forget();
    showLogin('Your session ended: log in again.');
    throw new Error('not logged in');
  }
  return r;
}

async function errorOf(r) {
  try {
    const j = await r.json();
    return j.error ? j.error.message : `HTTP ${r.status}`;
  } catch {
    return `HTTP ${r.status}`;
  }
}

// Calls a command version. Streamed answers (NDJSON) are read as they come: `onItem` gets
// each item; the whole answer is {result: [items], summary}.
async function rpc(command, params, onItem) {
  const r = await api('/api/rpc', { method: 'POST', body: { command, params } });
  if (!r.ok) throw new Error(await errorOf(r));
  if (!(r.headers.get('Content-Type') || '').includes('ndjson')) return r.json();
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  const items = [];
  let buf = '';
  let summary = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      const o = JSON.parse(line);
      if ('item' in o) {
        items.push(o.item);
        if (onItem) onItem(o.item);
      } else if (o.done) {
        summary = o.summary || '';
      }
    }
  }
  return { result: items, summary, streamed: true };
}

async function loadSchema() {
  const headers = {};
  if (S.fp) headers['If-None-Match'] = `"${S.fp}"`;
  const r = await fetch('/api/schema', { headers, cache: 'no-store', credentials: 'omit' });
  if (r.status === 304) return;
  if (!r.ok) throw new Error('the server publishes no schema: ' + (await errorOf(r)));
  S.schema = await r.json();
  S.fp = S.schema.fingerprint;
  S.cmds = new Map();
  for (const c of S.schema.commands) {
    const cur = S.cmds.get(c.name);
    if (!cur || c.version > cur.version) S.cmds.set(c.name, c);
  }
}

const cmd = (name) => S.cmds.get(name);

// ---- JSON Schema ----------------------------------------------------------------------

function deref(root, s) {
  while (s && s.$ref) {
    const path = s.$ref.replace(/^#\//, '').split('/');
    s = path.reduce((o, k) => (o ? o[k] : undefined), root);
  }
  return s || {};
}

// The schema of a value that may be null, without the null.
function nonNull(root, s) {
  s = deref(root, s);
  for (const key of ['anyOf', 'oneOf']) {
    if (Array.isArray(s[key])) {
      const rest = s[key].filter((x) => deref(root, x).type !== 'null');
      if (rest.length === 1) return { ...deref(root, rest[0]), description: s.description, default: s.default };
    }
  }
  if (Array.isArray(s.type)) {
    const t = s.type.filter((x) => x !== 'null');
    if (t.length === 1) return { ...s, type: t[0] };
  }
  return s;
}

// ---- forms ----------------------------------------------------------------------------

function field(root, name, prop, required) {
  const s = nonNull(root, prop);
  const id = 'f-' + name;
  const doc = (prop.description || s.description || '').split('\n')[0];
  const label = h('label', { for: id }, name.replace(/_/g, ' ') + (required ? ' *' : ''));
  const hint = doc ? h('p', { class: 'hint', id: id + '-hint' }, doc) : null;
  const common = { id, name, 'aria-describedby': doc ? id + '-hint' : null };
  let input;
  // An enum written as documented constants (oneOf of const) is an enum all the same.
  const consts = Array.isArray(s.oneOf) && s.oneOf.every((x) => 'const' in deref(root, x))
    ? s.oneOf.map((x) => deref(root, x).const) : null;
  if (consts) s.enum = consts;
  if (Array.isArray(s.enum)) {
    input = h('select', common, required ? null : h('option', { value: '' }, ''),
      s.enum.map((v) => h('option', { value: v, selected: s.default === v }, v)));
  } else if (s.type === 'boolean') {
    input = h('input', { ...common, type: 'checkbox', checked: s.default === true });
  } else if (s.type === 'integer' || s.type === 'number') {
    input = h('input', { ...common, type: 'number', min: s.minimum, max: s.maximum,
      required, placeholder: s.default != null ? String(s.default) : null });
  } else if (s.type === 'array') {
    input = h('input', { ...common, required, placeholder: 'several: separate with spaces' });
    input.dataset.list = '1';
  } else {
    const secret = prop['x-igor-sensitive'] || s['x-igor-sensitive'];
    input = h('input', { ...common, type: secret ? 'password' : 'text', required,
      autocomplete: secret ? 'new-password' : 'off', maxlength: s.maxLength,
      placeholder: s.default != null ? String(s.default) : null });
  }
  input.dataset.kind = s.type || '';
  return [label, hint, input];
}

// A form for command version `c`; `fixed` holds parameters given by the page (a machine).
function commandForm(c, fixed, onResult) {
  const root = c.params;
  const props = root.properties || {};
  const required = new Set(root.required || []);
  const names = Object.keys(props).filter((n) => !(n in (fixed || {})));
  // Positional parameters first, in their order, then the rest.
  const pos = (n) => props[n]['x-igor-positional'] ?? 1000;
  names.sort((a, b) => pos(a) - pos(b));
  const out = h('div', { class: 'result' });
  const form = h('form', { 'aria-label': c.full_name },
    names.map((n) => field(root, n, props[n], required.has(n))),
    h('button', { type: 'submit' }, 'Run ' + c.full_name));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const params = { ...(fixed || {}) };
    for (const n of names) {
      const el = form.elements[n];
      if (el.type === 'checkbox') {
        if (el.checked) params[n] = true;
      } else if (el.value !== '') {
        if (el.dataset.list) {
          const items = el.value.split(/[\s,]+/).filter(Boolean);
          const it = nonNull(root, nonNull(root, props[n]).items || {});
          params[n] = it.type === 'integer' ? items.map(Number) : items;
        } else if (el.dataset.kind === 'integer' || el.dataset.kind === 'number') {
          params[n] = Number(el.value);
        } else {
          params[n] = el.value;
        }
      }
      // A secret is sent once and never kept on the page.
      if (el.type === 'password') el.value = '';
    }
    put(out, h('p', { class: 'summary' }, 'Running…'));
    try {
      const r = await showResult(out, c, params);
      if (onResult) onResult(r);
    } catch (e) {
      put(out, h('p', { class: 'error', role: 'alert' }, e.message));
    }
  });
  return h('div', {}, form, out);
}

// ---- results --------------------------------------------------------------------------

function cell(v) {
  if (v == null) return '';
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object')) return v.join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// The columns an output schema names for tables (`x-igor-columns`), wherever in it they are
// (a list's items, a bulk item's result).
function namedColumns(root, s, seen = new Set()) {
  s = deref(root, s);
  if (!s || typeof s !== 'object' || seen.has(s)) return null;
  seen.add(s);
  if (Array.isArray(s['x-igor-columns'])) return s['x-igor-columns'];
  for (const v of Object.values(s)) {
    if (v && typeof v === 'object') {
      const found = Array.isArray(v)
        ? v.map((x) => namedColumns(root, x, seen)).find(Boolean)
        : namedColumns(root, v, seen);
      if (found) return found;
    }
  }
  return null;
}

function columnsOf(c, rows) {
  const named = namedColumns(c.output, c.output);
  if (named) return named;
  const cols = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  return cols;
}

function table(cols, rows, extra) {
  const body = h('tbody', {}, rows.map((r, i) =>
    h('tr', {}, cols.map((k) => h('td', { class: k === 'power' ? 'power-' + r[k] : null }, cell(r[k]))),
      extra ? h('td', {}, extra(r, i)) : null)));
  return h('div', { class: 'table-wrap' },
    h('table', {}, h('thead', {}, h('tr', {}, cols.map((k) => h('th', { scope: 'col' }, k)),
      extra ? h('th', { scope: 'col' }, h('span', { class: 'hint' }, 'actions')) : null)), body));
}

// The rows of one bulk item: its machine's result, or its error.
function itemRows(item) {
  if (!item.ok) return [{ machine: item.machine, error: item.error ? item.error.message : 'failed' }];
  const r = item.result;
  if (Array.isArray(r)) return r.map((x) => (typeof x === 'object' ? { machine: item.machine, ...x } : { machine: item.machine, value: x }));
  if (r && typeof r === 'object') return [{ machine: item.machine, ...r }];
  return [{ machine: item.machine, result: r }];
}

// A bulk command streams one item per machine ({machine, ok, result, error}); other
// streams (audit-find's records) stream their rows as they are. The output schema says which.
function isBulk(c) {
  const p = deref(c.output, c.output).properties || {};
  return 'machine' in p && 'ok' in p && 'result' in p;
}

async function showResult(out, c, params, extra) {
  if (c.stream) {
    const rows = [];
    const named = namedColumns(c.output, c.output);
    const bulk = isBulk(c);
    const render = () => {
      const all = rows.length ? [...new Set(rows.flatMap(Object.keys))] : [];
      const cols = !named ? all
        : bulk ? ['machine', ...named.filter((k) => k !== 'machine'), ...(all.includes('error') ? ['error'] : [])]
          : named;
      put(out, table(cols, rows, extra));
    };
    const r = await rpc(c.full_name, params, (item) => {
      if (bulk) rows.push(...itemRows(item));
      else rows.push(item && typeof item === 'object' ? item : { value: item });
      render();
    });
    render();
    out.append(h('p', { class: 'summary' }, r.summary));
    return r;
  }
  const r = await rpc(c.full_name, params);
  const v = r.result;
  if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === 'object')) {
    put(out, table(columnsOf(c, v), v, extra));
  } else if (Array.isArray(v)) {
    put(out, v.length ? h('pre', {}, v.map(cell).join('\n')) : h('p', {}, '(none)'));
  } else if (v && typeof v === 'object') {
    put(out, h('dl', {}, Object.entries(v).flatMap(([k, x]) => [h('dt', {}, k), h('dd', {}, cell(x))])));
  } else {
    put(out, h('p', {}, cell(v)));
  }
  out.append(h('p', { class: 'summary' }, r.summary || ''));
  return r;
}

// ---- pages ----------------------------------------------------------------------------

function showLogin(message) {
  $('#app-view').hidden = true;
  $('#logout').hidden = true;
  $('#who').textContent = '';
  $('#login-view').hidden = false;
  $('#login-error').textContent = message || '';
  $('#login-user').focus();
}

function forget() {
  S.token = null;
  S.user = null;
  S.role = null;
  sessionStorage.removeItem('igor.token');
  sessionStorage.removeItem('igor.user');
  sessionStorage.removeItem('igor.role');
}

function nav() {
  const byTopic = new Map();
  // Admin commands are offered to admins only (the server refuses them to anyone else).
  for (const c of [...S.cmds.values()].filter((c) => c.access !== 'admin' || S.role === 'admin')) {
    if (!byTopic.has(c.topic)) byTopic.set(c.topic, []);
    byTopic.get(c.topic).push(c);
  }
  const topics = (S.schema.topics || []).filter((t) => byTopic.has(t.name));
  put($("#nav"),
    h('ul', {}, h('li', {}, h('a', { href: '#' }, 'Machines')),
      // The audit log's filters are audit-find's parameters, like any command's form.
      cmd('audit-find') && (cmd('audit-find').access !== 'admin' || S.role === 'admin')
        ? h('li', {}, h('a', { href: '#cmd/audit-find' }, 'Audit log')) : null),
    topics.map((t) => [
      h('h2', {}, t.name),
      h('ul', {}, byTopic.get(t.name).sort((a, b) => a.name.localeCompare(b.name))
        .map((c) => h('li', {}, h('a', { href: '#cmd/' + c.name, title: c.doc.split('\n')[0] }, c.name)))),
    ]));
  const here = location.hash || '#';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === here) a.setAttribute('aria-current', 'page');
  }
}

const ACTS = { operator: true, admin: true };

async function machinesPage(content) {
  const find = cmd('machine-find');
  put(content, h('h1', {}, 'Machines'));
  const out = h('div', {});
  content.append(out);
  const r = await rpc(find.full_name, {});
  const machines = r.result;
  if (!machines.length) {
    put(out, h('p', {}, 'No machine is yours to see.'));
    return;
  }
  const rows = machines.map((m) => ({ name: m.name, driver: m.driver, access: m.access, power: '…', description: m.description }));
  const cols = Object.keys(rows[0]).filter((k) => rows.some((x) => x[k] != null));
  const draw = () => put(out, table(cols, rows, (row) =>
    h('a', { href: '#machine/' + encodeURIComponent(row.name) }, 'open')));
  draw();
  // Live power states: one streamed bulk call, each row filled as its BMC answers.
  const ps = cmd('power-status');
  if (ps && ps.stream) {
    await rpc(ps.full_name, { machines: machines.map((m) => m.name) }, (item) => {
      const row = rows.find((x) => x.name === item.machine);
      if (row) row.power = item.ok ? item.result.power : 'error: ' + item.error.message;
      draw();
    });
  }
}

// The parameters that name one machine for command version `c`: a machine set, or the
// single machine of the versions before machine sets.
const onMachine = (c, name) => (c.params.properties.machines ? { machines: [name] } : { machine: name });

async function machinePage(content, name) {
  const find = cmd('machine-find');
  const r = await rpc(find.full_name, { machines: [name] });
  const m = r.result[0];
  if (!m) {
    put(content, h('h1', {}, name), h('p', { class: 'error' }, r.summary));
    return;
  }
  const may = ACTS[m.access] === true;
  const power = h('p', {}, 'power: …');
  put(content, h('h1', {}, m.name), h('p', { class: 'summary' },
    `${m.driver || 'ipmi'} BMC at ${m.bmc_host}; your access: ${m.access || 'viewer'}`), power);
  const refresh = async () => {
    const ps = cmd('power-status');
    const p = onMachine(ps, m.name);
    const got = await rpc(ps.full_name, p);
    const item = ps.stream ? got.result[0] : { ok: true, result: got.result };
    const state = item.ok ? item.result.power : item.error.message;
    put(power, 'power: ', h('span', { class: 'power-' + state, id: 'power-state' }, state));
  };
  await refresh();
  // The serial console, on its own page (xterm.js): for a BMC that has one.
  if ((m.capabilities || []).includes('console') && cmd('console-log')) {
    content.append(h('p', {}, h('a', { href: 'console.html#' + encodeURIComponent(m.name) },
      may ? 'Open the serial console' : 'Watch the serial console')));
  }
  if (may) {
    const acts = h('div', { class: 'actions', role: 'group', 'aria-label': 'Power' });
    for (const [label, name2] of [['Power on', 'power-on'], ['Power off', 'power-off'], ['Power cycle', 'power-cycle'], ['Reset', 'power-reset'], ['Soft off', 'power-soft']]) {
      const c = cmd(name2);
      if (!c) continue;
      acts.append(h('button', { type: 'button', class: name2 === 'power-on' ? null : 'danger', onclick: async () => {
        if (!confirm(`${label}: ${m.name}?`)) return;
        const p = onMachine(c, m.name);
        // Where the version can wait for the BMC to report the new state, it does, and
        // the page says so meanwhile.
        if (c.params.properties.wait) p.wait = true;
        put(power, 'power: ', h('span', { id: 'power-state' }, `${label.toLowerCase()}: waiting for the BMC…`));
        try {
          const r = await rpc(c.full_name, p);
          const item = r.streamed ? r.result[0] : null;
          if (item && !item.ok) alert(item.error.message);
        } catch (e) {
          alert(e.message);
        }
        await refresh();
      } }, label));
    }
    content.append(acts);
  }
  // Read-only views of the machine, each from its command's output schema. An operator
  // may delete one SEL record from its row.
  const del = may ? cmd('sel-delete') : null;
  for (const [title, name2] of [['System Event Log', 'sel-list'], ['Sensors', 'sensor-list'], ['Boot device', 'bootdev-get'], ['Inventory', 'fru-show']]) {
    const c = cmd(name2);
    if (!c) continue;
    const box = h('div', {});
    content.append(h('h2', {}, title), box);
    const p = onMachine(c, m.name);
    const show = () => showResult(box, c, p, name2 === 'sel-list' && del ? selDelete : null)
      .catch((e) => put(box, h('p', { class: 'error' }, e.message)));
    const selDelete = (row) => (row.id == null ? null : h('button', {
      type: 'button',
      class: 'danger',
      'aria-label': `Delete SEL record ${row.id}`,
      onclick: async () => {
        if (!confirm(`Delete SEL record ${row.id} of ${m.name}?`)) return;
        const q = del.params.properties.ids ? { machine: m.name, ids: [row.id] } : { machine: m.name, id: row.id };
        try {
          await rpc(del.full_name, q);
        } catch (e) {
          alert(e.message);
        }
        show();
      },
    }, 'Delete'));
    show();
  }
  if (may) {
    for (const name2 of ['sel-clear', 'bootdev-set']) {
      const c = cmd(name2);
      if (!c) continue;
      const fixed = onMachine(c, m.name);
      content.append(h('h2', {}, name2), commandForm(c, fixed));
    }
  }
}

// `name` is a command (its default version, the highest the server offers) or a
// versioned name, `power-on/1`, as igor takes them.
function commandPage(content, name) {
  const c = name.includes('/') ? S.schema.commands.find((x) => x.full_name === name) : cmd(name);
  if (!c) {
    put(content, h('h1', {}, name), h('p', { class: 'error' }, 'This server has no such command.'));
    return;
  }
  const [summary, ...rest] = c.doc.split('\n');
  const others = S.schema.commands.filter((x) => x.name === c.name && x.version !== c.version)
    .sort((a, b) => b.version - a.version);
  put(content, h('h1', {}, c.full_name), h('p', {}, summary),
    rest.length ? h('p', { class: 'hint' }, rest.join(' ')) : null,
    h('p', { class: 'hint' }, `access: ${c.access}; since API level ${c.since}`),
    others.length ? h('p', { class: 'hint' }, 'other versions: ',
      others.map((x, i) => [i ? ', ' : '', h('a', { href: '#cmd/' + x.full_name }, x.full_name)])) : null,
    commandForm(c));
}

async function route() {
  if (!S.token) return showLogin();
  $('#login-view').hidden = true;
  $('#app-view').hidden = false;
  $('#logout').hidden = false;
  $('#who').textContent = S.user ? 'logged in as ' + S.user : '';
  if (!S.schema) await loadSchema();
  nav();
  const content = $('#content');
  const hash = decodeURIComponent(location.hash.slice(1));
  try {
    if (hash.startsWith('cmd/')) commandPage(content, hash.slice(4));
    else if (hash.startsWith('machine/')) await machinePage(content, hash.slice(8));
    else await machinesPage(content);
  } catch (e) {
    if (e.message !== 'not logged in') content.append(h('p', { class: 'error', role: 'alert' }, e.message));
  }
}

// ---- start ----------------------------------------------------------------------------

$('#login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const user = $('#login-user').value;
  const password = $('#login-password').value;
  $('#login-password').value = '';
  const r = await api('/api/login', { method: 'POST', body: { user, password } });
  if (!r.ok) {
    $('#login-error').textContent = await errorOf(r);
    return;
  }
  const j = await r.json();
  S.token = j.token;
  S.user = j.user;
  S.role = j.role;
  sessionStorage.setItem('igor.token', j.token);
  sessionStorage.setItem('igor.user', j.user);
  sessionStorage.setItem('igor.role', j.role);
  route();
});

$('#logout').addEventListener('click', async () => {
  try {
    await api('/api/logout', { method: 'POST' });
  } finally {
    forget();
    showLogin();
  }
});

window.addEventListener('hashchange', route);
route();
