// A panelist's score sheet. The draft lives on the server (autosave) and, until the server confirms it, in this
// browser's localStorage, so a device that goes offline loses nothing and sends its draft when it is back.
// Every save carries the sheet version it was based on; the server refuses a stale device and its state wins.
// Each mark shows whether the server has confirmed it (green) or not yet (amber).
import { connectPanel, connLabel, syncClock } from './live.js';

const root = document.getElementById('sheet');
const panelId = Number(root.dataset.panelId);
const caseId = Number(root.dataset.caseId);
const storageKey = `defense-sheet:${root.dataset.userId}:${caseId}`;
const STEP = Number(root.dataset.step) || 0.5;
const inputs = [...document.querySelectorAll('input[data-criterion]')];
const form = document.getElementById('sheet-form');
const submitBtn = document.getElementById('submit-sheet');
const syncEl = document.getElementById('sync');
const errorEl = document.getElementById('sheet-error');
const totalEl = document.getElementById('total');
const caseStateEl = document.getElementById('case-state');
const reopenNote = document.getElementById('reopen-note');

let server = null;      // my sheet as the server last confirmed it
let caseInfo = null;    // the case (state) from the server
let local = loadLocal(); // {scores, base, dirty}
let inflight = false;
let pendingPush = null;
let saveTimer = null;
let notice = '';

const live = connectPanel(panelId, {
  onState: (state) => {
    syncClock(state.server_now);
    const c = state.cases.find((x) => x.id === caseId);
    if (!c) { showError('该考生已不在本答辩组'); return; }
    caseInfo = c;
    if (!c.my_sheet) { showError('您没有该考生的评分表'); return; }
    if (inflight) { pendingPush = c.my_sheet; render(); return; }
    applyServer(c.my_sheet);
  },
  onStatus: (kind, message) => { connLabel(document.getElementById('conn'), kind, message); render(); },
});

function loadLocal() {
  try {
    const raw = localStorage.getItem(storageKey);
    if (raw) {
      const data = JSON.parse(raw);
      if (data && typeof data.scores === 'object') return { scores: data.scores, base: data.base ?? null, dirty: !!data.dirty };
    }
  } catch (e) { /* storage unavailable or corrupt: start clean */ }
  return { scores: {}, base: null, dirty: false };
}
function persist() {
  try {
    if (local.dirty) localStorage.setItem(storageKey, JSON.stringify(local));
    else localStorage.removeItem(storageKey);
  } catch (e) { /* private mode: the server copy still counts */ }
}

function showError(message) { errorEl.hidden = !message; errorEl.textContent = message || ''; }

function validate(input) {
  const raw = input.value.trim();
  if (raw === '') return { ok: true, empty: true };
  const n = Number(raw);
  const max = Number(input.dataset.max);
  if (!Number.isFinite(n)) return { ok: false, error: '请输入数字' };
  if (n < 0 || n > max) return { ok: false, error: `分数须在 0 到 ${input.dataset.max} 之间` };
  if (Math.abs(n / STEP - Math.round(n / STEP)) > 1e-9) return { ok: false, error: `分数须为 ${STEP} 的整数倍` };
  return { ok: true, value: String(n) };
}

function validScores() {
  const out = {};
  for (const input of inputs) {
    const v = validate(input);
    if (v.ok && !v.empty) out[input.dataset.criterion] = v.value;
  }
  return out;
}

function editable() {
  return !!server && ['draft', 'reopened'].includes(server.status) && caseInfo && !caseInfo.locked;
}

function sameScores(a, b) {
  const ka = Object.keys(a || {}).filter((k) => a[k] !== '' && a[k] != null);
  const kb = Object.keys(b || {}).filter((k) => b[k] !== '' && b[k] != null);
  return ka.length === kb.length && ka.every((k) => Number(a[k]) === Number(b[k]));
}

function fillInputs(scores) {
  for (const input of inputs) {
    const v = scores[input.dataset.criterion];
    input.value = v === undefined || v === null ? '' : String(Number(v));
  }
}

function applyServer(sheet) {
  const first = server === null;
  if (local.dirty) {
    if (local.base === sheet.version && ['draft', 'reopened'].includes(sheet.status)) {
      server = sheet;
      if (first) fillInputs(local.scores);
      render();
      scheduleSave(0); // the offline draft goes to the server now
      return;
    }
    if (!sameScores(local.scores, sheet.scores)) notice = '本设备未同步的修改已被服务器上较新的评分表取代（服务器为准）。';
    local = { scores: {}, base: sheet.version, dirty: false };
  }
  server = sheet;
  local.base = sheet.version;
  persist();
  fillInputs(sheet.scores || {});
  render();
}

function render() {
  const can = editable();
  let total = 0; let complete = true; let anyInvalid = false;
  for (const input of inputs) {
    const cid = input.dataset.criterion;
    input.disabled = !can;
    const v = validate(input);
    const errEl = document.querySelector(`[data-error="${cid}"]`);
    const mark = document.querySelector(`[data-mark="${cid}"]`);
    errEl.textContent = v.ok ? '' : v.error;
    input.classList.toggle('invalid', !v.ok);
    if (!v.ok) anyInvalid = true;
    if (v.empty || !v.ok) complete = false; else total += Number(v.value);
    const confirmed = server && v.ok && !v.empty && server.scores && server.scores[cid] !== undefined && Number(server.scores[cid]) === Number(v.value);
    const state = v.empty ? '' : confirmed ? 'confirmed' : 'unconfirmed';
    input.classList.toggle('confirmed', state === 'confirmed');
    input.classList.toggle('unconfirmed', state === 'unconfirmed');
    input.dataset.mark = state;
    mark.className = 'mark ' + state;
    mark.textContent = state === 'confirmed' ? '✓ 服务器已保存' : state === 'unconfirmed' ? '● 未同步' : '';
  }
  totalEl.textContent = complete ? String(total) : '—';
  caseStateEl.textContent = caseInfo ? caseInfo.state_label : '';
  const submitState = caseInfo && ['in_progress', 'scoring', 'flagged'].includes(caseInfo.state);
  submitBtn.disabled = !(can && complete && !anyInvalid && submitState && live.isConnected());
  reopenNote.hidden = !(server && server.status === 'reopened');
  if (server && server.status === 'reopened') reopenNote.textContent = `组长已退回本评分表，请重新评分。理由：${server.reopen_reason}`;
  document.getElementById('recuse-box').hidden = !can;
  renderSync();
}

function renderSync() {
  let kind; let text;
  const unconfirmed = inputs.some((i) => i.dataset.mark === 'unconfirmed');
  if (!server) { kind = 'loading'; text = local.dirty ? '离线：评分暂存在本设备，联网后自动同步' : '正在载入服务器上的评分表…'; }
  else if (server.status === 'submitted') { kind = 'submitted'; text = `已提交，服务器已确认（总分 ${server.total}，${new Date(server.submitted_at).toLocaleTimeString('zh-CN')}）`; }
  else if (server.status === 'recused') { kind = 'recused'; text = `已回避：${server.recuse_reason}`; }
  else if (caseInfo && caseInfo.locked) { kind = 'locked'; text = '成绩已确定，评分表已锁定'; }
  else if (!live.isConnected() && (unconfirmed || local.dirty)) { kind = 'offline'; text = '离线：有未同步的评分，已暂存在本设备，恢复联网后自动发送'; }
  else if (unconfirmed || local.dirty || inflight) { kind = 'pending'; text = '正在同步到服务器…'; }
  else { kind = 'saved'; text = `草稿已保存到服务器（第 ${server.version} 版）`; }
  if (notice && kind !== 'submitted') text += ' ' + notice;
  syncEl.dataset.sync = kind;
  syncEl.textContent = text;
  syncEl.className = 'sync ' + (kind === 'saved' ? 'sync-ok' : kind === 'submitted' ? 'sync-submitted' : 'sync-wait');
}

function scheduleSave(delay = 400) {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(save, delay);
}

async function save() {
  if (!server || !editable() || !local.dirty) { render(); return; }
  if (!live.isConnected()) { render(); return; } // kept in localStorage; sent on reconnect (join → applyServer)
  if (inflight) { scheduleSave(300); return; }
  inflight = true;
  const sent = validScores();
  const ack = await live.call('save_draft', { sheet_id: server.id, scores: sent, version: local.base });
  inflight = false;
  handleAck(ack, sent);
}

function handleAck(ack, sent) {
  if (ack.ok) {
    showError('');
    server = ack.sheet;
    local.base = ack.sheet.version;
    const now = validScores();
    local.scores = now;
    local.dirty = !sameScores(now, sent);
    persist();
    if (local.dirty) scheduleSave(200);
  } else if (ack.code === 'stale' && ack.sheet) {
    local = { scores: {}, base: ack.sheet.version, dirty: false };
    persist();
    notice = ack.error;
    server = ack.sheet;
    fillInputs(ack.sheet.scores || {});
  } else if (ack.code === 'rate_limited') {
    scheduleSave(1000 * (ack.retry_after || 1)); // too many saves on this connection: the draft waits, then goes
  } else if (ack.code === 'offline' || ack.code === 'timeout') {
    // keep the local draft; it is sent again on reconnect
  } else {
    showError(ack.error);
  }
  if (pendingPush && server && pendingPush.version > server.version) {
    const push = pendingPush; pendingPush = null; applyServer(push); return;
  }
  pendingPush = null;
  render();
}

for (const input of inputs) {
  input.addEventListener('input', () => {
    notice = '';
    local.scores = { ...local.scores, [input.dataset.criterion]: input.value.trim() };
    local.dirty = true;
    if (server && local.base === null) local.base = server.version;
    persist();
    render();
    scheduleSave();
  });
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!server || !editable()) return;
  if (!live.isConnected()) { showError('离线时不能提交，请恢复联网后再提交'); return; }
  submitBtn.disabled = true;
  while (inflight) await new Promise((r) => setTimeout(r, 50));
  clearTimeout(saveTimer);
  inflight = true;
  const sent = validScores();
  const ack = await live.call('submit', { sheet_id: server.id, scores: sent, version: local.base });
  inflight = false;
  if (ack.ok) { local = { scores: {}, base: ack.sheet.version, dirty: false }; persist(); }
  handleAck(ack, sent);
});

document.getElementById('recuse').addEventListener('click', async () => {
  if (!server) return;
  const reason = document.getElementById('recuse-reason').value;
  const ack = await live.call('recuse', { sheet_id: server.id, reason });
  if (ack.ok) { local = { scores: {}, base: ack.sheet.version, dirty: false }; persist(); server = ack.sheet; render(); } else showError(ack.error);
});

if (local.dirty) fillInputs(local.scores);
render();
