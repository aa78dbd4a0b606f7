// The candidate's device check: measures in this browser (clock offset and round trip against /api/time, a
// Socket.IO connection to /exam, localStorage, screen size), posts the measurements (CSRF header) and shows the
// server's verdict with plain Chinese advice for each check that did not pass (exam/services/device_check.py).
const root = document.getElementById('device-check');
const runButton = document.getElementById('device-run');
const statusLine = document.getElementById('device-status');
const LEVEL_LABELS = { pass: '通过', warn: '注意', fail: '未通过' };

async function measureTime() {
  // three round trips to /api/time; the one with the shortest round trip gives the offset
  let best = null;
  for (let i = 0; i < 3; i += 1) {
    const t0 = Date.now();
    let body;
    try {
      const r = await fetch(root.dataset.timeUrl, { cache: 'no-store', credentials: 'same-origin' });
      if (!r.ok) continue;
      body = await r.json();
    } catch (e) { continue; }
    const t1 = Date.now();
    const latency = t1 - t0;
    const offset = Math.round(body.server_time_ms - (t0 + t1) / 2);
    if (best === null || latency < best.latency) best = { latency, offset };
  }
  return best;
}

function checkStorage() {
  try {
    const key = 'device-check-probe';
    localStorage.setItem(key, '1');
    const ok = localStorage.getItem(key) === '1';
    localStorage.removeItem(key);
    return ok;
  } catch (e) { return false; }
}

function checkSocket(timeoutMs = 5000) {
  return new Promise((resolve) => {
    if (typeof window.io !== 'function') { resolve(false); return; }
    let done = false;
    const socket = window.io('/exam', { auth: { csrf_token: root.dataset.csrf }, reconnection: false, timeout: timeoutMs });
    const finish = (ok) => {
      if (done) return;
      done = true;
      try { socket.close(); } catch (e) { /* ignore */ }
      resolve(ok);
    };
    socket.on('connect', () => finish(true));
    socket.on('connect_error', () => finish(false));
    setTimeout(() => finish(false), timeoutMs);
  });
}

function show(result) {
  document.getElementById('device-verdict').textContent = result.verdict_label;
  document.getElementById('device-verdict').dataset.verdict = result.verdict;
  const list = document.getElementById('device-checks');
  list.replaceChildren();
  for (const c of result.checks) {
    const li = document.createElement('li');
    li.dataset.check = c.check;
    li.dataset.level = c.level;
    const head = document.createElement('strong');
    head.textContent = `${c.label}：${LEVEL_LABELS[c.level]}`;
    li.append(head);
    if (c.advice) {
      const p = document.createElement('p');
      p.textContent = c.advice;
      li.append(p);
    }
    list.append(li);
  }
  document.getElementById('device-result').hidden = false;
}

async function run() {
  runButton.disabled = true;
  statusLine.textContent = '正在检测，请稍候…';
  const time = await measureTime();
  const websocket = await checkSocket();
  const payload = {
    clock_offset_ms: time ? time.offset : null,
    latency_ms: time ? time.latency : null,
    websocket_ok: websocket,
    storage_ok: checkStorage(),
    screen_width: window.innerWidth || (window.screen && window.screen.width) || null,
    screen_height: window.innerHeight || (window.screen && window.screen.height) || null,
  };
  try {
    const r = await fetch(root.dataset.postUrl, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': root.dataset.csrf },
      body: JSON.stringify(payload),
    });
    if (!r.ok) throw new Error(String(r.status));
    show(await r.json());
    statusLine.textContent = '检测完成，结果已记录。';
  } catch (e) {
    statusLine.textContent = '检测结果未能提交，请检查网络连接后重新检测。';
  }
  runButton.disabled = false;
  runButton.textContent = '重新检测';
}

runButton.addEventListener('click', run);
