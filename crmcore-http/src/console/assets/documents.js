// crmcore console, documents: uploads with a progress bar, text extraction status, the sharing
// dialog and approvals. Requests go to the JSON API with the session cookie and CSRF token.
(() => {
  'use strict';
  const csrf = document.body.dataset.csrf || '';
  const api = window.crmApi;

  // ---- Messages ------------------------------------------------------------------------------
  function showError(form, message, fields) {
    const box = form.querySelector('.form-error');
    form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
    for (const f of fields || []) {
      const name = String(f.field).split(/[.[]/)[0];
      const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (input) input.setAttribute('aria-invalid', 'true');
    }
    if (!box) { if (message) window.alert(message); return; }
    box.textContent = message || '';
    box.hidden = !message;
  }

  function fieldList(problem) {
    return (problem && Array.isArray(problem.errors)) ? problem.errors : [];
  }

  // What went wrong with an upload, and what to do about it.
  function uploadMessage(status, problem, file, maxLabel) {
    const fields = fieldList(problem);
    const fileError = fields.find((f) => f.field === 'file');
    if (status === 413) {
      return `“${file.name}” is larger than the ${maxLabel} the server accepts. Compress it or split it into parts, then upload again.`;
    }
    if (fileError && fileError.code === 'type_mismatch') {
      return `The file's content does not match its name or type: ${fileError.message}. Rename it with the extension of its real type (for example .pdf for a PDF), or save it again in the right format, then upload it again.`;
    }
    if (fileError && fileError.code === 'unsupported_type') {
      return `${fileError.message}. Upload a PDF, an image (PNG, JPEG, TIFF, GIF, WebP), a text file (.txt, .md, .csv, .html) or an office file (.docx, .xlsx, .pptx, .odt).`;
    }
    if (fileError) return `${fileError.message}. Choose another file and try again.`;
    if (status === 401) return 'Your session has ended. Reload the page to sign in again, then upload the file again.';
    if (status === 403) return `Not allowed${problem && problem.detail ? `: ${problem.detail}` : ''}. Ask the document's owner or an admin for edit access.`;
    if (status === 409) return `${(problem && problem.detail) || 'The document changed meanwhile'}. Reload the page and try again.`;
    if (status === 429) return 'Too many requests: wait a few seconds and upload again.';
    if (status >= 500) return 'The server failed to store the file. Try again; if it persists, tell your administrator.';
    if (fields.length) return fields.map((f) => `${f.field}: ${f.message}`).join(' ');
    return (problem && (problem.detail || problem.title)) || `The upload failed (${status}). Try again.`;
  }

  // ---- Uploads: <form data-upload="/api/v1/…" data-max-bytes="…"> ---------------------------
  function metadataOf(form) {
    const value = (name) => (form.elements[name] ? form.elements[name].value.trim() : '');
    return {
      title: value('title') || null,
      description: value('description'),
      category: value('category') || null,
      tags: value('tags').split(',').map((t) => t.trim()).filter(Boolean),
      visibility: value('visibility') || 'tenant',
    };
  }

  function upload(form) {
    const input = form.querySelector('input[type=file]');
    const file = input.files && input.files[0];
    const max = Number(form.dataset.maxBytes || 0);
    const maxLabel = form.dataset.maxLabel || 'size';
    showError(form, '');
    if (!file) {
      showError(form, 'Choose a file to upload first.', [{ field: 'file' }]);
      input.focus();
      return;
    }
    if (max && file.size > max) {
      showError(form, uploadMessage(413, null, file, maxLabel), [{ field: 'file' }]);
      return;
    }
    const body = new FormData();
    // Metadata first: the server checks it before storing any byte of the file.
    if (form.elements.note) {
      if (form.elements.note.value.trim()) body.append('note', form.elements.note.value.trim());
    } else {
      body.append('metadata', JSON.stringify(metadataOf(form)));
    }
    body.append('file', file, file.name);

    const box = form.querySelector('.progress');
    const bar = box.querySelector('progress');
    const text = box.querySelector('.progress-text');
    const button = form.querySelector('[type=submit]');
    box.hidden = false;
    bar.value = 0;
    bar.removeAttribute('data-done');
    text.textContent = `Uploading “${file.name}”…`;
    button.disabled = true;
    form.setAttribute('aria-busy', 'true');

    const xhr = new XMLHttpRequest();
    xhr.open('POST', form.dataset.upload);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.upload.onprogress = (ev) => {
      if (!ev.lengthComputable) return;
      const percent = Math.floor((ev.loaded / ev.total) * 100);
      bar.value = Math.min(percent, 99);
      text.textContent = `Uploading “${file.name}”: ${bar.value} %`;
    };
    const finish = () => {
      button.disabled = false;
      form.removeAttribute('aria-busy');
    };
    xhr.onerror = () => {
      finish();
      box.hidden = true;
      // A server that refuses an oversized body may close the connection before answering.
      const message = max && file.size > max
        ? uploadMessage(413, null, file, maxLabel)
        : 'The upload was interrupted. Check your connection and try again.';
      showError(form, message, [{ field: 'file' }]);
    };
    xhr.onload = () => {
      finish();
      let data = null;
      try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch (e) { data = null; }
      if (xhr.status < 200 || xhr.status >= 300) {
        box.hidden = true;
        const fields = fieldList(data);
        showError(form, uploadMessage(xhr.status, data, file, maxLabel), fields.length ? fields : [{ field: 'file' }]);
        return;
      }
      bar.value = 100;
      bar.dataset.done = 'true';
      if (data && data.document) {
        uploaded(form, text, data.document);
      } else {
        text.textContent = `Uploaded version ${data && data.number}. Reloading…`;
        location.reload();
      }
    };
    xhr.send(body);
  }

  // A new document: say so with a link to it, clear the form, refresh the list.
  async function uploaded(form, text, doc) {
    const link = document.createElement('a');
    link.href = `/documents/${encodeURIComponent(doc.id)}`;
    link.id = 'uploaded-link';
    link.textContent = 'Open it';
    text.replaceChildren(`Uploaded “${doc.title}”. `, link);
    form.querySelectorAll('input:not([type=hidden]), textarea').forEach((el) => { el.value = ''; });
    await refreshSection('document-list');
  }

  document.addEventListener('submit', (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.upload) return;
    ev.preventDefault();
    upload(form);
  });

  // Replaces a section with the same section of a fresh copy of the page.
  async function refreshSection(id) {
    try {
      const res = await fetch(location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      const fresh = doc.getElementById(id);
      const current = document.getElementById(id);
      if (fresh && current) current.replaceWith(fresh);
    } catch (e) {
      // The page still shows what it showed; a reload brings it up to date.
    }
  }

  // ---- Text extraction: follow a pending extraction until it ends ------------------------------
  const status = document.getElementById('text-status');
  if (status && status.dataset.status === 'pending') {
    let tries = 0;
    const poll = async () => {
      tries += 1;
      try {
        const text = await api('GET', status.dataset.poll);
        if (text.status !== 'pending') {
          const number = status.dataset.poll.split('/').slice(-2, -1)[0];
          status.dataset.status = text.status;
          status.className = `text-status status-${text.status}`;
          status.textContent = text.status === 'done'
            ? `Text of version ${number} extracted: search finds words inside it.`
            : `Text extraction of version ${number} failed: ${text.error || 'unknown reason'}. Search still finds its title and tags; upload a clearer copy to search its text.`;
          const cell = document.querySelector(`.text-cell[data-version="${number}"]`);
          if (cell) cell.textContent = text.status;
          return;
        }
      } catch (e) {
        if (e.status === 401 || e.status === 404) return;
      }
      if (tries < 120) setTimeout(poll, Math.min(1000 + tries * 250, 5000));
    };
    setTimeout(poll, 800);
  }

  // ---- Sharing ------------------------------------------------------------------------------
  const dialog = document.getElementById('share-dialog');
  const opener = document.getElementById('share-open');
  if (dialog && opener) {
    opener.addEventListener('click', () => {
      dialog.showModal();
      const first = dialog.querySelector('select, input');
      if (first) first.focus();
    });
    dialog.addEventListener('click', (ev) => {
      if (ev.target.closest('[data-close-dialog]')) dialog.close();
    });
    dialog.addEventListener('close', () => opener.focus());

    const grantForm = document.getElementById('grant-form');
    grantForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const ok = grantForm.querySelector('.form-ok');
      ok.hidden = true;
      showError(grantForm, '');
      const member = grantForm.elements.member_id;
      if (!member.value) { showError(grantForm, 'Choose the member to share with.', [{ field: 'member_id' }]); member.focus(); return; }
      const button = grantForm.querySelector('[type=submit]');
      button.disabled = true;
      try {
        await api('PUT', grantForm.dataset.grants + encodeURIComponent(member.value), { access: grantForm.elements.access.value });
        ok.textContent = `Shared with ${member.selectedOptions[0].textContent} (${grantForm.elements.access.value}).`;
        ok.hidden = false;
        await refreshSection('sharing');
      } catch (err) {
        showError(grantForm, err.message + ' ' + fieldList(err.problem).map((f) => f.message).join(' '), fieldList(err.problem));
      } finally {
        button.disabled = false;
      }
    });

    const linkForm = document.getElementById('link-form');
    linkForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      showError(linkForm, '');
      const el = linkForm.elements;
      const body = { expires_in_hours: Number(el.expires_in_hours.value) };
      if (el.password.value) {
        if (el.password.value.length < 8) { showError(linkForm, 'A password has at least 8 characters.', [{ field: 'password' }]); return; }
        body.password = el.password.value;
      }
      if (el.max_downloads.value) {
        const max = Number(el.max_downloads.value);
        if (!Number.isInteger(max) || max < 1) { showError(linkForm, 'Allow at least one download.', [{ field: 'max_downloads' }]); return; }
        body.max_downloads = max;
      }
      if (el.version.value) body.version = Number(el.version.value);
      const button = linkForm.querySelector('[type=submit]');
      button.disabled = true;
      try {
        const created = await api('POST', linkForm.dataset.links, body);
        const out = linkForm.querySelector('.created-link');
        const url = document.getElementById('link-url');
        url.value = `${location.origin}/s/${created.token}`;
        out.hidden = false;
        url.focus();
        url.select();
        el.password.value = '';
        await refreshSection('sharing');
      } catch (err) {
        showError(linkForm, err.message + ' ' + fieldList(err.problem).map((f) => f.message).join(' '), fieldList(err.problem));
      } finally {
        button.disabled = false;
      }
    });
    const copy = document.getElementById('link-copy');
    copy.addEventListener('click', async () => {
      const url = document.getElementById('link-url');
      try { await navigator.clipboard.writeText(url.value); copy.textContent = 'Copied'; } catch (e) { url.select(); }
    });
  }

  // ---- Approvals ----------------------------------------------------------------------------
  const request = document.getElementById('approval-form');
  if (request) {
    request.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      showError(request, '');
      const approvers = Array.from(request.querySelectorAll('input[name=approvers]:checked')).map((c) => c.value);
      if (!approvers.length) { showError(request, 'Choose at least one approver.', [{ field: 'approvers' }]); return; }
      const step = { name: request.elements.name.value.trim() || null, approvers, rule: { kind: request.elements.rule.value } };
      if (request.elements.due_at.value) {
        const due = new Date(request.elements.due_at.value);
        if (Number.isNaN(due.getTime())) { showError(request, 'Enter a due date and time, or leave it empty.', [{ field: 'due_at' }]); return; }
        step.due_at = due.toISOString();
      }
      const button = request.querySelector('[type=submit]');
      button.disabled = true;
      try {
        const url = location.pathname.replace(/^\/documents\//, '/api/v1/documents/') + '/approvals';
        await api('POST', url, { steps: [step], document_version: Number(request.dataset.documentVersion) });
        location.reload();
      } catch (err) {
        const fields = fieldList(err.problem);
        showError(request, [err.message].concat(fields.map((f) => f.message)).join(' '), fields);
        button.disabled = false;
      }
    });
  }

  document.addEventListener('submit', async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains('decide-form')) return;
    ev.preventDefault();
    const verdict = ev.submitter && ev.submitter.value === 'reject' ? 'reject' : 'approve';
    const comment = form.elements.comment.value.trim();
    showError(form, '');
    if (verdict === 'reject' && !comment) {
      showError(form, 'Say why you reject it: the requester needs to know what to change.', [{ field: 'comment' }]);
      form.elements.comment.focus();
      return;
    }
    form.querySelectorAll('button').forEach((b) => { b.disabled = true; });
    try {
      await api('POST', `/api/v1/approvals/${encodeURIComponent(form.dataset.approval)}/${verdict}`, {
        comment: comment || null,
        expected_version: Number(form.dataset.version),
      });
      location.reload();
    } catch (err) {
      const fields = fieldList(err.problem);
      showError(form, [err.message].concat(fields.map((f) => f.message)).join(' '), fields);
      form.querySelectorAll('button').forEach((b) => { b.disabled = false; });
    }
  });
})();
