import { JOB_BROWSER_HTML } from './job-browser.page';

/**
 * The operators' dashboard, one self-contained page: it polls `/v1/stats` and
 * the latest failures every two seconds, draws the throughput of the last
 * minutes, lists the workers with their heartbeats, retries a failed job (or
 * all of them) with a button, and shows the latest operator actions from the
 * audit log. Plain HTML and JS, so it needs no build step; everything it shows
 * comes from the public API, called with an admin key that the operator types
 * in and the tab keeps in sessionStorage (never in a URL). The script is a file
 * of its own so that the Content-Security-Policy can forbid inline scripts.
 * The job browser (job-browser.page.ts) shares the page, under `#/jobs`.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Image pipeline</title>
<link rel="icon" href="data:,">
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f5f6f8; }
  body { margin: 0; padding: 1.5rem; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; }
  h2 { font-size: 1rem; margin: 1.5rem 0 .5rem; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: .75rem; }
  .tile { background: #fff; border-radius: .5rem; padding: .75rem 1rem; box-shadow: 0 1px 2px #0002; }
  .tile .value { font-size: 1.8rem; font-weight: 600; font-variant-numeric: tabular-nums; }
  .tile .label { color: #5b6475; font-size: .85rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; border-radius: .5rem; box-shadow: 0 1px 2px #0002; }
  th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #e6e8ec; font-size: .9rem; }
  th { color: #5b6475; font-weight: 500; }
  .gone { color: #b3261e; }
  .ok { color: #1e7a3a; }
  #error { color: #b3261e; min-height: 1.2rem; }
  canvas { width: 100%; height: 140px; background: #fff; border-radius: .5rem; box-shadow: 0 1px 2px #0002; }
  button { cursor: pointer; }
  code { font-size: .85rem; }
  form, #key-bar { margin: 0 0 1rem; }
  nav { margin: 0 0 1rem; }
  nav a { margin-right: 1rem; }
  #job-error { color: #b3261e; }
  .previews { display: flex; flex-wrap: wrap; gap: 1rem; }
  figure { margin: 0; background: #fff; padding: .5rem; border-radius: .5rem; box-shadow: 0 1px 2px #0002; }
  figcaption { font-size: .8rem; color: #5b6475; }
  pre { background: #fff; padding: .75rem; border-radius: .5rem; overflow: auto; }
</style>
</head>
<body>
<h1>Image pipeline <small id="updated" style="color:#5b6475;font-weight:400"></small></h1>
<div id="error" role="alert"></div>
<form id="key-form" hidden>
  <label>Admin API key <input id="key-input" type="password" autocomplete="off" spellcheck="false" size="50" required></label>
  <button type="submit">Use this key</button>
</form>
<p id="key-bar" hidden>Using the key named <b id="key-name"></b> <button id="forget-key" type="button">Forget key</button></p>
<nav><a href="#/">Overview</a><a href="#/jobs">Jobs</a></nav>
<div id="job-error" role="alert"></div>
<main id="overview">
<div class="tiles">
  <div class="tile"><div class="value" id="queued">–</div><div class="label">queued</div></div>
  <div class="tile"><div class="value" id="processing">–</div><div class="label">processing</div></div>
  <div class="tile"><div class="value" id="succeeded">–</div><div class="label">succeeded</div></div>
  <div class="tile"><div class="value" id="failed">–</div><div class="label">failed</div></div>
  <div class="tile"><div class="value" id="stuck">–</div><div class="label">stuck</div></div>
  <div class="tile"><div class="value" id="rate">–</div><div class="label">jobs/s (last minute)</div></div>
  <div class="tile"><div class="value" id="ready">–</div><div class="label">waiting in the jobs queue</div></div>
  <div class="tile"><div class="value" id="dead">–</div><div class="label">dead letters</div></div>
</div>
<h2>Throughput</h2>
<canvas id="chart" width="900" height="140"></canvas>
<h2>Workers</h2>
<table><thead><tr><th>worker</th><th>host</th><th>heartbeat</th><th>in flight</th><th>succeeded</th><th>failed</th><th>up since</th></tr></thead><tbody id="workers"></tbody></table>
<h2>Stuck jobs</h2>
<table><thead><tr><th>job</th><th>status</th><th>reason</th><th>since</th><th></th></tr></thead><tbody id="stuck-jobs"></tbody></table>
<h2>Latest failures <button id="retry-failed" type="button">Retry all failed</button> <small id="bulk-result"></small></h2>
<table><thead><tr><th>job</th><th>code</th><th>reason</th><th>finished</th><th></th></tr></thead><tbody id="failures"></tbody></table>
<h2>Operator actions</h2>
<table><thead><tr><th>when</th><th>key</th><th>action</th><th>target</th><th>request</th></tr></thead><tbody id="audit"></tbody></table>
</main>
${JOB_BROWSER_HTML}<script src="/dashboard.js"></script>
<script src="/job-browser.js"></script>
</body>
</html>
`;

/** The dashboard's script, served at `/dashboard.js`. */
export const DASHBOARD_JS = `(() => {
  const history = [];
  const text = (id, value) => { document.getElementById(id).textContent = value; };
  const cell = (row, value, className) => {
    const td = row.insertCell();
    td.textContent = value;
    if (className) td.className = className;
    return td;
  };
  const KEY_ITEM = 'pipeline.apiKey';
  const keyForm = document.getElementById('key-form');
  const keyBar = document.getElementById('key-bar');
  let timer = null;

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  const fetchJson = async (path, options = {}) => {
    const key = sessionStorage.getItem(KEY_ITEM);
    const response = await fetch(path, { ...options, headers: { ...options.headers, Authorization: 'Bearer ' + key } });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new ApiError(response.status, path + ' answered ' + response.status + (body.message ? ': ' + body.message : ''));
    }
    return response.json();
  };

  /** Without a usable key the page shows only the form; a key that is refused is forgotten. */
  function askForKey(message) {
    sessionStorage.removeItem(KEY_ITEM);
    clearInterval(timer);
    timer = null;
    keyBar.hidden = true;
    keyForm.hidden = false;
    text('error', message);
    document.getElementById('key-input').focus();
  }

  keyForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const input = document.getElementById('key-input');
    sessionStorage.setItem(KEY_ITEM, input.value.trim());
    input.value = '';
    start();
  });
  document.getElementById('forget-key').addEventListener('click', () => askForKey(''));

  function drawChart() {
    const canvas = document.getElementById('chart');
    const context = canvas.getContext('2d');
    context.clearRect(0, 0, canvas.width, canvas.height);
    const max = Math.max(1, ...history.map((point) => point.rate));
    context.strokeStyle = '#3b5bdb';
    context.lineWidth = 2;
    context.beginPath();
    history.forEach((point, index) => {
      const x = (index / Math.max(1, history.length - 1)) * (canvas.width - 20) + 10;
      const y = canvas.height - 10 - (point.rate / max) * (canvas.height - 30);
      if (index === 0) context.moveTo(x, y); else context.lineTo(x, y);
    });
    context.stroke();
    context.fillStyle = '#5b6475';
    context.fillText(max.toFixed(1) + ' jobs/s', 10, 14);
  }

  // Fills a table's body anew: a row an item, tagged as the page's tests find
  // it, its cells by fill.
  function fillRows(tableId, items, tags, fill) {
    const body = document.getElementById(tableId);
    body.replaceChildren();
    for (const item of items) {
      const row = body.insertRow();
      Object.assign(row.dataset, tags(item));
      fill(row, item);
    }
  }

  // A cell that shows a job's id as code.
  function jobIdCell(row, id) {
    const code = document.createElement('code');
    code.textContent = id;
    cell(row, '').append(code);
  }

  function showWorkers(workers) {
    fillRows('workers', workers, (worker) => ({ worker: worker.id }), (row, worker) => {
      cell(row, worker.id);
      cell(row, worker.host);
      cell(row, worker.gone ? 'gone (' + worker.heartbeatAgeSeconds + ' s ago)' : worker.heartbeatAgeSeconds + ' s ago', worker.gone ? 'gone' : 'ok');
      cell(row, worker.inFlight);
      cell(row, worker.jobsSucceeded);
      cell(row, worker.jobsFailed);
      cell(row, new Date(worker.startedAt).toLocaleString());
    });
  }

  function showFailures(jobs) {
    fillRows('failures', jobs, (job) => ({ job: job.id }), (row, job) => {
      jobIdCell(row, job.id);
      cell(row, job.error ? job.error.code : '');
      cell(row, job.error ? job.error.message : '');
      cell(row, job.finishedAt ? new Date(job.finishedAt).toLocaleTimeString() : '');
      row.insertCell().append(actionButton('Retry', 'Retried', '/v1/jobs/' + job.id + '/retry'));
    });
  }

  // A button that POSTs to its path once, saying how it went.
  function actionButton(label, done, path) {
    const button = document.createElement('button');
    button.textContent = label;
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await fetchJson(path, { method: 'POST' });
        button.textContent = done;
      } catch (error) {
        button.disabled = false;
        text('error', label + ' failed: ' + error.message);
      }
    });
    return button;
  }

  function showStuck(jobs) {
    fillRows('stuck-jobs', jobs, (job) => ({ job: job.id }), (row, job) => {
      jobIdCell(row, job.id);
      cell(row, job.status);
      cell(row, job.stuckReason || 'processing since ' + new Date(job.startedAt).toLocaleString());
      cell(row, new Date(job.startedAt || job.createdAt).toLocaleTimeString());
      const actions = row.insertCell();
      actions.append(actionButton('Retry', 'Retried', '/v1/jobs/' + job.id + '/retry'), ' ', actionButton('Cancel', 'Cancelled', '/v1/jobs/' + job.id + '/cancel'));
    });
  }

  document.getElementById('retry-failed').addEventListener('click', async (event) => {
    const button = event.currentTarget;
    if (!confirm('Run up to 100 failed jobs again, oldest first (not the cancelled ones)?')) return;
    button.disabled = true;
    try {
      const report = await fetchJson('/v1/jobs/retry-failed', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      text('bulk-result', 'Retried ' + report.retried.length + ', skipped ' + report.skipped.length + (report.stoppedBecause ? '; stopped early: ' + report.stoppedBecause : ''));
    } catch (error) {
      text('error', 'Retrying the failed jobs failed: ' + error.message);
    } finally {
      button.disabled = false;
    }
    refresh();
  });

  function showAudit(entries) {
    fillRows('audit', entries, ({ action, target }) => ({ action, target }), (row, entry) => {
      cell(row, new Date(entry.at).toLocaleString());
      cell(row, entry.apiKeyName);
      cell(row, entry.action);
      cell(row, entry.target);
      cell(row, entry.requestId);
    });
  }

  async function refresh() {
    try {
      const [stats, failures, stuck, audit] = await Promise.all([
        fetchJson('/v1/stats'),
        fetchJson('/v1/jobs?status=failed&limit=10'),
        fetchJson('/v1/jobs?stuck=true&limit=10'),
        fetchJson('/v1/audit?limit=10'),
      ]);
      for (const status of ['queued', 'processing', 'succeeded', 'failed', 'stuck']) text(status, stats.jobs[status]);
      text('rate', stats.throughput.perSecond.toFixed(2));
      text('ready', stats.queues ? stats.queues.jobs.ready : '?');
      text('dead', stats.queues ? stats.queues.deadLetters.jobs.ready + stats.queues.deadLetters.events.ready : '?');
      text('updated', 'updated ' + new Date(stats.at).toLocaleTimeString());
      text('error', stats.queues ? '' : 'RabbitMQ is unreachable');
      history.push({ at: stats.at, rate: stats.throughput.perSecond });
      if (history.length > 150) history.shift();
      drawChart();
      showWorkers(stats.workers);
      showStuck(stuck);
      showFailures(failures);
      showAudit(audit);
    } catch (error) {
      if (error.status === 401) return askForKey('The key was not accepted (unknown or revoked).');
      if (error.status === 403) return askForKey('That key lacks the admin scope, which the dashboard needs.');
      text('error', 'Cannot reach the pipeline: ' + error.message);
    }
  }

  async function start() {
    keyForm.hidden = true;
    text('error', '');
    try {
      text('key-name', (await fetchJson('/v1/keys/me')).name);
    } catch (error) {
      if (error.status === 401) return askForKey('The key was not accepted (unknown or revoked).');
    }
    await refresh();
    if (!sessionStorage.getItem(KEY_ITEM)) return;
    keyBar.hidden = false;
    if (timer === null) timer = setInterval(refresh, 2000);
    window.dispatchEvent(new Event('pipeline-key'));
  }

  if (sessionStorage.getItem(KEY_ITEM)) start();
  else askForKey('');
})();
`;
