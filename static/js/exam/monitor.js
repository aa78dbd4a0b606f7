// The live exam monitor: joins the session's room on /exam and updates each candidate's line as saves, submits,
// integrity events and secretariat actions happen. On every (re)connect it reloads all lines from rows.json so
// nothing missed while disconnected stays stale.

const root = document.getElementById('exam-monitor');
const sessionId = Number(root.dataset.sessionId);
const live = document.getElementById('monitor-live');
const LABELS = {};
for (const li of document.querySelectorAll('#monitor-summary li')) LABELS[li.dataset.status] = li.firstChild.textContent.trim();
// every event kind's label, from the server (exam.models.EVENT_LABELS): browser events, takeovers, concurrent
// sessions and late saves all show, as on the events page
let EVENT_LABELS = {};
try { EVENT_LABELS = JSON.parse(root.dataset.eventLabels || '{}'); } catch (e) { EVENT_LABELS = {}; }
const EVENT_ORDER = Object.keys(EVENT_LABELS);
const rowsState = new Map();

function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleTimeString('zh-CN', { hour12: false, timeZone: 'Asia/Shanghai' });
}

function fmtRemaining(row) {
  if (row.status !== 'in_progress' || !row.deadline_at) return '';
  const s = Math.max(0, Math.ceil((Date.parse(row.deadline_at) - Date.now()) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function tr(candidateId) { return root.querySelector(`tr[data-candidate-id="${candidateId}"]`); }

function cell(row, col) { return row.querySelector(`[data-col="${col}"]`); }

function flash(el) {
  el.classList.add('flash-row');
  setTimeout(() => el.classList.remove('flash-row'), 1200);
}

function applyRow(data) {
  const el = tr(data.candidate_id);
  if (!el) return;
  const prev = rowsState.get(data.candidate_id) || {};
  const row = { ...prev, ...data };
  rowsState.set(data.candidate_id, row);
  if (row.status) {
    el.dataset.status = row.status;
    const tag = cell(el, 'status').querySelector('.tag');
    tag.className = `tag status-${row.status}`;
    tag.textContent = row.status_label || LABELS[row.status] || row.status;
    for (const form of el.querySelectorAll('form[data-when]')) {
      if (row.attempt_id) form.action = form.dataset.actionTemplate.replace('/0/', `/${row.attempt_id}/`);
      form.hidden = form.dataset.when === 'in_progress' ? row.status !== 'in_progress'
        : !['submitted', 'auto_submitted', 'force_submitted'].includes(row.status);
    }
  }
  if (row.answered_count !== undefined) cell(el, 'answered').textContent = String(row.answered_count);
  if (row.last_seen_at !== undefined) cell(el, 'last_seen').textContent = fmtTime(row.last_seen_at);
  if (row.extra_minutes !== undefined) cell(el, 'extra').textContent = row.extra_minutes ? String(row.extra_minutes) : '';
  if (row.score !== undefined) cell(el, 'score').textContent = row.score === null ? '' : Number(row.score).toFixed(2);
  if (row.events !== undefined) {
    const evCell = cell(el, 'events');
    const link = evCell.querySelector('a');
    const total = Object.values(row.events).reduce((a, b) => a + b, 0);
    for (const small of evCell.querySelectorAll('small')) small.remove();
    if (link) link.textContent = String(total); else evCell.firstChild.textContent = String(total);
    evCell.dataset.total = String(total);
    const kinds = Object.keys(row.events).sort((a, b) => {
      const ia = EVENT_ORDER.indexOf(a); const ib = EVENT_ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
    });
    for (const k of kinds) {
      const n = row.events[k];
      if (!n) continue;
      const s = document.createElement('small');
      s.className = k === 'concurrent_session' ? 'exam-monitor-ev exam-monitor-ev-alert' : 'exam-monitor-ev';
      s.dataset.kind = k;
      s.textContent = `${EVENT_LABELS[k] || k} ${n}`;
      evCell.append(s);
    }
  }
  cell(el, 'remaining').textContent = fmtRemaining(row);
  flash(el);
  renderSummary();
}

function renderSummary() {
  const counts = {};
  for (const el of root.querySelectorAll('#monitor-rows tr')) counts[el.dataset.status] = (counts[el.dataset.status] || 0) + 1;
  for (const li of document.querySelectorAll('#monitor-summary li')) li.querySelector('strong').textContent = String(counts[li.dataset.status] || 0);
}

async function reload() {
  try {
    const resp = await fetch(root.dataset.rowsUrl, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    if (!resp.ok) return;
    const body = await resp.json();
    for (const row of body.rows) applyRow(row);
  } catch (e) { /* next reconnect retries */ }
}

function status(kind, text) { live.dataset.state = kind; live.textContent = text; }

for (const el of root.querySelectorAll('#monitor-rows tr')) {
  const seconds = cell(el, 'remaining').dataset.seconds;
  rowsState.set(Number(el.dataset.candidateId), {
    status: el.dataset.status,
    deadline_at: seconds ? new Date(Date.now() + Number(seconds) * 1000).toISOString() : null,
  });
  const lastSeen = cell(el, 'last_seen');
  lastSeen.textContent = fmtTime(lastSeen.dataset.utc);
  cell(el, 'remaining').textContent = fmtRemaining(rowsState.get(Number(el.dataset.candidateId)));
  for (const form of el.querySelectorAll('form[data-when]')) {
    form.hidden = form.dataset.when === 'in_progress' ? el.dataset.status !== 'in_progress'
      : !['submitted', 'auto_submitted', 'force_submitted'].includes(el.dataset.status);
  }
}

setInterval(() => {
  for (const [id, row] of rowsState) {
    const el = tr(id);
    if (el) cell(el, 'remaining').textContent = fmtRemaining(row);
  }
}, 1000);

if (window.io) {
  const socket = window.io('/exam', { auth: { csrf_token: document.querySelector('meta[name="csrf-token"]').content }, reconnection: true, reconnectionDelay: 500, reconnectionDelayMax: 5000 });
  socket.on('connect', () => {
    socket.emit('join_session', { session_id: sessionId }, (ack) => {
      if (ack && ack.ok) { status('live', '实时更新中'); reload(); } else { status('down', (ack && ack.error) || '无法订阅实时更新'); }
    });
  });
  socket.on('disconnect', () => status('down', '实时连接已断开，正在重连…'));
  socket.on('connect_error', () => status('down', '实时连接已断开，正在重连…'));
  socket.on('row', applyRow);
  socket.on('progress', (p) => applyRow({ candidate_id: p.candidate_id, answered_count: p.answered_count, last_seen_at: p.last_seen_at }));
  socket.on('events', (p) => applyRow({ candidate_id: p.candidate_id, events: p.events }));
  socket.on('absentees', () => reload());
} else {
  status('down', '实时更新不可用');
}
