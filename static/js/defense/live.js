// Shared by the defense room and the score sheet: one Socket.IO connection to /defense, joined to a panel.
// On every (re)connect the page re-joins and receives the full state of its user; the browser's offline /
// online events drop and restore the connection at once, so nothing is sent while the device is offline.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function connectPanel(panelId, { onState, onStatus }) {
  const socket = window.io('/defense', { auth: { csrf_token: document.querySelector('meta[name="csrf-token"]').content }, reconnection: true, reconnectionDelay: 500, reconnectionDelayMax: 3000 });
  const status = (kind, message) => onStatus && onStatus(kind, message);

  function join() {
    socket.timeout(10000).emit('join', { panel_id: panelId }, (err, ack) => {
      if (err) { status('down', '服务器无响应'); return; }
      if (ack && ack.ok) { status('ok'); onState(ack.state, 'join'); } else { status('error', (ack && ack.error) || '无法进入答辩室'); }
    });
  }
  socket.on('connect', join);
  socket.on('disconnect', () => status('down'));
  socket.on('connect_error', () => status('down'));
  socket.on('state', (state) => onState(state, 'push'));
  window.addEventListener('offline', () => { status('down'); socket.disconnect(); });
  window.addEventListener('online', () => { if (!socket.connected) { status('wait'); socket.connect(); } });

  function call(event, data, timeoutMs = 10000) {
    return new Promise((resolve) => {
      if (!socket.connected) { resolve({ ok: false, code: 'offline', error: '未连接到服务器' }); return; }
      socket.timeout(timeoutMs).emit(event, data, (err, ack) => {
        if (err) resolve({ ok: false, code: 'timeout', error: '服务器无响应，请稍后重试' });
        else resolve(ack || { ok: false, code: 'error', error: '服务器无响应' });
      });
    });
  }
  return { socket, call, isConnected: () => socket.connected && navigator.onLine !== false };
}

export function connLabel(el, kind, message) {
  const labels = { ok: '已连接服务器', wait: '正在连接服务器…', down: '已断开：离线中', error: message || '连接错误' };
  el.textContent = labels[kind] || kind;
  el.className = 'conn ' + (kind === 'ok' ? 'conn-ok' : kind === 'wait' ? 'conn-wait' : 'conn-down');
  el.dataset.state = kind;
}

// Server clock offset (ms): server_now − local now, so timers follow the server's clock.
let offset = 0;
export function syncClock(serverNowIso) {
  if (serverNowIso) offset = Date.parse(serverNowIso) - Date.now();
}
export function serverNow() { return Date.now() + offset; }

export function fmtSeconds(total) {
  const sign = total < 0 ? '-' : '';
  const t = Math.abs(Math.floor(total));
  return `${sign}${String(Math.floor(t / 60)).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`;
}
