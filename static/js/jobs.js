// A job's page: polls /jobs/<id>.json while the job is queued or running, then reloads to show the result.
const box = document.getElementById('job');

function text(id, value) {
  const el = document.getElementById(id);
  if (el) el.textContent = value;
}

function show(s) {
  document.getElementById('job-progress').value = s.percent;
  text('job-percent', `${s.percent}%`);
  text('job-state', s.state_label);
  text('job-rows', s.total ? `${s.done} / ${s.total}` : '—');
  text('job-phase', s.phase || '—');
  text('job-eta', s.eta_seconds === null ? '—' : `约 ${s.eta_seconds} 秒`);
  text('job-message', s.message || '');
  const hint = document.getElementById('job-hint');
  if (hint) {
    hint.textContent = s.hint || '';
    hint.hidden = !s.hint;
  }
}

async function poll() {
  try {
    const resp = await fetch(box.dataset.statusUrl, { headers: { Accept: 'application/json' } });
    if (!resp.ok) throw new Error(String(resp.status));
    const s = await resp.json();
    show(s);
    if (s.active) {
      setTimeout(poll, 1000);
    } else {
      window.location.reload();
    }
  } catch (err) {
    text('job-message', '无法获取任务进度，请刷新页面');
    setTimeout(poll, 5000);
  }
}

if (box && box.dataset.active === '1') {
  setTimeout(poll, 800);
}
