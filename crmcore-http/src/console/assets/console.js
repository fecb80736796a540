// crmcore console: forms over the JSON API, the activity panel, live notifications.
// Every request goes to this origin with the session cookie and the session's CSRF token.
(() => {
  'use strict';
  const csrf = document.body.dataset.csrf || '';

  // ---- The JSON API -------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(message, status, problem) {
      super(message);
      this.status = status;
      this.problem = problem;
    }
  }

  function problemMessage(status, p) {
    const detail = p && p.detail ? p.detail : '';
    if (status === 401) return 'Your session has ended. Reload the page to sign in again.';
    if (status === 403) return detail ? `Not allowed: ${detail}.` : 'Your role does not allow this.';
    if (status === 409) return `${detail ? detail + '. ' : ''}Someone changed this meanwhile: reload the page and try again.`;
    if (status === 413) return 'The file is larger than the server accepts.';
    if (status === 429) return 'Too many requests: wait a few seconds and try again.';
    if (status >= 500) return 'The server failed. Try again; if it persists, tell your administrator.';
    if (p && p.errors && p.errors.length) return 'Check the highlighted fields.';
    return detail || (p && p.title) || `The request failed (${status}).`;
  }

  async function api(method, url, body, extraHeaders) {
    const headers = Object.assign({ Accept: 'application/json', 'X-CSRF-Token': csrf }, extraHeaders || {});
    let payload;
    if (body instanceof FormData) {
      payload = body;
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(url, { method, headers, body: payload, credentials: 'same-origin' });
    } catch (e) {
      throw new ApiError('The server cannot be reached. Check your connection and try again.', 0, null);
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!res.ok) throw new ApiError(problemMessage(res.status, data), res.status, data);
    return data;
  }
  window.crmApi = api;

  // ---- Forms that call the API: <form data-api="/api/v1/…" data-method="POST"> -----------------
  function fieldInput(form, field) {
    const name = String(field).split(/[.[]/)[0];
    return form.querySelector(`[name="${CSS.escape(field)}"]`) || form.querySelector(`[name="${CSS.escape(name)}"]`);
  }

  function showErrors(form, err) {
    const box = form.querySelector('.form-error');
    form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
    form.querySelectorAll('.field-error').forEach((el) => el.remove());
    if (!err) {
      if (box) { box.hidden = true; box.textContent = ''; }
      return;
    }
    const fields = (err.problem && err.problem.errors) || [];
    const unplaced = [];
    let first = null;
    for (const f of fields) {
      const input = fieldInput(form, f.field);
      if (!input) { unplaced.push(`${f.field}: ${f.message}`); continue; }
      input.setAttribute('aria-invalid', 'true');
      const msg = document.createElement('span');
      msg.className = 'field-error';
      msg.id = `${input.id || input.name}-error`;
      msg.textContent = f.message;
      input.insertAdjacentElement('afterend', msg);
      input.setAttribute('aria-describedby', msg.id);
      first = first || input;
    }
    if (box) {
      box.textContent = [err.message].concat(unplaced).join(' ');
      box.hidden = false;
    }
    if (first) first.focus();
  }

  window.crmShowErrors = showErrors;

  function invalid(field, message) {
    return new ApiError('Check the highlighted fields.', 422, { errors: [{ field, message }] });
  }

  function formBody(form) {
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.name === '_csrf' || el.disabled || el.type === 'submit' || el.type === 'button') continue;
      if (el.dataset.skip !== undefined) continue;
      if (el.type === 'checkbox') { body[el.name] = el.checked; continue; }
      const type = el.dataset.type;
      let v = el.value.trim();
      if (v === '') {
        if (type === 'list') body[el.name] = [];
        else if (el.dataset.nullable !== undefined) body[el.name] = null;
        continue;
      }
      if (type === 'list') v = v.split(',').map((s) => s.trim()).filter(Boolean);
      else if (type === 'number') {
        v = Number(v);
        if (!Number.isFinite(v)) throw invalid(el.name, 'Enter a number.');
      } else if (type === 'money') {
        const n = Number(v.replace(/[\s,]/g, ''));
        if (!Number.isFinite(n)) throw invalid(el.name, 'Enter an amount such as 1200.00.');
        v = Math.round(n * 100);
      } else if (type === 'json') {
        try { v = JSON.parse(v); } catch (e) { throw invalid(el.name, 'This is not valid JSON.'); }
      } else if (type === 'datetime') {
        const t = new Date(v);
        if (Number.isNaN(t.getTime())) throw invalid(el.name, 'Enter a date and time.');
        v = t.toISOString();
      }
      body[el.name] = v;
    }
    return body;
  }

  document.addEventListener('submit', async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.api) return;
    ev.preventDefault();
    const button = form.querySelector('[type=submit]');
    showErrors(form, null);
    let body;
    try { body = formBody(form); } catch (err) { showErrors(form, err); return; }
    if (button) button.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      const headers = form.dataset.ifMatch ? { 'If-Match': `"${form.dataset.ifMatch}"` } : {};
      const result = await api(form.dataset.method || 'POST', form.dataset.api, body, headers);
      if (form.dataset.redirect) {
        location.assign(form.dataset.redirect.replace('{id}', encodeURIComponent(result && result.id)));
      } else {
        location.reload();
      }
    } catch (err) {
      showErrors(form, err);
    } finally {
      if (button) button.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });

  // Buttons that call the API: <button data-call="/api/v1/…" data-method="POST" data-confirm="…">
  document.addEventListener('click', async (ev) => {
    const button = ev.target.closest('button[data-call]');
    if (!button) return;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    const status = document.getElementById(button.dataset.status || 'page-status');
    button.disabled = true;
    try {
      const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
      await api(button.dataset.method || 'POST', button.dataset.call, body);
      location.reload();
    } catch (err) {
      if (status) { status.textContent = err.message; status.hidden = false; } else { window.alert(err.message); }
    } finally {
      button.disabled = false;
    }
  });

  // Replaces a section with the same section of a fresh copy of the page.
  async function refreshSection(id) {
    const res = await fetch(location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } });
    const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
    const fresh = doc.getElementById(id);
    const current = document.getElementById(id);
    if (fresh && current) current.replaceWith(fresh);
  }
  window.crmRefresh = refreshSection;

  // ---- The activity panel --------------------------------------------------------------------
  function panelEntity(el) {
    const panel = el.closest('#activity');
    return panel ? { kind: panel.dataset.entityKind, id: panel.dataset.entityId } : null;
  }

  document.addEventListener('submit', async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || form.id !== 'comment-form') return;
    ev.preventDefault();
    showErrors(form, null);
    const text = form.elements.body.value;
    if (!text.trim()) { showErrors(form, invalid('body', 'Write something first.')); return; }
    const button = form.querySelector('[type=submit]');
    button.disabled = true;
    try {
      await api('POST', '/api/v1/comments', {
        entity: panelEntity(form),
        body: text,
        in_reply_to: form.elements.in_reply_to.value || null,
      });
      await refreshSection('activity');
      const box = document.getElementById('comment-body');
      if (box) box.focus();
    } catch (err) {
      showErrors(form, err);
      button.disabled = false;
    }
  });

  document.addEventListener('click', async (ev) => {
    const reply = ev.target.closest('[data-reply]');
    if (reply) {
      const form = document.getElementById('comment-form');
      form.elements.in_reply_to.value = reply.dataset.reply;
      const note = form.querySelector('.replying');
      note.querySelector('.who').textContent = reply.dataset.replyName;
      note.hidden = false;
      form.elements.body.focus();
      return;
    }
    if (ev.target.closest('[data-cancel-reply]')) {
      const form = document.getElementById('comment-form');
      form.elements.in_reply_to.value = '';
      form.querySelector('.replying').hidden = true;
      return;
    }
    const follow = ev.target.closest('#follow-button');
    if (follow) {
      const entity = panelEntity(follow);
      const following = follow.getAttribute('aria-pressed') === 'true';
      follow.disabled = true;
      try {
        if (following) await api('DELETE', `/api/v1/follows/${entity.kind}/${entity.id}`);
        else await api('POST', '/api/v1/follows', { entity });
        follow.setAttribute('aria-pressed', following ? 'false' : 'true');
        follow.textContent = following ? 'Follow' : 'Following';
      } catch (err) {
        window.alert(err.message);
      } finally {
        follow.disabled = false;
      }
    }
  });

  // @mention completion over the members listed in the panel.
  function mentionQuery(box) {
    const before = box.value.slice(0, box.selectionStart);
    const m = /(^|[\s(])@([\w.-]*)$/.exec(before);
    return m ? { start: before.length - m[2].length - 1, text: m[2].toLowerCase() } : null;
  }

  function mentionMenu(box) {
    return box.parentElement.querySelector('.mention-menu');
  }

  function closeMentions(box) {
    const menu = mentionMenu(box);
    if (!menu) return;
    menu.hidden = true;
    box.setAttribute('aria-expanded', 'false');
    box.removeAttribute('aria-activedescendant');
  }

  function pickMention(box, option) {
    const q = mentionQuery(box);
    if (!q) return;
    const after = box.value.slice(box.selectionStart);
    const insert = `@${option.dataset.handle} `;
    box.value = box.value.slice(0, q.start) + insert + after;
    const caret = q.start + insert.length;
    box.setSelectionRange(caret, caret);
    closeMentions(box);
    box.focus();
  }

  document.addEventListener('input', (ev) => {
    const box = ev.target;
    if (box.id !== 'comment-body') return;
    const menu = mentionMenu(box);
    const q = mentionQuery(box);
    if (!menu || !q) { closeMentions(box); return; }
    let shown = 0;
    menu.querySelectorAll('li').forEach((li, i) => {
      const match = li.dataset.handle.toLowerCase().startsWith(q.text) || li.dataset.name.toLowerCase().includes(q.text);
      li.hidden = !match || shown >= 8;
      li.id = `mention-${i}`;
      li.removeAttribute('aria-selected');
      if (!li.hidden) shown += 1;
    });
    const first = menu.querySelector('li:not([hidden])');
    if (!first) { closeMentions(box); return; }
    first.setAttribute('aria-selected', 'true');
    box.setAttribute('aria-activedescendant', first.id);
    menu.hidden = false;
    box.setAttribute('aria-expanded', 'true');
  });

  document.addEventListener('keydown', (ev) => {
    const box = ev.target;
    if (box.id !== 'comment-body') return;
    const menu = mentionMenu(box);
    if (!menu || menu.hidden) return;
    const options = Array.from(menu.querySelectorAll('li:not([hidden])'));
    const current = options.findIndex((li) => li.getAttribute('aria-selected') === 'true');
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      const next = (current + (ev.key === 'ArrowDown' ? 1 : options.length - 1)) % options.length;
      options.forEach((li) => li.removeAttribute('aria-selected'));
      options[next].setAttribute('aria-selected', 'true');
      box.setAttribute('aria-activedescendant', options[next].id);
    } else if (ev.key === 'Enter' || ev.key === 'Tab') {
      ev.preventDefault();
      pickMention(box, options[Math.max(current, 0)]);
    } else if (ev.key === 'Escape') {
      closeMentions(box);
    }
  });

  document.addEventListener('mousedown', (ev) => {
    const option = ev.target.closest('.mention-menu li');
    if (!option) return;
    ev.preventDefault();
    pickMention(document.getElementById('comment-body'), option);
  });

  // ---- Notifications: live count over Server-Sent Events, the dropdown -----------------------
  const bell = document.getElementById('notif-button');
  if (bell) {
    const panel = document.getElementById('notif-panel');
    const list = document.getElementById('notif-list');
    const status = document.getElementById('notif-status');
    const badge = document.getElementById('notif-count');
    const kinds = {
      mention: 'mentioned you',
      reply: 'replied to your comment',
      activity: 'changed something you follow',
      assignment: 'assigned you',
      approval_requested: 'asked for your approval',
    };
    const pages = { contact: '/contacts/', deal: '/deals/', campaign: '/campaigns/', document: '/documents/' };
    let names = {};
    try { names = JSON.parse(document.getElementById('member-names').textContent || '{}'); } catch (e) { names = {}; }
    const who = (actor) => (actor && actor.kind === 'member' && names[actor.id]) || (actor && actor.kind === 'api_key' ? 'An integration' : 'Someone');

    const setCount = (n) => {
      badge.textContent = String(n);
      badge.dataset.count = String(n);
      bell.setAttribute('aria-label', `Notifications, ${n} unread`);
    };
    setCount(Number(badge.dataset.count || 0));

    const item = (n) => {
      const li = document.createElement('li');
      li.className = n.read_at ? 'read' : 'unread';
      li.dataset.id = n.id;
      const text = document.createElement(pages[n.entity.kind] ? 'a' : 'span');
      if (pages[n.entity.kind]) text.href = pages[n.entity.kind] + n.entity.id;
      text.textContent = `${who(n.actor)} ${kinds[n.kind] || n.verb} · ${n.entity.kind.replace('_', ' ')}`;
      const when = document.createElement('time');
      when.dateTime = n.created_at;
      when.textContent = new Date(n.created_at).toLocaleString();
      const toggle = document.createElement('button');
      toggle.type = 'button';
      toggle.className = 'link';
      toggle.dataset.toggleRead = n.id;
      toggle.dataset.read = n.read_at ? 'true' : 'false';
      toggle.textContent = n.read_at ? 'Mark unread' : 'Mark read';
      li.append(text, ' ', when, ' ', toggle);
      return li;
    };

    const load = async () => {
      status.hidden = false;
      status.textContent = 'Loading…';
      try {
        const page = await api('GET', '/api/v1/notifications?limit=20');
        list.replaceChildren(...page.items.map(item));
        setCount(page.unread_count);
        status.textContent = page.items.length ? '' : 'Nothing new. Mentions, replies and changes to what you follow appear here.';
        status.hidden = page.items.length > 0;
      } catch (err) {
        status.textContent = err.message;
      }
    };

    const open = (yes) => {
      panel.hidden = !yes;
      bell.setAttribute('aria-expanded', yes ? 'true' : 'false');
      if (yes) load();
    };
    bell.addEventListener('click', () => open(panel.hidden));
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && !panel.hidden) { open(false); bell.focus(); }
    });
    document.addEventListener('click', (ev) => {
      if (!panel.hidden && !ev.target.closest('.notifications')) open(false);
    });
    document.getElementById('notif-read-all').addEventListener('click', async () => {
      try { await api('POST', '/api/v1/notifications/read-all'); await load(); } catch (err) { status.textContent = err.message; status.hidden = false; }
    });
    list.addEventListener('click', async (ev) => {
      const toggle = ev.target.closest('[data-toggle-read]');
      if (!toggle) return;
      const read = toggle.dataset.read === 'true';
      try {
        await api(read ? 'DELETE' : 'POST', `/api/v1/notifications/${toggle.dataset.toggleRead}/read`);
        await load();
      } catch (err) { status.textContent = err.message; status.hidden = false; }
    });

    if (window.EventSource) {
      const events = new EventSource('/api/v1/stream');
      events.addEventListener('unread_count', (e) => setCount(JSON.parse(e.data).unread_count));
      events.addEventListener('notification', (e) => {
        const n = JSON.parse(e.data);
        if (!panel.hidden) { list.prepend(item(n)); status.hidden = true; }
        badge.classList.remove('pulse');
        void badge.offsetWidth;
        badge.classList.add('pulse');
      });
    }
  }
})();
