/**
 * The dashboard's job browser: a page of jobs filtered as the operator asks
 * (status, error code, API key, creation time, stuck-ness, id), paged by the
 * API's cursor, and a job's own page with its operations, timeline, previews
 * of its input and outputs, and the retry and cancel buttons. Client-side
 * routes in the URL's hash (`#/jobs?status=failed`, `#/jobs/<id>`), so a view
 * can be linked; the key stays in sessionStorage as for the rest of the page.
 */
export const JOB_BROWSER_HTML = `<section id="browser" hidden>
<h2>Jobs</h2>
<form id="job-filters">
  <input name="idPrefix" placeholder="job id, or its start" size="22" spellcheck="false" aria-label="job id">
  <select name="status" aria-label="status"><option value="">any status</option><option>queued</option><option>processing</option><option>succeeded</option><option>failed</option></select>
  <input name="errorCode" placeholder="error code" size="16" spellcheck="false" aria-label="error code">
  <input name="apiKeyId" placeholder="API key id" size="22" spellcheck="false" aria-label="API key id">
  <label>from <input name="createdFrom" type="datetime-local"></label>
  <label>to <input name="createdTo" type="datetime-local"></label>
  <label><input name="stuck" type="checkbox" value="true"> stuck only</label>
  <button type="submit">Search</button>
</form>
<table><thead><tr><th></th><th>job</th><th>status</th><th>error</th><th>key</th><th>created</th><th>finished</th></tr></thead><tbody id="job-list"></tbody></table>
<p><button id="job-first" type="button">Newest</button> <button id="job-next" type="button">Next page</button> <small id="job-page-note"></small></p>
</section>
<section id="job-page" hidden>
<p><a href="#/jobs">← Jobs</a></p>
<h2>Job <code id="job-id"></code> <span id="job-actions"></span></h2>
<table><tbody id="job-facts"></tbody></table>
<h2>Operations</h2>
<pre id="job-operations"></pre>
<h2>Input</h2>
<div id="job-input" class="previews"></div>
<h2>Outputs</h2>
<div id="job-outputs" class="previews"></div>
<h2>Timeline</h2>
<table><thead><tr><th>when</th><th>event</th><th>attempt</th><th>delivery</th><th>worker</th><th>detail</th></tr></thead><tbody id="job-timeline"></tbody></table>
</section>
`;

/** The browser's script, served at `/job-browser.js`. */
export const JOB_BROWSER_JS = `(() => {
  const KEY_ITEM = 'pipeline.apiKey';
  const PAGE_SIZE = 25;
  const $ = (id) => document.getElementById(id);
  const FILTERS = ['idPrefix', 'status', 'errorCode', 'apiKeyId', 'createdFrom', 'createdTo', 'stuck'];
  // The cursors of the pages shown so far, for "Newest" and "Next page".
  let cursor = null;
  let nextCursor = null;

  const request = async (path, options = {}) => {
    const response = await fetch(path, { ...options, headers: { ...options.headers, Authorization: 'Bearer ' + sessionStorage.getItem(KEY_ITEM) } });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      const message = Array.isArray(body.message) ? body.message.join('; ') : body.message;
      throw new Error(path.split('?')[0] + ' answered ' + response.status + (message ? ': ' + message : ''));
    }
    return response;
  };
  const say = (message) => { $('job-error').textContent = message; };
  const cell = (row, value) => { const td = row.insertCell(); td.textContent = value == null ? '' : value; return td; };
  const when = (iso) => iso ? new Date(iso).toLocaleString() : '';
  const code = (value) => { const element = document.createElement('code'); element.textContent = value; return element; };

  // The query of the list as the form and the hash give it.
  function filtersFromHash() {
    const query = location.hash.split('?')[1] || '';
    return new URLSearchParams(query);
  }

  function fillForm(params) {
    const form = $('job-filters');
    for (const name of FILTERS) {
      const field = form.elements[name];
      const value = params.get(name) || '';
      if (field.type === 'checkbox') field.checked = value === 'true';
      else if (field.type === 'datetime-local') field.value = value ? toLocalInput(value) : '';
      else field.value = value;
    }
  }

  function toLocalInput(iso) {
    const date = new Date(iso);
    return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  }

  $('job-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const field = form.elements[name];
      if (field.type === 'checkbox') { if (field.checked) params.set(name, 'true'); continue; }
      const value = field.value.trim();
      if (!value) continue;
      params.set(name, field.type === 'datetime-local' ? new Date(value).toISOString() : name === 'errorCode' ? value.toUpperCase() : value);
    }
    location.hash = '#/jobs' + (params.toString() ? '?' + params : '');
  });

  async function showList(startAt) {
    const params = filtersFromHash();
    fillForm(params);
    params.set('limit', String(PAGE_SIZE));
    if (startAt) params.set('cursor', startAt);
    const response = await request('/v1/jobs?' + params);
    const jobs = await response.json();
    cursor = startAt;
    nextCursor = response.headers.get('Next-Cursor');
    const body = $('job-list');
    body.replaceChildren();
    for (const job of jobs) listRow(body, job);
    $('job-next').disabled = !nextCursor;
    $('job-first').disabled = !cursor;
    $('job-page-note').textContent = jobs.length === 0 ? 'No job matches.' : jobs.length + ' jobs' + (nextCursor ? ', more on the next page' : '');
  }

  function listRow(body, job) {
    const row = body.insertRow();
    row.dataset.job = job.id;
    row.dataset.status = job.status;
    const thumb = row.insertCell();
    if (job.status === 'succeeded' && job.outputs.length > 0 && !job.outputsExpiredAt)
      thumb.append(previewImage('/v1/jobs/' + job.id + '/result/' + encodeURIComponent(job.outputs[0].name) + '/preview', 48));
    const link = document.createElement('a');
    link.href = '#/jobs/' + job.id;
    link.append(code(job.id));
    row.insertCell().append(link);
    cell(row, job.status + (job.stuck ? ' (stuck)' : ''));
    cell(row, job.error ? job.error.code : '');
    cell(row, job.apiKeyId ? job.apiKeyId.slice(0, 8) : '');
    cell(row, when(job.createdAt));
    cell(row, when(job.finishedAt));
  }

  // An image whose bytes are fetched with the key, then shown as a data: URL
  // (the page's Content-Security-Policy allows those, not blob: URLs).
  function previewImage(path, size) {
    const image = document.createElement('img');
    image.alt = 'preview';
    image.className = 'preview';
    image.style.maxWidth = image.style.maxHeight = size + 'px';
    request(path).then((response) => response.blob()).then((blob) => new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.readAsDataURL(blob);
    })).then((url) => { image.src = url; }).catch((error) => { image.replaceWith(document.createTextNode(error.message)); });
    return image;
  }

  $('job-next').addEventListener('click', () => run(() => showList(nextCursor)));
  $('job-first').addEventListener('click', () => run(() => showList(null)));

  async function showJob(id) {
    const [job, events] = await Promise.all([
      request('/v1/jobs/' + id).then((response) => response.json()),
      request('/v1/jobs/' + id + '/events').then((response) => response.json()),
    ]);
    $('job-id').textContent = job.id;
    jobFacts(job);
    jobActions(job);
    $('job-operations').textContent = JSON.stringify({ operations: job.operations, variants: job.variants }, null, 2);
    jobInput(job);
    jobOutputs(job);
    jobTimeline(events);
  }

  function jobFacts(job) {
    const facts = [
      ['status', job.status + (job.stuck ? ' (stuck' + (job.stuckReason ? ': ' + job.stuckReason : '') + ')' : '')],
      ['error', job.error ? job.error.code + ': ' + job.error.message : ''],
      ['attempt', job.attempt], ['deliveries', job.deliveries], ['worker', job.workerId], ['API key', job.apiKeyId], ['trace', job.traceId],
      ['created', when(job.createdAt)], ['started', when(job.startedAt)], ['finished', when(job.finishedAt)],
    ];
    const body = $('job-facts');
    body.replaceChildren();
    for (const [name, value] of facts) {
      const row = body.insertRow();
      row.dataset.fact = name;
      cell(row, name);
      cell(row, value);
    }
  }

  function jobActions(job) {
    const actions = $('job-actions');
    actions.replaceChildren();
    const unfinished = job.status === 'queued' || job.status === 'processing';
    if (job.status === 'failed' || job.stuck) actions.append(action('Retry', '/v1/jobs/' + job.id + '/retry', job.id), ' ');
    if (unfinished) actions.append(action('Cancel', '/v1/jobs/' + job.id + '/cancel', job.id));
  }

  function action(label, path, id) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = label;
    button.addEventListener('click', async () => {
      if (!confirm(label + ' job ' + id + '?')) return;
      button.disabled = true;
      await run(async () => { await request(path, { method: 'POST' }); await showJob(id); });
      button.disabled = false;
    });
    return button;
  }

  function jobInput(job) {
    const box = $('job-input');
    box.replaceChildren();
    if (job.inputExpiredAt) box.textContent = 'Removed by retention at ' + when(job.inputExpiredAt) + '.';
    else box.append(previewImage('/v1/jobs/' + job.id + '/input/preview', 256));
  }

  function jobOutputs(job) {
    const box = $('job-outputs');
    box.replaceChildren();
    if (job.outputsExpiredAt) return void (box.textContent = 'Removed by retention at ' + when(job.outputsExpiredAt) + '.');
    if (job.status !== 'succeeded') return void (box.textContent = 'None yet (' + job.status + ').');
    for (const output of job.outputs) {
      const figure = document.createElement('figure');
      figure.dataset.output = output.name;
      const caption = document.createElement('figcaption');
      caption.textContent = output.name + ': ' + output.format + ' ' + output.width + '×' + output.height + ', ' + output.sizeBytes + ' bytes';
      figure.append(previewImage('/v1/jobs/' + job.id + '/result/' + encodeURIComponent(output.name) + '/preview', 256), caption);
      box.append(figure);
    }
  }

  function jobTimeline(events) {
    const body = $('job-timeline');
    body.replaceChildren();
    for (const event of events) {
      const row = body.insertRow();
      row.dataset.event = event.type;
      cell(row, when(event.at));
      cell(row, event.type);
      cell(row, event.attempt);
      cell(row, event.delivery);
      cell(row, event.workerId);
      cell(row, describe(event.detail));
    }
  }

  function describe(detail) {
    if (!detail) return '';
    const parts = [];
    if (detail.code) parts.push(detail.code + (detail.message ? ': ' + detail.message : ''));
    if (detail.reason) parts.push(detail.reason);
    if (detail.outputs) parts.push(detail.outputs.map((output) => output.name + ' ' + output.width + '×' + output.height).join(', '));
    if (detail.apiKeyId) parts.push('by key ' + detail.apiKeyId.slice(0, 8));
    return parts.join('; ');
  }

  async function run(step) {
    try {
      say('');
      await step();
    } catch (error) {
      say(error.message);
    }
  }

  // The view the hash names: the overview, the list, or a job.
  function route() {
    const hash = location.hash;
    const job = /^#\\/jobs\\/([0-9a-fA-F-]{36})$/.exec(hash);
    const list = !job && /^#\\/jobs(\\?|$)/.test(hash);
    $('overview').hidden = Boolean(job || list);
    $('browser').hidden = !list;
    $('job-page').hidden = !job;
    if (!sessionStorage.getItem(KEY_ITEM)) return;
    if (job) run(() => showJob(job[1]));
    else if (list) run(() => showList(null));
  }

  window.addEventListener('hashchange', route);
  window.addEventListener('pipeline-key', route);
  route();
})();
`;
