// The panel room: the queue for everyone; for the chair, the controls, live submission progress, the aggregate
// and flags. All content comes from the server's per-user state; nothing here decides a score.
import { connectPanel, connLabel, fmtSeconds, h, serverNow, syncClock } from './live.js';

const root = document.getElementById('room');
const panelId = Number(root.dataset.panelId);
const isChair = root.dataset.isChair === '1';
const sheetUrl = (caseId) => root.dataset.sheetUrl.replace('999999999', String(caseId));
const connEl = document.getElementById('conn');
const errorEl = document.getElementById('room-error');
const tbody = document.querySelector('#queue tbody');
const detail = document.getElementById('detail');
let state = null;
let selected = null;
const drafts = {}; // text typed into reason/comment inputs survives re-renders

function showError(message) {
  errorEl.hidden = !message;
  errorEl.textContent = message || '';
}

const live = connectPanel(panelId, {
  onState: (s) => { state = s; syncClock(s.server_now); render(); },
  onStatus: (kind, message) => { connLabel(connEl, kind, message); if (kind === 'error') showError(message); },
});

async function chair(action, extra = {}) {
  showError('');
  const ack = await live.call('chair', { panel_id: panelId, action, ...extra });
  if (!ack.ok) showError(ack.error);
  return ack;
}

const callNext = document.getElementById('call-next');
if (callNext) callNext.addEventListener('click', () => chair('call_next'));

function draftInput(key, attrs) {
  const input = h('input', { type: 'text', maxlength: '500', value: drafts[key] || '', ...attrs });
  input.addEventListener('input', () => { drafts[key] = input.value; });
  return input;
}

function progress(c) {
  if (!c.members) return '';
  const scoring = c.members.filter((m) => m.status !== 'recused');
  const done = scoring.filter((m) => m.status === 'submitted').length;
  return `${done}/${scoring.length} 已提交`;
}

function queueRow(c) {
  const sheet = c.my_sheet;
  const cells = [
    h('td', {}, String(c.queue_order), c.carried_over ? h('span', { class: 'tag warn', text: '顺延' }) : null),
    h('td', {}, c.candidate.name),
    h('td', {}, c.candidate.ticket),
    h('td', {}, h('span', { class: 'tag ' + (c.state === 'finalised' ? 'ok' : c.state === 'flagged' || c.state === 'absent' ? 'err' : ''), text: c.state_label }),
      c.score ? ` ${c.score} 分` : ''),
    h('td', {}, sheet ? h('a', { href: sheetUrl(c.id), dataset: { sheetLink: c.id } }, sheet.status_label + (sheet.total && sheet.status === 'submitted' ? `（${sheet.total}）` : '')) : '—'),
  ];
  if (isChair) {
    cells.push(h('td', { dataset: { progress: c.id } }, progress(c)));
    const actions = h('td', { class: 'actions' });
    const btn = (label, action, extra = {}, cls = 'small') => h('button', { type: 'button', class: cls, dataset: { action, case: c.id }, onclick: () => chair(action, { case_id: c.id, ...extra }) }, label);
    if (c.state === 'waiting') actions.append(btn('签到', 'check_in'));
    if (c.state === 'waiting' || c.state === 'checked_in') actions.append(btn('缺考', 'absent', {}, 'small danger'), btn('顺延至队尾', 'carry_over'));
    if (['in_progress', 'scoring', 'flagged', 'finalised'].includes(c.state)) {
      actions.append(h('button', { type: 'button', class: 'small', onclick: () => { selected = c.id; render(); } }, '详情'));
    }
    cells.push(actions);
  }
  return h('tr', { class: c.id === state.current_case_id ? 'current' : '', dataset: { caseRow: c.id, state: c.state } }, cells);
}

function timerBlock(c) {
  const phases = state.rubric.phases || [];
  const block = h('div', { class: 'timer-block' });
  if (c.timer.phase_index !== null && c.timer.started_at) {
    const el = h('span', { class: 'timer', dataset: { timerStart: c.timer.started_at, timerSeconds: c.timer.phase_seconds || 0 } });
    block.append(h('div', {}, `${c.timer.phase_name}：`, el));
  } else {
    block.append(h('div', { class: 'hint' }, '计时器未运行'));
  }
  if (isChair && (c.state === 'in_progress' || c.state === 'checked_in')) {
    const row = h('div', { class: 'actions' });
    phases.forEach((p, i) => row.append(h('button', { type: 'button', class: 'small', dataset: { action: 'start_phase', phase: i }, onclick: () => chair('start_phase', { case_id: c.id, phase: i }) }, `开始：${p.name}（${Math.round(p.seconds / 60)} 分钟）`)));
    if (c.timer.phase_index !== null) row.append(h('button', { type: 'button', class: 'small', dataset: { action: 'stop_phase' }, onclick: () => chair('stop_phase', { case_id: c.id }) }, '停止计时'));
    if (c.state === 'in_progress') row.append(h('button', { type: 'button', class: 'small primary', dataset: { action: 'end' }, onclick: () => chair('end', { case_id: c.id }) }, '结束答辩，进入评分'));
    block.append(row);
  }
  for (const entry of c.timer.log || []) block.append(h('div', { class: 'hint' }, `${entry.name}：用时 ${fmtSeconds(entry.seconds)}`));
  return block;
}

function caseDetail(c) {
  const box = h('section', { class: 'card case-detail', dataset: { detail: c.id, state: c.state } },
    h('h2', {}, `${c.candidate.name}（${c.candidate.ticket}）`, ' ', h('span', { class: 'tag', text: c.state_label })));
  box.append(timerBlock(c));
  if (c.my_sheet) box.append(h('p', {}, '我的评分表：', h('a', { href: sheetUrl(c.id) }, c.my_sheet.status_label)));
  if (!isChair) return box;
  const table = h('table', { class: 'table compact' }, h('thead', {}, h('tr', {}, h('th', {}, '专家'), h('th', {}, '状态'), h('th', { class: 'num' }, '总分'), h('th', {}, '退回重评'))));
  const body = h('tbody');
  for (const m of c.members || []) {
    const cell = h('td');
    if (m.status === 'submitted' && 'total' in m && !c.locked) {
      const key = `reopen-${c.id}-${m.sheet_id}`;
      cell.append(draftInput(key, { placeholder: '退回理由', 'aria-label': '退回理由', dataset: { reopenReason: m.sheet_id } }),
        h('button', { type: 'button', class: 'small', dataset: { action: 'reopen_sheet', sheet: m.sheet_id }, onclick: () => chair('reopen_sheet', { sheet_id: m.sheet_id, reason: drafts[key] || '' }).then((a) => { if (a.ok) drafts[key] = ''; }) }, '退回重评'));
    }
    if (m.reopened_count) cell.prepend(h('span', { class: 'tag warn' }, `已退回 ${m.reopened_count} 次 `));
    body.append(h('tr', { dataset: { member: m.panelist_id, status: m.status } }, h('td', {}, m.name), h('td', {}, m.status_label), h('td', { class: 'num', dataset: { total: m.panelist_id } }, m.total || (m.status === 'submitted' ? '（提交本人评分后可见）' : '')), cell));
  }
  table.append(body);
  box.append(h('p', { dataset: { progress: c.id } }, progress(c)), table);
  const agg = c.aggregate;
  if (agg) {
    const aggBox = h('div', { class: 'aggregate', dataset: { aggregate: c.id } });
    aggBox.append(h('p', {}, h('b', {}, '合议成绩：'), h('span', { dataset: { aggregateScore: c.id } }, agg.score !== null ? `${agg.score} 分` : agg.error)));
    for (const f of agg.flags) aggBox.append(h('div', { class: 'flag', dataset: { flag: f.kind } }, f.message));
    if (agg.resolved) aggBox.append(h('p', { class: 'tag ok' }, `已确认（resolved）：${agg.chair_comment}`));
    if (c.state === 'flagged') {
      const key = `confirm-${c.id}`;
      aggBox.append(h('div', { class: 'actions' }, draftInput(key, { placeholder: '确认意见（必填）', 'aria-label': '确认分差的意见（必填）', dataset: { confirmComment: c.id } }),
        h('button', { type: 'button', class: 'small', dataset: { action: 'confirm', case: c.id }, onclick: () => chair('confirm', { case_id: c.id, comment: drafts[key] || '' }) }, '确认分差并保留评分')));
    }
    if (c.state === 'scoring' && agg.score !== null) {
      // irreversible: the confirmation page (templates/_confirm.html) states the score to be locked and asks for a reason
      aggBox.append(h('div', { class: 'actions' }, h('a', { class: 'btn primary', href: `/defense/room/${panelId}/finalise/${c.id}`, dataset: { action: 'finalise', case: c.id } }, '确定成绩（锁定）…')));
    }
    box.append(aggBox);
  } else if (c.all_in === false && ['scoring', 'flagged'].includes(c.state)) {
    box.append(h('p', { class: 'hint' }, '所有专家提交后显示合议成绩。'));
  }
  if (c.state === 'finalised') box.append(h('p', { class: 'panel panel-ok', dataset: { finalScore: c.id } }, `已确定答辩成绩：${c.score} 分（已锁定）`));
  return box;
}

function render() {
  if (!state) return;
  tbody.replaceChildren(...state.cases.map(queueRow));
  if (!state.cases.length) tbody.append(h('tr', {}, h('td', { colspan: 7, class: 'hint' }, '本组暂无考生')));
  const active = state.cases.filter((c) => ['in_progress', 'scoring', 'flagged'].includes(c.state) || c.id === selected);
  detail.replaceChildren(...active.map(caseDetail));
  tick();
}

function tick() {
  for (const el of document.querySelectorAll('[data-timer-start]')) {
    const elapsed = (serverNow() - Date.parse(el.dataset.timerStart)) / 1000;
    const limit = Number(el.dataset.timerSeconds) || 0;
    el.textContent = limit ? `${fmtSeconds(elapsed)} / ${fmtSeconds(limit)}` : fmtSeconds(elapsed);
    el.classList.toggle('over', limit > 0 && elapsed > limit);
  }
}
setInterval(tick, 1000);
