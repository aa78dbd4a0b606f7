// The exam room: one item at a time, navigation grid, keyboard, countdown on the server clock, every change saved
// at once through the JSON API with a per-attempt sequence number. Unsent saves wait in localStorage and go out
// on reconnect (the `online` event and a retry with backoff); the candidate is told plainly while any are unsent.
// A newer start on another device makes this page's token stale: the server answers 409 `taken_over` and the
// socket tells the page at once.
// Integrity events (focus loss, copy, paste, …) go out through one send path, each with its own id
// (client_event_id), queued in localStorage while offline; the server ignores an id it already has, so a retry
// never counts twice. The tab keeps an id in sessionStorage (sent as X-Exam-Tab): reloading this tab resumes the
// attempt, another tab or device takes it over. While it holds the attempt the page sends a heartbeat over the
// socket, so the server can tell when two tabs are live at once (a concurrent session).

import { announcementText, minuteMark } from './announce.js';

const root = document.getElementById('exam-room');
const API = root.dataset.api;
const sessionId = root.dataset.sessionId;
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
const DISPLAY = 'ABCDEFGH';

const state = {
  attempt: null, items: [], index: 0, token: null, tokenTag: null, pass: null, seq: 0,
  offset: 0, deadlineMs: null, lastSeconds: null, closed: false, takenOver: false,
  queue: {}, failing: false, flushing: false, retryDelay: 1000, retryTimer: null,
  itemShownAt: performance.now(), pendingTime: {}, saveState: {}, events: [],
  sendingEvents: false, eventRetryDelay: 1000, eventRetryTimer: null, heartbeatTimer: null,
};

function randomId() {
  if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (window.crypto && window.crypto.getRandomValues) window.crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i += 1) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// this tab's id: survives a reload of the tab (sessionStorage), differs in another tab or on another device
let TAB_ID = (() => {
  try {
    let id = sessionStorage.getItem('exam-tab-id');
    if (!id) { id = randomId(); sessionStorage.setItem('exam-tab-id', id); }
    return id;
  } catch (e) { return randomId(); }
})();

// A duplicated tab inherits sessionStorage, hence the id: ask the open tabs of this browser whether one already
// uses it (BroadcastChannel); a live tab that does answers, and this tab takes a new id (a reload finds no one).
const tabChannel = window.BroadcastChannel ? new BroadcastChannel('exam-tabs') : null;
const tabNonce = randomId();
let tabClash = false;
if (tabChannel) {
  tabChannel.onmessage = (e) => {
    const m = e.data || {};
    if (m.type === 'who' && m.tab === TAB_ID && m.nonce !== tabNonce) tabChannel.postMessage({ type: 'mine', nonce: m.nonce });
    else if (m.type === 'mine' && m.nonce === tabNonce) tabClash = true;
  };
}

async function ensureOwnTabId() {
  if (!tabChannel) return;
  tabChannel.postMessage({ type: 'who', tab: TAB_ID, nonce: tabNonce });
  await new Promise((res) => setTimeout(res, 150));
  if (!tabClash) return;
  TAB_ID = randomId();
  try { sessionStorage.setItem('exam-tab-id', TAB_ID); } catch (e) { /* ignore */ }
}

// ---------------------------------------------------------------------------------------------- helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

// The attempt's writes (saves, flags, integrity events) go with the signed attempt pass (X-Attempt-Pass) when the
// server gave one: no cookie, no CSRF header, the cheapest request the server serves. A pass the server refuses
// (401 invalid_pass: expired after extra time, a new secret key…) is dropped and the write is sent again with the
// session cookie; the next getAttempt brings a fresh pass.
async function api(method, path, body, { token = true, pass = false } = {}) {
  const usePass = pass && token && state.pass && state.token;
  const headers = { Accept: 'application/json', 'X-Exam-Tab': TAB_ID };
  if (usePass) headers['X-Attempt-Pass'] = state.pass;
  else headers['X-CSRFToken'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token && state.token) headers['X-Attempt-Token'] = state.token;
  const resp = await fetch(API + path, {
    method, headers, credentials: usePass ? 'omit' : 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (usePass && resp.status === 401 && data && data.error && data.error.code === 'invalid_pass') {
    state.pass = null;
    return api(method, path, body, { token });
  }
  return { status: resp.status, ok: resp.ok, data };
}

const errMessage = (r, fallback) => (r && r.data && r.data.error && r.data.error.message) || fallback;
const queueKey = () => `exam-queue-${state.attempt.attempt_id}`;
const seqKey = () => `exam-seq-${state.attempt.attempt_id}`;
const eventsKey = () => `exam-events-${state.attempt.attempt_id}`;

function persistEvents() {
  try { localStorage.setItem(eventsKey(), JSON.stringify(state.events)); } catch (e) { /* keep in memory */ }
}

function loadEvents() {
  try {
    const list = JSON.parse(localStorage.getItem(eventsKey()) || '[]');
    return Array.isArray(list) ? list.filter((ev) => ev && ev.kind && ev.client_event_id) : [];
  } catch (e) { return []; }
}

function persistQueue() {
  try { localStorage.setItem(queueKey(), JSON.stringify(state.queue)); } catch (e) { /* storage full: keep in memory */ }
}

function loadQueue() {
  try { return JSON.parse(localStorage.getItem(queueKey()) || '{}') || {}; } catch (e) { return {}; }
}

function nextSeq() {
  state.seq += 1;
  try { localStorage.setItem(seqKey(), String(state.seq)); } catch (e) { /* ignore */ }
  return state.seq;
}

// ---------------------------------------------------------------------------------------------- clock

async function measureOffset() {
  let best = null;
  for (let i = 0; i < 3; i += 1) {
    const t0 = Date.now();
    try {
      const r = await api('GET', '/time', undefined, { token: false });
      const t1 = Date.now();
      if (r.ok && r.data) {
        const rtt = t1 - t0;
        const offset = r.data.server_time_ms - (t0 + t1) / 2;
        if (!best || rtt < best.rtt) best = { rtt, offset };
      }
    } catch (e) { break; }
  }
  if (best) state.offset = best.offset;
}

const serverNow = () => Date.now() + state.offset;

function remainingMs() {
  return state.deadlineMs === null ? 0 : Math.max(0, state.deadlineMs - serverNow());
}

function renderClock() {
  if (state.closed || state.takenOver) return;
  const ms = remainingMs();
  const total = Math.ceil(ms / 1000);
  const hh = Math.floor(total / 3600);
  const mm = Math.floor((total % 3600) / 60);
  const ss = total % 60;
  const clock = $('exam-clock');
  clock.textContent = `剩余 ${hh > 0 ? `${hh}:` : ''}${String(mm).padStart(2, '0')}:${String(ss).padStart(2, '0')}`;
  clock.dataset.seconds = String(total);
  clock.classList.toggle('low', total <= 300);
  const mark = minuteMark(state.lastSeconds, total);
  if (mark !== null) $('exam-announce').textContent = announcementText(mark);
  state.lastSeconds = total;
  if (ms <= 0) timeUp();
}

// ---------------------------------------------------------------------------------------------- banners

function banner(kind, message) {
  const el = $('exam-banner');
  if (!message) { el.hidden = true; el.textContent = ''; el.dataset.kind = ''; return; }
  el.hidden = false; el.dataset.kind = kind; el.textContent = message;
}

function unsentCount() { return Object.keys(state.queue).length; }

function renderConnection() {
  if (state.takenOver || state.closed) return;
  const n = unsentCount();
  if (n > 0 && (state.failing || !navigator.onLine)) {
    banner('unsent', `网络连接中断：有 ${n} 项作答尚未发送到服务器，已暂存在本机，网络恢复后会自动补交。请不要关闭页面或清除浏览器数据。`);
  } else if (!navigator.onLine) {
    banner('offline', '网络连接中断，恢复后会自动继续保存。');
  } else {
    banner('', '');
  }
  $('exam-progress').textContent = `已答 ${state.items.filter((i) => i.response.length).length} / ${state.items.length}`;
  renderBarSave(n);
}

// the saved state in the sticky status bar: the whole paper, not just the item on screen
function renderBarSave(unsent) {
  const states = Object.values(state.saveState);
  let kind = 'saved'; let text = '全部已保存';
  if (unsent > 0 && (state.failing || !navigator.onLine)) { kind = 'unsent'; text = `${unsent} 项未发送`; }
  else if (unsent > 0 || states.includes('saving')) { kind = 'saving'; text = '保存中…'; }
  else if (states.includes('error')) { kind = 'error'; text = '有保存失败'; }
  const el = $('exam-bar-save');
  el.dataset.state = kind;
  el.className = `exam-room-saved exam-room-save ${kind}`;
  el.textContent = text;
}

// ---------------------------------------------------------------------------------------------- rendering

function current() { return state.items[state.index]; }

function saveLabel(item) {
  const s = state.saveState[item.position];
  if (s === 'saving') return ['saving', '保存中…'];
  if (s === 'unsent') return ['unsent', '未发送（已暂存本机，网络恢复后自动补交）'];
  if (s === 'error') return ['error', '保存失败'];
  if (s === 'saved') return ['saved', '已保存'];
  return ['', item.response.length ? '已保存' : '未作答'];
}

function renderItem() {
  const item = current();
  if (!item) return;
  const multiple = item.type === 'multiple';
  const [stateClass, stateText] = saveLabel(item);
  const options = item.options.map((opt, i) => {
    const chosen = item.response.includes(opt.id);
    return h('button', {
      type: 'button', class: `exam-room-option${chosen ? ' chosen' : ''}`, role: multiple ? 'checkbox' : 'radio',
      'aria-checked': chosen ? 'true' : 'false', 'data-option-id': opt.id, 'data-index': String(i),
      onclick: () => choose(i),
    }, h('span', { class: 'exam-room-letter', text: DISPLAY[i] }), h('span', { class: 'exam-room-option-text', text: opt.text }));
  });
  const box = $('exam-item');
  box.replaceChildren(...[
    h('div', { class: 'exam-room-item-head' },
      h('span', { class: 'exam-room-qno', text: `第 ${item.position} 题` }),
      h('span', { class: 'tag', text: item.type_label }),
      h('span', { class: 'exam-room-points', text: `${Number(item.points)} 分` }),
      h('span', { class: `exam-room-save ${stateClass}`, id: 'exam-save-state', 'data-state': stateClass || 'idle', text: stateText })),
    h('p', { class: 'exam-room-stem', text: item.stem }),
    multiple ? h('p', { class: 'hint', text: '多选题：可选择多个选项' }) : null,
    h('div', { class: 'exam-room-options', role: multiple ? 'group' : 'radiogroup' }, options),
    h('div', { class: 'exam-room-item-actions' },
      h('button', { type: 'button', class: 'btn btn-secondary', id: 'exam-prev', onclick: () => go(state.index - 1), disabled: state.index === 0 }, '← 上一题'),
      h('button', { type: 'button', class: `btn btn-secondary${item.flagged ? ' flagged' : ''}`, id: 'exam-flag', onclick: toggleFlag, 'aria-pressed': item.flagged ? 'true' : 'false' }, item.flagged ? '取消标记 (F)' : '标记本题 (F)'),
      h('button', { type: 'button', class: 'btn btn-secondary', id: 'exam-clear', onclick: clearAnswer, disabled: !item.response.length }, '清除作答'),
      h('button', { type: 'button', class: 'btn', id: 'exam-next', onclick: () => go(state.index + 1), disabled: state.index === state.items.length - 1 }, '下一题 →')),
  ].filter(Boolean));
  renderGrid();
  renderConnection();
}

function renderGrid() {
  const grid = $('exam-grid');
  grid.replaceChildren(...state.items.map((item, i) => {
    const classes = ['exam-room-cell', item.response.length ? 'answered' : 'unanswered'];
    if (item.flagged) classes.push('flagged');
    if (i === state.index) classes.push('current');
    if (state.saveState[item.position] === 'unsent') classes.push('unsent');
    return h('button', { type: 'button', class: classes.join(' '), 'data-position': String(item.position), onclick: () => go(i),
      'aria-label': `第 ${item.position} 题${item.response.length ? '已答' : '未答'}${item.flagged ? '，已标记' : ''}` }, String(item.position));
  }));
}

// ---------------------------------------------------------------------------------------------- answering

function noteTime() {
  const item = current();
  if (!item) return;
  const now = performance.now();
  state.pendingTime[item.position] = (state.pendingTime[item.position] || 0) + (now - state.itemShownAt);
  state.itemShownAt = now;
}

function go(index) {
  if (index < 0 || index >= state.items.length) return;
  noteTime();
  state.index = index;
  renderItem();
}

function editable() { return !state.closed && !state.takenOver && state.items.length > 0; }

function setResponse(item, response) {
  noteTime();
  item.response = response;
  const spent = Math.round(state.pendingTime[item.position] || 0);
  state.pendingTime[item.position] = 0;
  const prev = state.queue[`a${item.position}`];
  state.queue[`a${item.position}`] = { kind: 'answer', position: item.position, response, seq: nextSeq(),
    time_spent_ms: spent + (prev ? prev.time_spent_ms : 0) };
  persistQueue();
  state.saveState[item.position] = navigator.onLine ? 'saving' : 'unsent';
  renderItem();
  flush();
}

function choose(i) {
  if (!editable()) return;
  const item = current();
  const opt = item.options[i];
  if (!opt) return;
  let response;
  if (item.type === 'multiple') {
    response = item.response.includes(opt.id) ? item.response.filter((x) => x !== opt.id) : [...item.response, opt.id];
  } else {
    response = [opt.id];
  }
  setResponse(item, response.sort());
}

function clearAnswer() {
  if (!editable()) return;
  setResponse(current(), []);
}

function toggleFlag() {
  if (!editable()) return;
  const item = current();
  item.flagged = !item.flagged;
  state.queue[`f${item.position}`] = { kind: 'flag', position: item.position, flagged: item.flagged, seq: nextSeq() };
  persistQueue();
  renderItem();
  flush();
}

// ---------------------------------------------------------------------------------------------- sending

function scheduleRetry() {
  if (state.retryTimer || state.closed || state.takenOver) return;
  state.retryTimer = setTimeout(() => { state.retryTimer = null; flush(); }, state.retryDelay);
  state.retryDelay = Math.min(state.retryDelay * 2, 30000);
}

async function sendEntry(key, entry) {
  const base = `/exam/attempts/${state.attempt.attempt_id}`;
  if (entry.kind === 'answer') {
    return api('PUT', `${base}/answers/${entry.position}`, { response: entry.response, seq: entry.seq, time_spent_ms: entry.time_spent_ms }, { pass: true });
  }
  return api('PUT', `${base}/flags/${entry.position}`, { flagged: entry.flagged }, { pass: true });
}

async function flush() {
  if (state.flushing || state.takenOver || !state.attempt) return;
  if (!navigator.onLine) {
    for (const entry of Object.values(state.queue)) if (entry.kind === 'answer') state.saveState[entry.position] = 'unsent';
    state.failing = true; renderItem(); return;
  }
  state.flushing = true;
  try {
    const entries = Object.entries(state.queue).sort((a, b) => a[1].seq - b[1].seq);
    for (const [key, entry] of entries) {
      let r;
      try {
        r = await sendEntry(key, entry);
      } catch (e) {
        r = null;
      }
      if (!r || r.status >= 500 || r.status === 0 || r.status === 429) {
        // kept and sent again later; a 429 (too many saves) says after how many seconds
        const wait = r && r.status === 429 && r.data && r.data.error && r.data.error.retry_after;
        if (wait) state.retryDelay = Math.max(state.retryDelay, wait * 1000);
        state.failing = true;
        for (const e of Object.values(state.queue)) if (e.kind === 'answer') state.saveState[e.position] = 'unsent';
        renderItem();
        scheduleRetry();
        return;
      }
      if (r.status === 401 || r.status === 403) {
        state.failing = true;
        banner('error', `${errMessage(r, '登录已失效')}：请重新登录后回到本页面，未发送的作答仍暂存在本机。`);
        return;
      }
      if (state.queue[key] && state.queue[key].seq === entry.seq) delete state.queue[key];
      persistQueue();
      if (r.ok) {
        if (entry.kind === 'answer' && !state.queue[key]) state.saveState[entry.position] = 'saved';
        continue;
      }
      const code = r.data && r.data.error && r.data.error.code;
      if (code === 'taken_over') { takenOver(errMessage(r)); return; }
      if (code === 'attempt_closed' || code === 'deadline_passed') {
        state.queue = {}; persistQueue();
        await showClosedFromServer(errMessage(r));
        return;
      }
      // invalid input: drop it and say so plainly
      if (entry.kind === 'answer') state.saveState[entry.position] = 'error';
      banner('error', errMessage(r, '保存失败'));
    }
    state.failing = false;
    state.retryDelay = 1000;
    renderItem();
  } finally {
    state.flushing = false;
  }
  if (unsentCount() > 0 && !state.retryTimer) flush();
}

// ---------------------------------------------------------------------------------------------- integrity

function recordEvent(kind, detail = {}) {
  if (!editable()) return;
  state.events.push({ kind, client_event_id: randomId(), detail: { ...detail, client_at: new Date(serverNow()).toISOString() } });
  persistEvents();
  flushEvents();
}

function scheduleEventRetry() {
  if (state.eventRetryTimer || state.closed || state.takenOver) return;
  state.eventRetryTimer = setTimeout(() => { state.eventRetryTimer = null; flushEvents(); }, state.eventRetryDelay);
  state.eventRetryDelay = Math.min(state.eventRetryDelay * 2, 30000);
}

// The one send path: a single loop at a time sends the queue's head until the queue is empty. An event is removed
// only once the server answered it; a resend (after a lost answer or a reload) carries the same id and is ignored.
async function flushEvents() {
  if (state.sendingEvents || !state.attempt) return;
  if (!navigator.onLine) { scheduleEventRetry(); return; }
  state.sendingEvents = true;
  try {
    while (state.events.length && editable()) {
      const ev = state.events[0];
      let r;
      try { r = await api('POST', `/exam/attempts/${state.attempt.attempt_id}/events`, ev, { pass: true }); } catch (e) { r = null; }
      if (!r || r.status >= 500 || r.status === 0 || r.status === 429) { scheduleEventRetry(); return; }
      if (r.status === 401 || r.status === 403) return; // the save path tells the candidate to log in again
      state.events = state.events.filter((x) => x.client_event_id !== ev.client_event_id);
      persistEvents();
      state.eventRetryDelay = 1000;
      if (r.ok && r.data && r.data.warning) {
        const w = $('exam-warning');
        w.hidden = false; w.textContent = r.data.message;
      }
      const code = r.data && r.data.error && r.data.error.code;
      if (code === 'taken_over') { takenOver(errMessage(r)); return; }
      if (code === 'attempt_closed') { state.events = []; persistEvents(); return; }
    }
  } finally {
    state.sendingEvents = false;
  }
}

function watchIntegrity() {
  window.addEventListener('blur', () => recordEvent('blur'));
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') recordEvent('hidden'); });
  document.addEventListener('copy', () => recordEvent('copy'));
  document.addEventListener('paste', () => recordEvent('paste'));
  document.addEventListener('fullscreenchange', () => {
    if (!document.fullscreenElement) recordEvent('fullscreen_exit');
    $('exam-fullscreen').hidden = Boolean(document.fullscreenElement);
  });
  $('exam-fullscreen').addEventListener('click', () => {
    if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen().catch(() => {});
  });
}

// ---------------------------------------------------------------------------------------------- keyboard

function onKey(e) {
  if (!editable() || e.ctrlKey || e.metaKey || e.altKey) return;
  if ($('exam-confirm').open) return;
  const t = e.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA')) return;
  const key = e.key;
  if (key === 'ArrowLeft') { go(state.index - 1); e.preventDefault(); return; }
  if (key === 'ArrowRight') { go(state.index + 1); e.preventDefault(); return; }
  if (key === 'f' || key === 'F') { toggleFlag(); e.preventDefault(); return; }
  if (/^[1-8]$/.test(key)) { choose(Number(key) - 1); e.preventDefault(); return; }
  const letter = key.length === 1 ? DISPLAY.indexOf(key.toUpperCase()) : -1;
  if (letter >= 0) { choose(letter); e.preventDefault(); }
}

// ---------------------------------------------------------------------------------------------- submit / close

function takenOver(message) {
  if (state.takenOver) return;
  state.takenOver = true;
  stopHeartbeat();
  banner('taken', message || '本场考试已在另一台设备或另一个窗口继续作答，此页面已停止保存。');
  $('exam-main').classList.add('disabled');
  for (const b of document.querySelectorAll('#exam-main button')) b.disabled = true;
}

const CLOSED_TITLES = { submitted: '已交卷', auto_submitted: '考试时间已到，系统已自动交卷', force_submitted: '考务人员已为您强制交卷' };

function showClosed(attempt, note) {
  state.closed = true;
  stopHeartbeat();
  $('exam-main').hidden = true;
  $('exam-loading').hidden = true;
  banner('', '');
  const box = $('exam-closed');
  box.hidden = false;
  box.dataset.state = attempt.state;
  $('exam-closed-title').textContent = CLOSED_TITLES[attempt.state] || attempt.state_label || '已交卷';
  const parts = [];
  if (note) parts.push(note);
  parts.push(`已作答 ${attempt.answered_count} 题。`);
  parts.push(attempt.score !== null && attempt.score !== undefined ? `笔试成绩：${Number(attempt.score).toFixed(2)} 分。` : '成绩公布后可在“我的考试”中查看。');
  $('exam-closed-text').textContent = parts.join(' ');
  $('exam-clock').textContent = '已结束';
  try { localStorage.removeItem(queueKey()); localStorage.removeItem(eventsKey()); } catch (e) { /* ignore */ }
}

async function refreshPass() {
  try {
    const r = await api('GET', `/exam/attempts/${state.attempt.attempt_id}`);
    if (r.ok && r.data) state.pass = r.data.attempt_pass || null;
  } catch (e) { /* the writes fall back to the session cookie */ }
}

async function showClosedFromServer(note) {
  try {
    const r = await api('GET', `/exam/attempts/${state.attempt.attempt_id}`, undefined, { token: false });
    if (r.ok && r.data.state !== 'in_progress') { showClosed(r.data, note); return; }
  } catch (e) { /* fall through */ }
  showClosed({ ...state.attempt, state: 'auto_submitted' }, note);
}

async function submit(note) {
  await flush();
  if (unsentCount() > 0 && !state.closed) {
    banner('unsent', `仍有 ${unsentCount()} 项作答未发送到服务器，请检查网络后再交卷。`);
    return false;
  }
  let r;
  try { r = await api('POST', `/exam/attempts/${state.attempt.attempt_id}/submit`); } catch (e) { r = null; }
  if (!r || r.status >= 500) { banner('unsent', '网络连接中断，交卷请求未送达，正在重试…'); return false; }
  if (r.ok) { showClosed(r.data, note); return true; }
  const code = r.data && r.data.error && r.data.error.code;
  if (code === 'taken_over') { takenOver(errMessage(r)); return true; }
  if (code === 'attempt_closed') { await showClosedFromServer(note); return true; }
  banner('error', errMessage(r, '交卷失败'));
  return false;
}

let timeUpStarted = false;
async function timeUp() {
  if (timeUpStarted || state.closed || state.takenOver) return;
  timeUpStarted = true;
  banner('time', '考试时间已到，正在自动交卷…');
  for (const b of document.querySelectorAll('#exam-main button')) b.disabled = true;
  // a moment past zero, so the server (the clock) agrees the time has run out
  await new Promise((res) => setTimeout(res, 800));
  let delay = 1000;
  // keep trying until the server has the paper closed (it closes it itself at the deadline anyway)
  // eslint-disable-next-line no-await-in-loop
  while (!state.closed && !state.takenOver && !(await submit('考试时间已到，系统已自动交卷。'))) {
    // eslint-disable-next-line no-await-in-loop
    await new Promise((res) => setTimeout(res, delay));
    delay = Math.min(delay * 2, 10000);
  }
}

function openConfirm() {
  const unanswered = state.items.filter((i) => !i.response.length).map((i) => i.position);
  const flagged = state.items.filter((i) => i.flagged).map((i) => i.position);
  const body = $('exam-confirm-body');
  body.replaceChildren(...[
    h('p', { text: unanswered.length ? `还有 ${unanswered.length} 题未作答：第 ${unanswered.join('、')} 题。` : '全部题目均已作答。' }),
    flagged.length ? h('p', { text: `已标记待检查：第 ${flagged.join('、')} 题。` }) : null,
    unsentCount() ? h('p', { class: 'error', text: `有 ${unsentCount()} 项作答尚未发送到服务器。` }) : null,
    h('p', { text: '交卷后不能再修改答案。确认交卷吗？' }),
  ].filter(Boolean));
  body.dataset.unanswered = String(unanswered.length);
  $('exam-confirm').showModal();
}

// ---------------------------------------------------------------------------------------------- socket

const HEARTBEAT_MS = 20000;

function stopHeartbeat() {
  if (state.heartbeatTimer) { clearInterval(state.heartbeatTimer); state.heartbeatTimer = null; }
}

function heartbeat(socket) {
  if (!socket.connected || state.closed || state.takenOver) return;
  socket.emit('heartbeat', { attempt_id: state.attempt.attempt_id, token: state.token, tab: TAB_ID }, (ack) => {
    if (!ack || ack.ok) return;
    if (ack.code === 'taken_over') takenOver(ack.error);
    else if (ack.code === 'attempt_closed' && !state.closed) showClosedFromServer(ack.error);
  });
}

function connectSocket() {
  if (!window.io) return;
  const socket = window.io('/exam', { auth: { csrf_token: csrf }, reconnection: true, reconnectionDelay: 500, reconnectionDelayMax: 5000 });
  socket.on('connect', () => {
    socket.emit('join_attempt', { attempt_id: state.attempt.attempt_id });
    heartbeat(socket);
  });
  state.heartbeatTimer = setInterval(() => heartbeat(socket), HEARTBEAT_MS);
  socket.on('taken_over', (p) => { if (p.token_tag !== state.tokenTag) takenOver(p.message); });
  socket.on('deadline', (p) => {
    state.deadlineMs = Date.parse(p.deadline_at);
    const w = $('exam-warning');
    w.hidden = false; w.textContent = p.message;
    renderClock();
    refreshPass();  // the old pass expires at the old deadline
  });
  socket.on('closed', (p) => { if (!state.closed) showClosedFromServer(p.message); });
  window.addEventListener('offline', () => socket.disconnect());
  window.addEventListener('online', () => { if (!socket.connected) socket.connect(); });
}

async function start() {
  await ensureOwnTabId();
  let r;
  try { r = await api('POST', `/exam/sessions/${sessionId}/attempt`, undefined, { token: false }); } catch (e) { r = null; }
  if (!r) { $('exam-loading').textContent = '无法连接服务器，请检查网络后刷新页面。'; return; }
  if (!r.ok) {
    const code = r.data && r.data.error && r.data.error.code;
    if (code === 'attempt_closed') { window.location.assign(root.dataset.resultUrl); return; }
    $('exam-loading').textContent = errMessage(r, '无法开始作答');
    return;
  }
  const a = r.data;
  state.attempt = a;
  state.token = a.client_token;
  state.tokenTag = a.token_tag;
  state.pass = a.attempt_pass || null;
  state.deadlineMs = Date.parse(a.deadline_at);
  state.offset = a.server_time_ms - Date.now();
  state.items = a.items.map((i) => ({ ...i, response: [...i.response] }));
  let stored = 0;
  try { stored = Number(localStorage.getItem(seqKey()) || 0); } catch (e) { stored = 0; }
  state.seq = Math.max(a.last_seq || 0, stored, ...state.items.map((i) => i.seq || 0));
  // unsent work from before a reload or a crash: newer than what the server has, so it wins and is resent
  const saved = loadQueue();
  for (const [key, entry] of Object.entries(saved)) {
    const item = state.items.find((i) => i.position === entry.position);
    if (!item) continue;
    if (entry.kind === 'answer' && entry.seq > (item.seq || 0)) { item.response = [...entry.response]; state.queue[key] = entry; }
    if (entry.kind === 'flag') { item.flagged = entry.flagged; state.queue[key] = entry; }
    state.seq = Math.max(state.seq, entry.seq);
  }
  persistQueue();
  // integrity events not yet answered before a reload: resent with their ids (the server ignores repeats)
  state.events = loadEvents();
  if (a.state !== 'in_progress') { showClosed(a); return; }
  $('exam-loading').hidden = true;
  $('exam-main').hidden = false;
  const firstUnanswered = state.items.findIndex((i) => !i.response.length);
  state.index = firstUnanswered >= 0 ? firstUnanswered : 0;
  renderItem();
  renderClock();
  setInterval(renderClock, 250);
  measureOffset();
  setInterval(measureOffset, 60000);
  document.addEventListener('keydown', onKey);
  watchIntegrity();
  window.addEventListener('online', () => {
    state.retryDelay = 1000; state.eventRetryDelay = 1000; renderConnection(); flush(); flushEvents();
  });
  window.addEventListener('offline', () => { renderConnection(); flush(); });
  $('exam-submit').addEventListener('click', openConfirm);
  $('exam-confirm-no').addEventListener('click', () => $('exam-confirm').close());
  $('exam-confirm-yes').addEventListener('click', async () => { $('exam-confirm').close(); await submit(); });
  window.addEventListener('beforeunload', (e) => { if (unsentCount() && !state.closed) { e.preventDefault(); e.returnValue = ''; } });
  connectSocket();
  if (unsentCount()) flush();
  if (state.events.length) flushEvents();
}

start();
