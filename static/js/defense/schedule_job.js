// Polls the scheduler job's JSON status while it is queued or running; reloads the page when it ends.
// The job itself runs in the background worker; its own page (/jobs/<id>) is linked once known.
const box = document.getElementById('job');
const LABELS = { idle: '未运行', running: '运行中', done: '已完成', failed: '无法排程' };

function linkJob(jobId) {
  if (!jobId || document.getElementById('job-link')) return;
  const a = document.createElement('a');
  a.id = 'job-link';
  a.href = `/jobs/${jobId}`;
  a.textContent = `查看后台任务 #${jobId}`;
  box.querySelector('.job-status').appendChild(a);
}

async function poll() {
  try {
    const resp = await fetch(box.dataset.statusUrl, { headers: { Accept: 'application/json' } });
    if (!resp.ok) throw new Error(String(resp.status));
    const s = await resp.json();
    document.getElementById('job-progress').value = s.progress;
    document.getElementById('job-state').textContent = LABELS[s.state] || s.state;
    document.getElementById('job-message').textContent = s.message;
    linkJob(s.job_id);
    if (s.state === 'running') {
      setTimeout(poll, 1000);
    } else {
      window.location.reload();
    }
  } catch (err) {
    document.getElementById('job-message').textContent = '无法获取排程进度，请刷新页面';
  }
}

if (box && box.dataset.state === 'running') {
  setTimeout(poll, 800);
}
