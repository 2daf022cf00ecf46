// The monitoring dashboard: reads /dashboard/summary, /mailboxes and /alerts with the admin's API
// token, and calls the same API for actions. No build step; Chart.js is served by the API.
(() => {
  const $ = (sel) => document.querySelector(sel);
  const tokenInput = $('#token');
  const charts = {};
  let timer;
  /** The latest /mailboxes answer by id: the alert view names mailboxes by address. */
  let mailboxesById = new Map();

  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem('crmSyncToken', fromHash);
    history.replaceState(null, '', location.pathname);
  }
  tokenInput.value = sessionStorage.getItem('crmSyncToken') || '';

  async function api(method, path, payload) {
    const headers = { authorization: `Bearer ${tokenInput.value}`, ...(payload && { 'content-type': 'application/json' }) };
    const res = await fetch(path, { method, headers, body: payload && JSON.stringify(payload) });
    const body = res.headers.get('content-type')?.includes('json') ? await res.json() : null;
    if (!res.ok) throw new Error((body && body.message) || `${res.status} ${res.statusText}`);
    return body;
  }

  const text = (v) => document.createTextNode(v == null ? '' : String(v));
  const el = (tag, className, ...children) => {
    const e = document.createElement(tag);
    if (className) e.className = className;
    for (const c of children) e.append(typeof c === 'string' || typeof c === 'number' ? text(c) : c);
    return e;
  };
  const cell = (...children) => el('td', '', ...children);
  const badge = (state) => {
    const s = el('span', `state ${state}`, state.replace('_', ' '));
    s.dataset.state = state;
    return s;
  };
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
  const label = (s) => s.replaceAll('_', ' ');

  function setStatus(message, bad) {
    const status = $('#status');
    status.textContent = message;
    status.style.color = bad ? '#f1948a' : '#aab4bf';
  }

  // Action results: each stays on the page until the user dismisses it (refreshes do not touch it).

  const DIRECTIONS = ['incoming', 'outgoing', 'items'];
  const ACTION_LABELS = { 'test-and-enable': 'Test & Enable', 'sync-now': 'Sync now', disable: 'Disable', 'item-retry': 'Retry item' };

  function showResult({ mailbox, action, failed, summary, directions }) {
    const card = el('div', `result${failed ? ' failed' : ''}`);
    card.dataset.mailbox = mailbox.id;
    card.dataset.action = action;
    card.dataset.outcome = failed ? 'failed' : 'ok';
    const dismiss = el('button', '', 'Dismiss');
    dismiss.dataset.action = 'dismiss';
    dismiss.addEventListener('click', () => card.remove());
    card.append(el('div', 'head', el('strong', '', `${ACTION_LABELS[action]}: ${mailbox.emailAddress}`), el('span', failed ? 'error-text' : '', summary), el('span', 'muted', new Date().toLocaleTimeString()), dismiss));
    if (directions) {
      const body = el('tbody');
      for (const d of DIRECTIONS) {
        const r = directions[d];
        const status = el('span', 'status', label(r.status));
        status.dataset.status = r.status;
        const row = el('tr', '', cell(d), cell(status), cell(r.message));
        row.dataset.direction = d;
        body.append(row);
      }
      card.append(el('table', '', el('thead', '', el('tr', '', el('th', '', 'Direction'), el('th', '', 'Result'), el('th', '', 'Message'))), body));
    }
    // Replaces the previous result of the same action on the same mailbox.
    document.querySelector(`#results .result[data-mailbox="${mailbox.id}"][data-action="${action}"]`)?.remove();
    $('#results').prepend(card);
  }

  async function runAction(action, mailbox) {
    try {
      const answer = await api('POST', `/mailboxes/${mailbox.id}/${action}`);
      if (action === 'test-and-enable') {
        const failed = DIRECTIONS.some((d) => answer[d].status === 'failure');
        const summary = answer.incomingEnabled ? 'incoming sync enabled' : 'incoming sync not enabled';
        showResult({ mailbox, action, failed: failed || !answer.incomingEnabled, summary, directions: answer });
      } else {
        showResult({ mailbox, action, failed: false, summary: action === 'sync-now' ? 'sync requested' : 'incoming sync disabled' });
      }
    } catch (err) {
      showResult({ mailbox, action, failed: true, summary: err.message });
    }
  }

  /** Sync now is offered only where it would run; elsewhere Test & Enable is what helps. */
  const canSyncNow = (mailbox, state) => mailbox.incoming.enabled && mailbox.incoming.status !== 'failure' && state !== 'awaiting_approval';

  function actions(mailbox, state) {
    const wrap = el('span');
    const offered = canSyncNow(mailbox, state) ? ['test-and-enable', 'sync-now', 'disable'] : ['test-and-enable'];
    for (const action of offered) {
      const b = el('button', '', ACTION_LABELS[action]);
      b.dataset.action = action;
      b.dataset.mailbox = mailbox.id;
      b.addEventListener('click', async () => {
        b.disabled = true;
        await runAction(action, mailbox);
        b.disabled = false;
        refresh();
      });
      wrap.append(b, text(' '));
    }
    return wrap;
  }

  // Charts ---------------------------------------------------------------------------------

  /** Writes each bar's or segment's count on it. */
  const countLabels = {
    id: 'countLabels',
    afterDatasetsDraw(c) {
      const { ctx } = c;
      ctx.save();
      ctx.font = '600 12px system-ui, sans-serif';
      ctx.textBaseline = 'middle';
      c.data.datasets.forEach((dataset, i) => {
        const meta = c.getDatasetMeta(i);
        if (meta.hidden) return;
        meta.data.forEach((element, j) => {
          const value = dataset.data[j];
          if (!value) return;
          if (meta.type === 'doughnut') {
            const { x, y } = element.tooltipPosition();
            ctx.fillStyle = '#fff';
            ctx.textAlign = 'center';
            ctx.fillText(String(value), x, y);
          } else if (c.options.indexAxis === 'y') {
            ctx.fillStyle = '#1f2933';
            ctx.textAlign = 'left';
            ctx.fillText(String(value), element.x + 4, element.y);
          } else {
            ctx.fillStyle = '#1f2933';
            ctx.textAlign = 'center';
            ctx.fillText(String(value), element.x, element.y - 8);
          }
        });
      });
      ctx.restore();
    },
  };

  /** A count axis: from zero, whole numbers only. */
  const countAxis = { beginAtZero: true, ticks: { precision: 0 } };

  function chart(id, type, labels, datasets, options = {}) {
    if (charts[id]) {
      charts[id].data.labels = labels;
      charts[id].data.datasets.forEach((d, i) => Object.assign(d, datasets[i]));
      charts[id].update('none');
      return;
    }
    charts[id] = new Chart($(`#${id}`), {
      type,
      data: { labels, datasets },
      options: { animation: false, maintainAspectRatio: false, layout: { padding: { top: 16, right: 24 } }, ...options },
      plugins: [countLabels],
    });
  }

  function fillTable(id, rows, columns) {
    const body = $(`#${id} tbody`);
    body.replaceChildren(...rows);
    if (rows.length === 0) {
      const td = cell('none');
      td.colSpan = columns;
      td.className = 'muted';
      body.append(el('tr', '', td));
    }
  }

  const STATE_COLOURS = {
    idle: '#1e8449', syncing: '#27ae60', failing: '#e67e22', server_unreachable: '#8e44ad', error: '#c0392b', disabled: '#d68910', awaiting_approval: '#b7950b',
  };

  function drawCharts(summary) {
    const states = Object.keys(summary.mailboxesByState);
    chart('states', 'doughnut', states.map((s) => `${label(s)} (${summary.mailboxesByState[s]})`), [
      { data: states.map((s) => summary.mailboxesByState[s]), backgroundColor: states.map((s) => STATE_COLOURS[s] || '#999') },
    ]);
    const noLegend = { legend: { display: false } };
    chart('lag', 'bar', summary.syncLag.map((b) => b.bucket), [{ label: 'mailboxes', data: summary.syncLag.map((b) => b.mailboxes), backgroundColor: '#2463eb' }], {
      plugins: noLegend,
      scales: { y: countAxis },
    });
    chart('hourly', 'bar', summary.itemsPerHour.map((h) => h.hour.slice(11)), [{ label: 'items', data: summary.itemsPerHour.map((h) => h.items), backgroundColor: '#2463eb' }], {
      plugins: noLegend,
      scales: { y: countAxis },
    });
    chart('servers', 'bar', summary.servers.map((s) => s.name), [
      { label: 'in use', data: summary.servers.map((s) => s.inUse), backgroundColor: '#2463eb' },
      { label: 'cap', data: summary.servers.map((s) => s.cap), backgroundColor: '#c7ccd3' },
    ], { indexAxis: 'y', scales: { x: countAxis } });
  }

  // Tables ---------------------------------------------------------------------------------

  function drawMailboxes(summary, mailboxes) {
    const details = new Map(summary.mailboxes.map((m) => [m.id, m]));
    const ownerOf = (id) => details.get(id)?.ownerName ?? 'no owner';
    fillTable('failing', summary.failing.filter((f) => mailboxesById.has(f.id)).map((f) => {
      const tr = el('tr', '', cell(f.emailAddress), cell(ownerOf(f.id)), cell(badge(f.state)), cell(f.lastError), cell(when(f.lastErrorAt)), cell(actions(mailboxesById.get(f.id), f.state)));
      tr.dataset.mailbox = f.id;
      return tr;
    }), 6);
    fillTable('progress', summary.inProgress.map((p) => {
      const fill = el('div');
      fill.style.width = `${p.itemsTotal ? Math.round((100 * p.itemsDone) / p.itemsTotal) : 0}%`;
      return el('tr', '', cell(p.emailAddress), cell(p.folder), cell(el('div', 'bar', fill), `${p.itemsDone} / ${p.itemsTotal}`));
    }), 3);
    fillTable('mailboxes', mailboxes.map((m) => {
      const state = details.get(m.id)?.state ?? 'idle';
      const lastError = m.statistics.lastError ? el('span', 'error-text', m.statistics.lastError) : el('span', 'muted', '—');
      const tr = el('tr', '',
        cell(m.emailAddress), cell(badge(state)), cell(when(m.statistics.lastSuccessAt)), cell(when(m.statistics.nextSyncAt)),
        cell(ownerOf(m.id)), cell(details.get(m.id)?.profileName ?? ''), cell(lastError), cell(actions(m, state)));
      tr.dataset.mailbox = m.id;
      return tr;
    }), 8);
  }

  // Contacts, appointments and tasks: per mailbox and entity, and the items that failed ------------

  const ENTITIES = ['contact', 'appointment', 'task'];

  function drawItemSync(itemSync) {
    document.getElementById('item-counts-note').textContent = itemSync.mailboxesInAll > itemSync.mailboxes.length
      ? `The ${itemSync.mailboxes.length} of ${itemSync.mailboxesInAll} mailboxes with the most failed items; \`mailbox status\` shows any one.`
      : '';
    fillTable('item-counts', itemSync.mailboxes.flatMap((m) => ENTITIES.map((entity) => {
      const s = m[entity];
      const failed = el('span', s.failed ? 'error-text' : '', s.failed);
      const tr = el('tr', '',
        cell(m.emailAddress), cell(entity), cell(s.linked), cell(s.pending), cell(failed),
        cell(s.lastError ? el('span', 'error-text', s.lastError.message) : el('span', 'muted', '—')), cell(when(s.lastError?.at)));
      tr.dataset.mailbox = m.id;
      tr.dataset.entity = entity;
      for (const k of ['linked', 'pending', 'failed']) tr.dataset[k] = s[k];
      return tr;
    })), 7);
    fillTable('item-errors', itemSync.failed.map((f) => {
      const retry = el('button', '', 'Retry');
      retry.dataset.action = 'item-retry';
      retry.addEventListener('click', async () => {
        retry.disabled = true;
        await retryItem(f);
        retry.disabled = false;
        refresh();
      });
      const item = cell(f.label ? `${f.label} (${f.itemKey})` : f.itemKey);
      item.className = 'key';
      const tr = el('tr', '', cell(f.emailAddress), cell(f.entity), cell(f.side), item, cell(el('span', 'error-text', f.reason)), cell(f.whatToDo),
        cell(when(f.occurredAt)), cell(f.retryRequestedAt ? el('span', 'muted', 'retry requested') : retry));
      tr.dataset.mailbox = f.mailboxId;
      tr.dataset.item = f.itemKey;
      return tr;
    }), 8);
  }

  /** Asks the mailbox to retry the item and waits a little for the run: its result shows like an action's. */
  async function retryItem(f) {
    const mailbox = { id: f.mailboxId, emailAddress: f.emailAddress };
    try {
      const body = await api('POST', `/mailboxes/${f.mailboxId}/item-errors/retry`, { entity: f.entity, side: f.side, itemKey: f.itemKey, waitSeconds: 30 });
      const summary = { cleared: `${f.entity} ${f.label || f.itemKey} synced`, failed: `failed again: ${body.error?.reason}`, pending: 'retry requested; the mailbox has not run it yet' }[body.outcome];
      showResult({ mailbox, action: 'item-retry', failed: body.outcome === 'failed', summary });
    } catch (err) {
      showResult({ mailbox, action: 'item-retry', failed: true, summary: err.message });
    }
  }

  // Alerts: open and resolved apart, filtered by level and mailbox --------------------------

  function alertRow(a, resolved) {
    const level = el('span', `level-${a.level}`, a.level);
    const mailbox = a.mailboxId ? (mailboxesById.get(a.mailboxId)?.emailAddress ?? a.mailboxId) : '—';
    const tr = el('tr', '',
      cell(when(resolved ? a.resolvedAt : a.lastSeenAt)), cell(level), cell(label(a.scope)), cell(mailbox),
      cell((a.audiences || []).map(label).join(', ')), cell(a.message), cell(a.occurrences));
    tr.dataset.alert = a.id;
    tr.dataset.level = a.level;
    return tr;
  }

  function fillMailboxFilter() {
    const select = $('#alert-mailbox');
    const chosen = select.value;
    const options = [...mailboxesById.values()].sort((a, b) => a.emailAddress.localeCompare(b.emailAddress)).map((m) => {
      const o = el('option', '', m.emailAddress);
      o.value = m.id;
      return o;
    });
    const all = el('option', '', 'all');
    all.value = '';
    select.replaceChildren(all, ...options);
    select.value = mailboxesById.has(chosen) ? chosen : '';
  }

  async function refreshAlerts() {
    const filters = new URLSearchParams();
    if ($('#alert-level').value) filters.set('level', $('#alert-level').value);
    if ($('#alert-mailbox').value) filters.set('mailboxId', $('#alert-mailbox').value);
    const query = (status, limit) => `/alerts?${new URLSearchParams({ ...Object.fromEntries(filters), status, limit: String(limit) })}`;
    try {
      const [open, resolved] = await Promise.all([api('GET', query('open', 100)), api('GET', query('resolved', 50))]);
      fillTable('alerts', open.map((a) => alertRow(a, false)), 7);
      fillTable('resolved-alerts', resolved.map((a) => alertRow(a, true)), 7);
      $('#alert-status').textContent = '';
    } catch (err) {
      $('#alert-status').textContent = `Alerts could not be read: ${err.message}`;
    }
  }
  $('#alert-level').addEventListener('change', refreshAlerts);
  $('#alert-mailbox').addEventListener('change', refreshAlerts);

  async function refresh() {
    try {
      const [summary, mailboxes] = await Promise.all([api('GET', '/dashboard/summary'), api('GET', '/mailboxes')]);
      mailboxesById = new Map(mailboxes.map((m) => [m.id, m]));
      drawCharts(summary);
      drawMailboxes(summary, mailboxes);
      drawItemSync(summary.itemSync);
      fillMailboxFilter();
      await refreshAlerts();
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
