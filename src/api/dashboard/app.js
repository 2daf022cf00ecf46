// The monitoring dashboard: reads /dashboard/summary and /mailboxes with the admin's API token,
// and calls the same API for actions. No build step; Chart.js is served by the API.
(() => {
  const $ = (sel) => document.querySelector(sel);
  const tokenInput = $('#token');
  const charts = {};
  let timer;

  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem('crmSyncToken', fromHash);
    history.replaceState(null, '', location.pathname);
  }
  tokenInput.value = sessionStorage.getItem('crmSyncToken') || '';

  async function api(method, path) {
    const res = await fetch(path, { method, headers: { authorization: `Bearer ${tokenInput.value}` } });
    const body = res.headers.get('content-type')?.includes('json') ? await res.json() : null;
    if (!res.ok) throw new Error((body && body.message) || `${res.status} ${res.statusText}`);
    return body;
  }

  const text = (v) => document.createTextNode(v == null ? '' : String(v));
  const cell = (...children) => {
    const td = document.createElement('td');
    for (const c of children) td.append(typeof c === 'string' || typeof c === 'number' ? text(c) : c);
    return td;
  };
  const badge = (state) => {
    const s = document.createElement('span');
    s.className = `state ${state}`;
    s.dataset.state = state;
    s.textContent = state.replace('_', ' ');
    return s;
  };
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

  function actions(mailboxId) {
    const wrap = document.createElement('span');
    for (const [label, path] of [['Test & Enable', 'test-and-enable'], ['Sync now', 'sync-now'], ['Disable', 'disable']]) {
      const b = document.createElement('button');
      b.textContent = label;
      b.dataset.action = path;
      b.dataset.mailbox = mailboxId;
      b.addEventListener('click', async () => {
        b.disabled = true;
        try {
          await api('POST', `/mailboxes/${mailboxId}/${path}`);
          setStatus(`${label}: done`);
        } catch (err) {
          setStatus(`${label} failed: ${err.message}`, true);
        } finally {
          b.disabled = false;
          refresh();
        }
      });
      wrap.append(b, text(' '));
    }
    return wrap;
  }

  function setStatus(message, bad) {
    const el = $('#status');
    el.textContent = message;
    el.style.color = bad ? '#f1948a' : '#aab4bf';
  }

  function chart(id, type, labels, datasets, options = {}) {
    if (charts[id]) {
      charts[id].data.labels = labels;
      charts[id].data.datasets.forEach((d, i) => Object.assign(d, datasets[i]));
      charts[id].update('none');
      return;
    }
    charts[id] = new Chart($(`#${id}`), { type, data: { labels, datasets }, options: { animation: false, maintainAspectRatio: false, ...options } });
  }

  function fillTable(id, rows) {
    const body = $(`#${id} tbody`);
    body.replaceChildren(...rows);
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      const td = cell('none');
      td.colSpan = 5;
      td.className = 'muted';
      tr.append(td);
      body.append(tr);
    }
  }

  const STATE_COLOURS = { idle: '#1e8449', syncing: '#27ae60', failing: '#e67e22', error: '#c0392b', disabled: '#d68910', awaiting_approval: '#b7950b' };

  async function refresh() {
    try {
      const [summary, mailboxes] = await Promise.all([api('GET', '/dashboard/summary'), api('GET', '/mailboxes')]);
      const states = Object.keys(summary.mailboxesByState);
      chart('states', 'doughnut', states, [{ data: states.map((s) => summary.mailboxesByState[s]), backgroundColor: states.map((s) => STATE_COLOURS[s] || '#999') }]);
      chart('lag', 'bar', summary.syncLag.map((b) => b.bucket), [{ label: 'mailboxes', data: summary.syncLag.map((b) => b.mailboxes), backgroundColor: '#2463eb' }], { plugins: { legend: { display: false } } });
      chart('hourly', 'bar', summary.itemsPerHour.map((h) => h.hour.slice(11)), [{ label: 'items', data: summary.itemsPerHour.map((h) => h.items), backgroundColor: '#2463eb' }], { plugins: { legend: { display: false } } });
      chart('servers', 'bar', summary.servers.map((s) => s.name), [
        { label: 'in use', data: summary.servers.map((s) => s.inUse), backgroundColor: '#2463eb' },
        { label: 'cap', data: summary.servers.map((s) => s.cap), backgroundColor: '#c7ccd3' },
      ], { indexAxis: 'y' });

      fillTable('failing', summary.failing.map((m) => {
        const tr = document.createElement('tr');
        tr.dataset.mailbox = m.id;
        tr.append(cell(m.emailAddress), cell(badge(m.state)), cell(m.lastError), cell(when(m.lastErrorAt)), cell(actions(m.id)));
        return tr;
      }));
      fillTable('progress', summary.inProgress.map((p) => {
        const tr = document.createElement('tr');
        const bar = document.createElement('div');
        bar.className = 'bar';
        const fill = document.createElement('div');
        fill.style.width = `${p.itemsTotal ? Math.round((100 * p.itemsDone) / p.itemsTotal) : 0}%`;
        bar.append(fill);
        tr.append(cell(p.emailAddress), cell(p.folder), cell(bar, `${p.itemsDone} / ${p.itemsTotal}`));
        return tr;
      }));
      const failingState = new Map(summary.failing.map((f) => [f.id, f.state]));
      fillTable('mailboxes', mailboxes.map((m) => {
        const state = failingState.get(m.id) || (!m.incoming.enabled ? (m.incoming.status === 'failure' ? 'error' : 'disabled') : m.progress ? 'syncing' : 'idle');
        const tr = document.createElement('tr');
        tr.dataset.mailbox = m.id;
        tr.append(cell(m.emailAddress), cell(badge(state)), cell(when(m.statistics.lastSuccessAt)), cell(when(m.statistics.nextSyncAt)), cell(actions(m.id)));
        return tr;
      }));
      fillTable('alerts', summary.alerts.map((a) => {
        const tr = document.createElement('tr');
        const level = document.createElement('span');
        level.className = `level-${a.level}`;
        level.textContent = a.level;
        tr.append(cell(when(a.createdAt)), cell(level), cell(a.scope.replace('_', ' ')), cell(a.audience.replace('_', ' ')), cell(a.message));
        return tr;
      }));
      setStatus(`updated ${new Date(summary.generatedAt).toLocaleTimeString()}`);
    } catch (err) {
      setStatus(err.message, true);
    }
  }

  $('#connect').addEventListener('click', () => {
    sessionStorage.setItem('crmSyncToken', tokenInput.value);
    clearInterval(timer);
    refresh();
    timer = setInterval(refresh, 5000);
  });
  if (tokenInput.value) $('#connect').click();
})();
