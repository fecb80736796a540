// crmcore console, integrations pages: the event-type picker, endpoint forms, OAuth connect and
// callback, and one endpoint's secret, test sends and live delivery log.
(() => {
  'use strict';
  const api = window.crmApi;

  // Errors are shown in a form as the console's own forms show them.
  const showProblem = window.crmShowErrors;

  function invalid(field, message) {
    const err = new Error('Check the highlighted fields.');
    err.problem = { errors: [{ field, message }] };
    return err;
  }

  // "Name: value" lines → {Name: value}.
  function parseHeaders(text, field) {
    const headers = {};
    text.split('\n').map((l) => l.trim()).filter(Boolean).forEach((line) => {
      const at = line.indexOf(':');
      if (at < 1) throw invalid(field, `Write each header as Name: value (“${line}” has no name).`);
      headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    });
    return headers;
  }

  async function busy(form, work) {
    const button = form.querySelector('[type=submit]');
    if (button) button.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      return await work();
    } finally {
      if (button) button.disabled = false;
      form.removeAttribute('aria-busy');
    }
  }

  // ---- The event-type picker: checkboxes over the catalogue that fill the patterns field ----
  function patterns(input) {
    return input.value.split(',').map((s) => s.trim()).filter(Boolean);
  }

  function syncBoxes(picker, input) {
    const chosen = new Set(patterns(input));
    picker.querySelectorAll('input[data-event]').forEach((box) => {
      const groupAll = box.dataset.group && chosen.has(`${box.dataset.group}.*`);
      box.checked = chosen.has(box.value) || Boolean(groupAll) || chosen.has('*');
      box.disabled = Boolean(groupAll);
    });
  }

  function syncInput(picker, input) {
    const boxes = Array.from(picker.querySelectorAll('input[data-event]'));
    const known = new Set(boxes.map((b) => b.value));
    const wholeGroups = new Set(boxes.filter((b) => !b.dataset.group && b.checked).map((b) => b.value.slice(0, -2)));
    const typed = patterns(input).filter((p) => !known.has(p));
    const picked = boxes.filter((b) => b.checked && !(b.dataset.group && wholeGroups.has(b.dataset.group))).map((b) => b.value);
    input.value = typed.concat(picked).join(', ');
    syncBoxes(picker, input);
  }

  document.querySelectorAll('details[data-picker-for]').forEach((picker) => {
    const input = document.getElementById(picker.dataset.pickerFor);
    if (!input) return;
    syncBoxes(picker, input);
    picker.addEventListener('change', (ev) => {
      if (ev.target.matches('input[data-event]')) syncInput(picker, input);
    });
    input.addEventListener('input', () => syncBoxes(picker, input));
  });

  // ---- Custom headers typed as lines, sent as an object -------------------------------------
  // Runs in the capture phase, before the console's form handler reads the hidden JSON field.
  document.addEventListener('submit', (ev) => {
    const form = ev.target;
    const text = form.querySelector && form.querySelector('textarea[data-headers]');
    const json = form.querySelector && form.querySelector('input[data-headers-json]');
    if (!text || !json) return;
    try {
      json.value = text.value.trim() ? JSON.stringify(parseHeaders(text.value, text.name)) : '';
    } catch (err) {
      ev.preventDefault();
      ev.stopPropagation();
      showProblem(form, err);
    }
  }, true);

  // ---- New endpoints and chat connectors: created, then opened -------------------------------
  function endpointBody(form) {
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.type === 'submit' || el.type === 'button' || el.dataset.skip !== undefined) continue;
      if (el.type === 'checkbox') { body[el.name] = el.checked; continue; }
      const v = el.value.trim();
      if (el.dataset.headers !== undefined) {
        if (v) body[el.name] = parseHeaders(v, el.name);
      } else if (el.dataset.type === 'list') {
        body[el.name] = v.split(',').map((s) => s.trim()).filter(Boolean);
      } else if (el.dataset.type === 'number') {
        if (!v) continue;
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw invalid(el.name, 'Enter a whole number, or leave it empty.');
        body[el.name] = n;
      } else if (v) {
        body[el.name] = v;
      }
    }
    return body;
  }

  document.addEventListener('submit', async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || form.dataset.createEndpoint === undefined) return;
    ev.preventDefault();
    showProblem(form, null);
    let body;
    try { body = endpointBody(form); } catch (err) { showProblem(form, err); return; }
    if (!body.url) { showProblem(form, invalid('url', 'Enter the URL that receives the events.')); return; }
    try {
      const created = await busy(form, () => api('POST', '/api/v1/webhook-endpoints', body));
      location.assign(`/integrations/webhooks/${encodeURIComponent(created.endpoint.id)}`);
    } catch (err) {
      showProblem(form, err);
    }
  });

  // ---- OAuth: connect, and finish on the way back --------------------------------------------
  const callbackPath = '/integrations/oauth/callback';
  document.querySelectorAll('[data-callback-url]').forEach((el) => { el.textContent = location.origin + callbackPath; });

  document.addEventListener('click', async (ev) => {
    const button = ev.target.closest('button[data-authorize]');
    if (!button) return;
    const status = document.getElementById('page-status');
    button.disabled = true;
    button.textContent = 'Opening the provider…';
    try {
      const start = await api('POST', `/api/v1/oauth-providers/${encodeURIComponent(button.dataset.authorize)}/authorize`,
        { redirect_uri: location.origin + callbackPath });
      location.assign(start.authorize_url);
    } catch (err) {
      button.disabled = false;
      button.textContent = 'Connect';
      if (status) { status.textContent = err.message; status.hidden = false; }
    }
  });

  const callback = document.getElementById('oauth-callback');
  if (callback && callback.dataset.code && callback.dataset.state && document.getElementById('oauth-status')) {
    (async () => {
      try {
        const connection = await api('POST', '/api/v1/oauth/complete', { state: callback.dataset.state, code: callback.dataset.code });
        location.replace(`/integrations?connected=${encodeURIComponent(connection.id)}#connection-${connection.id}`);
      } catch (err) {
        const message = err.status === 401
          ? 'The authorization expired or was already used (it is valid for ten minutes). Start again with “Connect”.'
          : err.message;
        document.getElementById('callback-title').textContent = 'The connection was not made';
        document.getElementById('oauth-status').textContent = '';
        const box = document.getElementById('oauth-error');
        box.textContent = message;
        box.hidden = false;
        document.getElementById('oauth-back').hidden = false;
      }
    })();
  }

  // ---- One endpoint ---------------------------------------------------------------------------
  const page = document.getElementById('endpoint');
  if (!page) return;

  // The delivery log refreshes itself while deliveries are pending.
  async function refreshDeliveries() {
    const current = document.getElementById('deliveries');
    if (!current || current.contains(document.activeElement) && document.activeElement !== document.body) return current;
    const res = await fetch(location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } });
    if (!res.ok) return current;
    const fresh = new DOMParser().parseFromString(await res.text(), 'text/html').getElementById('deliveries');
    if (fresh && fresh.innerHTML !== current.innerHTML) {
      const open = Array.from(current.querySelectorAll('details[open]')).map((d) => d.closest('[id]') && d.closest('[id]').id);
      current.replaceWith(fresh);
      open.forEach((id) => {
        const row = id && document.getElementById(id);
        const details = row && row.querySelector('details');
        if (details) details.open = true;
      });
      return fresh;
    }
    return current;
  }

  let polling = null;
  function pollDeliveries(done, rounds) {
    if (polling) clearTimeout(polling);
    let left = rounds || 30;
    const tick = async () => {
      polling = null;
      let section = null;
      try { section = await refreshDeliveries(); } catch (e) { section = document.getElementById('deliveries'); }
      left -= 1;
      const finished = done ? done(section) : !(section && section.querySelector('[data-status="pending"]'));
      if (!finished && left > 0) polling = setTimeout(tick, 1000);
    };
    polling = setTimeout(tick, 700);
  }
  if (document.querySelector('#deliveries [data-status="pending"]')) pollDeliveries(null, 60);

  // Send a test event and follow its delivery.
  document.addEventListener('submit', async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.test) return;
    ev.preventDefault();
    showProblem(form, null);
    const status = document.getElementById('test-status');
    try {
      const delivery = await busy(form, () => api('POST', form.dataset.test, { event_type: form.elements.event_type.value }));
      if (location.search) { location.assign(location.pathname); return; }
      status.textContent = 'Test event queued; waiting for the delivery…';
      pollDeliveries((section) => {
        const row = section && section.querySelector(`[data-delivery="${CSS.escape(delivery.id)}"]`);
        if (!row || row.dataset.status === 'pending') return false;
        status.textContent = row.dataset.status === 'succeeded'
          ? 'Delivered. See its attempt in the delivery log.'
          : 'The delivery failed. See why in the delivery log.';
        return true;
      }, 30);
    } catch (err) {
      showProblem(form, err);
    }
  });

  // Requeue failed deliveries since a time.
  document.addEventListener('submit', async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.recover) return;
    ev.preventDefault();
    showProblem(form, null);
    const raw = form.elements.since.value;
    const since = raw ? new Date(raw) : null;
    if (!since || Number.isNaN(since.getTime())) { showProblem(form, invalid('since', 'Choose a date and time.')); return; }
    try {
      const result = await busy(form, () => api('POST', form.dataset.recover, { since: since.toISOString() }));
      const status = document.getElementById('deliveries-status');
      if (status) {
        status.textContent = result.requeued
          ? `${result.requeued} failed deliver${result.requeued === 1 ? 'y is' : 'ies are'} queued again.`
          : 'No failed deliveries since then.';
      }
      if (result.requeued) pollDeliveries(null, 60);
    } catch (err) {
      showProblem(form, err);
    }
  });

  // Delete, then back to the list.
  document.addEventListener('click', async (ev) => {
    const button = ev.target.closest('button[data-delete]');
    if (!button || !window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    try {
      await api('DELETE', button.dataset.delete);
      location.assign('/integrations');
    } catch (err) {
      const status = document.getElementById('page-status');
      status.textContent = err.message;
      status.hidden = false;
      button.disabled = false;
    }
  });

  // The signing secret: fetched only when asked for, hidden again on request.
  const reveal = document.getElementById('secret-reveal');
  const box = document.getElementById('secret-box');
  const value = document.getElementById('secret-value');
  const secretStatus = document.getElementById('secret-status');
  function showSecret(secret) {
    value.value = secret;
    box.hidden = false;
    reveal.textContent = 'Hide secret';
    reveal.setAttribute('aria-expanded', 'true');
  }
  function hideSecret() {
    value.value = '';
    box.hidden = true;
    reveal.textContent = 'Reveal secret';
    reveal.setAttribute('aria-expanded', 'false');
    secretStatus.textContent = '';
  }
  reveal.addEventListener('click', async () => {
    if (!box.hidden) { hideSecret(); return; }
    reveal.disabled = true;
    secretStatus.textContent = 'Loading…';
    try {
      showSecret((await api('GET', reveal.dataset.secret)).secret);
      secretStatus.textContent = 'Keep it private: anyone with it can forge deliveries.';
      value.focus();
      value.select();
    } catch (err) {
      secretStatus.textContent = err.message;
    } finally {
      reveal.disabled = false;
    }
  });
  document.getElementById('secret-copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(value.value);
      secretStatus.textContent = 'Copied to the clipboard.';
    } catch (e) {
      value.focus();
      value.select();
      secretStatus.textContent = document.execCommand && document.execCommand('copy')
        ? 'Copied to the clipboard.'
        : 'Selected: press Ctrl+C (or ⌘C) to copy.';
    }
  });

  document.addEventListener('submit', async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.rotate) return;
    ev.preventDefault();
    showProblem(form, null);
    const overlap = Number(form.elements.overlap_seconds.value);
    const label = form.elements.overlap_seconds.selectedOptions[0].textContent.trim();
    const question = overlap > 0
      ? `Rotate the signing secret? The old secret keeps signing for ${label}, so update your receiver before then.`
      : 'Rotate the signing secret? The old one stops working now: receivers still using it will reject deliveries.';
    if (!window.confirm(question)) return;
    try {
      const result = await busy(form, () => api('POST', form.dataset.rotate, { overlap_seconds: overlap }));
      showSecret(result.secret);
      secretStatus.textContent = overlap > 0
        ? `Rotated. This is the new secret; the old one also signs until ${new Date(Date.now() + overlap * 1000).toLocaleString()}.`
        : 'Rotated. This is the new secret; the old one no longer signs.';
      value.focus();
      value.select();
    } catch (err) {
      showProblem(form, err);
    }
  });
})();
