// flashd web UI: plain JavaScript over the daemon's JSON-RPC 2.0 API and streaming endpoints.
'use strict';

let rpcId = 0;
async function rpc(method, params) {
  const res = await fetch('/rpc', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params: params || {} }),
  });
  const body = await res.json();
  if (body.error) {
    const e = new Error(body.error.message + (body.error.data && body.error.data.detail ? ': ' + body.error.data.detail : ''));
    e.rpc = body.error;
    throw e;
  }
  return body.result;
}

const $ = (id) => document.getElementById(id);
const hex = (n) => '0x' + Number(n).toString(16).padStart(6, '0');
const kib = (n) => n >= 1048576 ? (n / 1048576) + ' MiB' : (n / 1024) + ' KiB';

function show(el, text, isError) {
  el.textContent = text;
  el.classList.toggle('error', !!isError);
}

async function loadChip() {
  try {
    const c = await rpc('chip.info');
    const dl = document.createElement('dl');
    const rows = [
      ['name', c.name], ['vendor', c.vendor], ['JEDEC ID', c.jedec_id], ['size', kib(c.size)],
      ['page', c.page_size + ' bytes'], ['erase sizes', c.erase_sizes.map(kib).join(', ')],
      ['voltage', c.voltage], ['max clock', (c.max_clock_hz / 1e6) + ' MHz'], ['source', c.source],
      ['protection', c.protection ? c.protection.description : '?'],
    ];
    for (const [k, v] of rows) {
      const dt = document.createElement('dt'); dt.textContent = k;
      const dd = document.createElement('dd'); dd.textContent = v;
      dl.append(dt, dd);
    }
    $('chip').replaceChildren(dl);
  } catch (e) {
    show($('chip'), e.message, true);
  }
}

async function loadDaemon() {
  try {
    const d = await rpc('daemon.info');
    $('daemon').textContent = `v${d.version} · ${d.backend} · ${(d.spi_speed_hz / 1e6).toFixed(1)} MHz`;
  } catch (e) { /* shown elsewhere */ }
}

async function loadJobs() {
  const list = await rpc('job.list');
  const tbody = $('jobs').querySelector('tbody');
  tbody.replaceChildren(...list.jobs.map((j) => {
    const tr = document.createElement('tr');
    const res = j.error ? j.error.message : (j.result && j.result.sha256 ? 'sha256 ' + j.result.sha256.slice(0, 16) + '…' : '');
    for (const v of [j.id, j.type, j.state, j.params ? `${hex(j.params.offset || 0)} +${j.params.length || ''}` : '', res]) {
      const td = document.createElement('td'); td.textContent = v; tr.append(td);
    }
    return tr;
  }));
}

async function loadBackups() {
  const list = await rpc('backup.list');
  const tbody = $('backups').querySelector('tbody');
  tbody.replaceChildren(...list.backups.map((b) => {
    const tr = document.createElement('tr');
    for (const v of [b.id, b.created, b.ranges.length, b.bytes]) {
      const td = document.createElement('td'); td.textContent = v; tr.append(td);
    }
    const td = document.createElement('td');
    const btn = document.createElement('button');
    btn.textContent = 'Restore';
    btn.onclick = async () => {
      if (!confirm(`Write backup ${b.id} back to the chip?`)) return;
      try { watch((await rpc('backup.restore', { id: b.id })).job.id); } catch (e) { show($('result'), e.message, true); }
    };
    td.append(btn); tr.append(td);
    return tr;
  }));
}

let current = null;
function watch(jobId) {
  current = jobId;
  $('progress').hidden = false;
  const es = new EventSource(`/api/v1/jobs/${jobId}/events`);
  es.addEventListener('progress', (ev) => {
    const p = JSON.parse(ev.data);
    const pct = p.total ? Math.floor(100 * p.done / p.total) : 0;
    $('bar').value = pct;
    $('progress-text').textContent = `${p.phase} ${pct}% ${p.rate ? (p.rate / 1024).toFixed(0) + ' KiB/s' : ''} ${p.eta ? p.eta.toFixed(0) + ' s left' : ''}`;
  });
  es.addEventListener('done', (ev) => {
    es.close();
    const j = JSON.parse(ev.data);
    $('progress').hidden = true;
    show($('result'), JSON.stringify(j, null, 2), j.state !== 'done');
    current = null;
    refresh();
  });
  es.onerror = () => { es.close(); $('progress').hidden = true; refresh(); };
}

async function refresh() {
  await Promise.allSettled([loadChip(), loadJobs(), loadBackups()]);
}

function wire() {
  $('probe').onclick = async () => { try { watch((await rpc('chip.probe')).job.id); } catch (e) { show($('result'), e.message, true); } };
  $('blank').onclick = async () => { try { watch((await rpc('flash.blank_check')).job.id); } catch (e) { show($('result'), e.message, true); } };
  $('erase').onclick = async () => {
    if (!confirm('Erase the whole chip? A backup is kept first.')) return;
    try { watch((await rpc('flash.erase', { whole_chip: true })).job.id); } catch (e) { show($('result'), e.message, true); }
  };
  $('cancel').onclick = async () => { if (current) await rpc('job.cancel', { id: current }); };
  $('write-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const file = $('image').files[0];
    if (!file) return;
    const q = new URLSearchParams({ offset: $('offset').value || '0' });
    if ($('full').checked) q.set('mode', 'full');
    if ($('unlock').checked) q.set('unlock', '1');
    show($('result'), `writing ${file.name} (${file.size} bytes)…`);
    $('progress').hidden = false;
    const poll = setInterval(async () => {
      const list = await rpc('job.list');
      const run = list.jobs.find((j) => j.state === 'running');
      if (run && run.progress) {
        const p = run.progress;
        const pct = p.total ? Math.floor(100 * p.done / p.total) : 0;
        $('bar').value = pct;
        $('progress-text').textContent = `${p.phase} ${pct}%`;
        current = run.id;
      }
    }, 500);
    try {
      const res = await fetch('/api/v1/flash?' + q, { method: 'PUT', body: file, headers: { 'Content-Type': 'application/octet-stream' } });
      const body = await res.json();
      show($('result'), JSON.stringify(body, null, 2), !res.ok);
    } catch (e) {
      show($('result'), e.message, true);
    } finally {
      clearInterval(poll);
      $('progress').hidden = true;
      current = null;
      refresh();
    }
  };
}

wire();
loadDaemon();
refresh();
