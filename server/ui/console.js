// The serial console in the browser: xterm.js on igord's console WebSocket
// (GET /api/console/{machine}), the same socket `igor console` uses.
//
// Binary frames are the serial line's bytes both ways; text frames are JSON control
// messages (attached, writer, notice, dropped, ended, detached from igord; break and detach
// to it). A browser's WebSocket cannot send an Authorization header, so the token goes as
// a second subprotocol, `igor.bearer.TOKEN`, beside `igor.console`; igord answers with
// `igor.console` only. Keystrokes go only while this page holds the keyboard: a viewer, or
// an operator whose keyboard someone else holds, watches.
import { Terminal } from './vendor/xterm.mjs';
import { FitAddon } from './vendor/addon-fit.mjs';

const $ = (sel) => document.querySelector(sel);
const token = sessionStorage.getItem('igor.token');
const machine = decodeURIComponent(location.hash.slice(1));
const say = (text) => { $('#status').textContent = text; };

let ws = null;
let mode = 'read';
let mayWrite = false;
const enc = new TextEncoder();

const term = new Terminal({ cursorBlink: true, scrollback: 5000, screenReaderMode: true });
const fit = new FitAddon();
term.loadAddon(fit);

function who(w) {
  return w ? `${w.user} (since ${w.since})` : 'nobody';
}

function onControl(m) {
  switch (m.type) {
    case 'attached':
      mode = m.mode;
      mayWrite = m.may_write === true;
      say(mode === 'write'
        ? `Connected to ${machine}: you have the keyboard.`
        : `Connected to ${machine}, ${m.message || 'read-only'}.`);
      break;
    case 'writer':
      if (m.writer == null) say(`The keyboard is free${mayWrite ? ': type to take it' : ''}.`);
      else say(`The keyboard is held by ${who(m.writer)}.`);
      // Whoever typed first holds it; this page may be that one.
      if (m.writer != null) mode = m.writer.user === sessionStorage.getItem('igor.user') && mayWrite ? 'write' : 'read';
      break;
    case 'notice':
    case 'dropped':
      say(m.message);
      break;
    case 'ended':
      say(`The console ended: ${m.message}`);
      break;
    case 'detached':
      say('Detached.');
      break;
    default:
      break;
  }
  $('#force').hidden = !mayWrite || mode === 'write';
  $('#break').hidden = !mayWrite;
}

function connect(force) {
  if (ws) ws.close();
  const q = force ? '?force=true' : '';
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/console/${encodeURIComponent(machine)}${q}`;
  const sock = new WebSocket(url, ['igor.console', `igor.bearer.${token}`]);
  ws = sock;
  sock.binaryType = 'arraybuffer';
  let opened = false;
  sock.onopen = () => { opened = true; term.focus(); };
  sock.onmessage = (ev) => {
    if (typeof ev.data === 'string') onControl(JSON.parse(ev.data));
    else term.write(new Uint8Array(ev.data));
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    // The server says why it refuses before the upgrade, but a browser does not show a
    // refused upgrade's body to the page.
    if (!opened) {
      say(`The console of ${machine} could not be opened: you may not see this machine, `
        + 'its BMC may not answer, or another tool may hold its console.');
    } else if (!/ended|Detached/.test($('#status').textContent)) {
      say('The connection closed.');
    }
    $('#force').hidden = !mayWrite;
  };
}

term.onData((d) => {
  // igord gives the keyboard to the first of its operators to type when it is free.
  if (mayWrite && ws && ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d));
});

$('#force').addEventListener('click', () => connect(true));
$('#break').addEventListener('click', () => {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'break' }));
});
$('#detach').addEventListener('click', () => {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'detach' }));
});

if (!token) {
  location.replace('./');
} else {
  $('#title').textContent = `Console: ${machine}`;
  document.title = `${machine}: igor console`;
  $('#who').textContent = `logged in as ${sessionStorage.getItem('igor.user') || ''}`;
  $('#back').href = `./#machine/${encodeURIComponent(machine)}`;
  term.open($('#terminal'));
  fit.fit();
  window.addEventListener('resize', () => fit.fit());
  connect(false);
}
