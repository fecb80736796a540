// Campaign pages: live template preview, the segment builder with a live count, and the
// campaign editor's save (its body is assembled here: variants, A/B test, segment rule).
(() => {
  'use strict';
  const api = window.crmApi;
  const debounce = (fn, ms) => {
    let timer;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  };

  // ---- Template preview --------------------------------------------------------------------
  const preview = document.getElementById('template-preview');
  if (preview && preview.querySelector('[data-preview-contact]')) {
    const contact = preview.querySelector('[data-preview-contact]');
    const variant = preview.querySelector('[data-preview-variant]');
    const status = preview.querySelector('[data-preview-status]');
    const subject = preview.querySelector('[data-preview-subject]');
    const frame = preview.querySelector('[data-preview-html]');
    const text = preview.querySelector('[data-preview-text]');
    const templateId = () => {
      if (preview.dataset.templateId) return preview.dataset.templateId;
      const index = variant ? variant.value : '0';
      const select = document.querySelector(`select[data-variant="${index}"]`);
      return select ? select.value : '';
    };
    const refresh = async () => {
      const id = templateId();
      if (!id || !contact.value) return;
      status.hidden = false;
      status.textContent = 'Rendering…';
      try {
        const out = await api('POST', `/api/v1/email-templates/${id}/preview`, { contact_id: contact.value });
        subject.textContent = out.subject;
        frame.srcdoc = out.html;
        text.textContent = out.text;
        status.hidden = true;
      } catch (err) {
        status.textContent = err.message;
      }
    };
    contact.addEventListener('change', refresh);
    if (variant) variant.addEventListener('change', refresh);
    document.querySelectorAll('select[data-variant]').forEach((s) => s.addEventListener('change', refresh));
    refresh();
  }

  // ---- A sending campaign's page follows its progress -------------------------------------
  const live = document.getElementById('campaign-live');
  if (live && ['sending', 'scheduled'].includes(live.dataset.status)) {
    let last = null;
    const poll = async () => {
      try {
        const counts = await api('GET', `/api/v1/campaigns/${live.dataset.campaignId}/counts`);
        const now = JSON.stringify(counts);
        if (last !== null && now !== last) {
          await Promise.all(['delivery', 'engagement', 'campaign-head'].map((id) => window.crmRefresh(id)));
        } else if (counts.targeted > 0 && counts.pending === 0 && counts.sending === 0) {
          // Every recipient is settled: the status turns "sent" without the counts changing.
          await window.crmRefresh('campaign-head');
        }
        last = now;
        const status = document.getElementById('campaign-status');
        if (status && !['sending', 'scheduled'].includes(status.textContent.trim())) {
          location.reload();
          return;
        }
      } catch (e) {
        // A failed poll is retried on the next tick.
      }
      setTimeout(poll, 2000);
    };
    setTimeout(poll, 2000);
  }

  // ---- Segment builder ---------------------------------------------------------------------
  const builder = document.getElementById('segment-builder');
  const form = document.getElementById('campaign-form');
  if (!builder || !form) return;
  const rules = document.getElementById('seg-rules');
  const combinator = document.getElementById('seg-combinator');
  const countBox = document.getElementById('seg-count');
  const sampleBox = document.getElementById('seg-sample');
  const emptyBox = document.getElementById('seg-empty');
  const jsonBox = document.getElementById('seg-json');
  const stageOptions = document.getElementById('stage-options').innerHTML;
  let jsonRule = null; // a rule the rows cannot show (nested groups): edited as JSON only

  const TYPES = {
    field: 'Contact field',
    tag: 'Has tag',
    custom_field: 'Custom field',
    date: 'Created / updated',
    deal: 'Has a deal',
    engagement: 'Engaged with e-mail',
  };
  const options = (pairs, selected) => pairs.map(([v, l]) => `<option value="${v}"${v === selected ? ' selected' : ''}>${l}</option>`).join('');
  let rowCounter = 0;

  // Builds the inputs of one rule type; values come from `rule` when loading a saved segment.
  function fields(type, rule) {
    const r = rule || {};
    const id = `r${rowCounter}`;
    const input = (name, label, value, extra) =>
      `<label for="${id}-${name}">${label}</label><input id="${id}-${name}" data-k="${name}" value="${value == null ? '' : String(value).replace(/"/g, '&quot;')}"${extra || ''}>`;
    const select = (name, label, pairs, value) =>
      `<label for="${id}-${name}">${label}</label><select id="${id}-${name}" data-k="${name}">${options(pairs, value)}</select>`;
    switch (type) {
      case 'field':
        return select('field', 'Field', [['email', 'E-mail'], ['first_name', 'First name'], ['last_name', 'Last name'], ['company', 'Company']], r.field)
          + select('op', 'Condition', [['equals', 'is'], ['contains', 'contains'], ['starts_with', 'starts with'], ['ends_with', 'ends with'], ['is_set', 'is set'], ['is_not_set', 'is not set']], r.op)
          + input('value', 'Value', r.value);
      case 'tag':
        return input('tag', 'Tag', r.tag);
      case 'custom_field':
        return input('key', 'Key', r.key)
          + select('op', 'Condition', [['exists', 'exists'], ['equals', 'equals'], ['includes', 'includes'], ['gt', '>'], ['gte', '≥'], ['lt', '<'], ['lte', '≤']], r.op)
          + input('value', 'Value', r.value == null ? '' : JSON.stringify(r.value).replace(/^"|"$/g, ''));
      case 'date':
        return select('field', 'Date', [['created_at', 'Created'], ['updated_at', 'Updated']], r.field)
          + select('op', 'Condition', [['within_days', 'within the last … days'], ['older_than_days', 'more than … days ago'], ['before', 'before'], ['after', 'after']], r.op)
          + input('days', 'Days', r.days, ' inputmode="numeric"')
          + input('at', 'Date', r.at ? r.at.slice(0, 10) : '', ' type="date"');
      case 'deal':
        return select('status', 'Status', [['', 'any'], ['open', 'open'], ['won', 'won'], ['lost', 'lost']], r.status || '')
          + `<label for="${id}-stage">Stage</label><select id="${id}-stage" data-k="stage"><option value="">any</option>${stageOptions}</select>`
          + input('min_amount', 'Amount from', r.min_amount != null ? r.min_amount / 100 : '', ' inputmode="decimal"')
          + input('max_amount', 'Amount up to', r.max_amount != null ? r.max_amount / 100 : '', ' inputmode="decimal"');
      case 'engagement':
        return select('kind', 'Did', [['opened', 'opened'], ['clicked', 'clicked'], ['converted', 'converted']], r.kind)
          + input('within_days', 'Within days', r.within_days, ' inputmode="numeric"')
          + input('campaign_id', 'In campaign (id, optional)', r.campaign_id);
      default:
        return '';
    }
  }

  function addRow(type, rule, negated) {
    rowCounter += 1;
    const li = document.createElement('li');
    li.className = 'rule';
    li.dataset.type = type;
    li.innerHTML = `<div class="rule-head"><label for="r${rowCounter}-type">Rule</label>
      <select id="r${rowCounter}-type" data-type-select>${options(Object.entries(TYPES), type)}</select>
      <label class="check"><input type="checkbox" data-not${negated ? ' checked' : ''}> not</label>
      <button type="button" class="link" data-remove>Remove</button></div>
      <div class="rule-fields">${fields(type, rule)}</div>`;
    if (type === 'deal' && rule && rule.stage) li.querySelector('[data-k="stage"]').value = rule.stage;
    rules.append(li);
    changed();
  }

  const num = (v) => (v === '' ? undefined : Number(v));
  function rowRule(li) {
    const get = (k) => { const el = li.querySelector(`[data-k="${k}"]`); return el ? el.value.trim() : ''; };
    const type = li.dataset.type;
    let rule;
    switch (type) {
      case 'field': rule = { type, field: get('field'), op: get('op') }; if (get('value')) rule.value = get('value'); break;
      case 'tag': rule = { type, tag: get('tag') }; break;
      case 'custom_field': {
        rule = { type, key: get('key'), op: get('op') };
        const raw = get('value');
        if (raw !== '') { try { rule.value = JSON.parse(raw); } catch (e) { rule.value = raw; } }
        break;
      }
      case 'date': {
        rule = { type, field: get('field'), op: get('op') };
        if (rule.op === 'before' || rule.op === 'after') { if (get('at')) rule.at = new Date(`${get('at')}T00:00:00Z`).toISOString(); } else if (get('days')) rule.days = num(get('days'));
        break;
      }
      case 'deal': {
        rule = { type };
        if (get('status')) rule.status = get('status');
        if (get('stage')) rule.stage = get('stage');
        if (get('min_amount')) rule.min_amount = Math.round(Number(get('min_amount')) * 100);
        if (get('max_amount')) rule.max_amount = Math.round(Number(get('max_amount')) * 100);
        break;
      }
      case 'engagement': {
        rule = { type, kind: get('kind') };
        if (get('within_days')) rule.within_days = num(get('within_days'));
        if (get('campaign_id')) rule.campaign_id = get('campaign_id');
        break;
      }
      default: rule = { type: 'all', rules: [] };
    }
    return li.querySelector('[data-not]').checked ? { type: 'not', rule } : rule;
  }

  function segment() {
    if (jsonRule) return jsonRule;
    return { type: combinator.value, rules: Array.from(rules.children).map(rowRule) };
  }

  // Loads a saved rule into rows when it is one flat group; otherwise keeps it as JSON.
  function load(rule) {
    const flat = (r) => !['all', 'any', 'not'].includes(r.type) || (r.type === 'not' && !['all', 'any', 'not'].includes(r.rule.type));
    if (rule && ['all', 'any'].includes(rule.type) && rule.rules.every(flat)) {
      combinator.value = rule.type;
      rule.rules.forEach((r) => (r.type === 'not' ? addRow(r.rule.type, r.rule, true) : addRow(r.type, r, false)));
    } else if (rule) {
      jsonRule = rule;
      document.getElementById('seg-json-box').open = true;
      builder.classList.add('json-mode');
    }
    changed();
  }

  const count = debounce(async () => {
    const rule = segment();
    jsonBox.value = JSON.stringify(rule, null, 2);
    countBox.textContent = 'Counting…';
    try {
      const out = await api('POST', '/api/v1/segments/preview', { rule, sample: 5 });
      countBox.textContent = `${out.count} contact${out.count === 1 ? '' : 's'} match`;
      const names = out.sample.map((c) => [c.first_name, c.last_name].filter(Boolean).join(' ') || c.email || 'unnamed');
      sampleBox.textContent = names.length ? `For example: ${names.join(', ')}` : '';
    } catch (err) {
      const fieldErrors = (err.problem && err.problem.errors) || [];
      countBox.textContent = fieldErrors.length ? `Rule incomplete: ${fieldErrors.map((e) => e.message).join('; ')}` : err.message;
      sampleBox.textContent = '';
    }
  }, 250);

  function changed() {
    emptyBox.hidden = rules.children.length > 0 || Boolean(jsonRule);
    count();
  }

  document.getElementById('seg-add').addEventListener('click', () => {
    addRow('tag', null, false);
    const last = rules.lastElementChild.querySelector('input, select');
    if (last) last.focus();
  });
  combinator.addEventListener('change', changed);
  rules.addEventListener('input', changed);
  rules.addEventListener('change', (ev) => {
    const typeSelect = ev.target.closest('[data-type-select]');
    if (typeSelect) {
      const li = typeSelect.closest('li');
      li.dataset.type = typeSelect.value;
      li.querySelector('.rule-fields').innerHTML = fields(typeSelect.value, null);
    }
    changed();
  });
  rules.addEventListener('click', (ev) => {
    if (ev.target.closest('[data-remove]')) {
      ev.target.closest('li').remove();
      changed();
      document.getElementById('seg-add').focus();
    }
  });
  document.getElementById('seg-json-apply').addEventListener('click', () => {
    try {
      const rule = JSON.parse(jsonBox.value);
      rules.replaceChildren();
      jsonRule = null;
      builder.classList.remove('json-mode');
      load(rule);
    } catch (e) {
      countBox.textContent = 'That is not valid JSON.';
    }
  });
  load(form.dataset.segment ? JSON.parse(form.dataset.segment) : null);

  // ---- A/B toggle and save -----------------------------------------------------------------
  const abOn = document.getElementById('ab-on');
  const abFields = document.getElementById('ab-fields');
  abOn.addEventListener('change', () => { abFields.hidden = !abOn.checked; });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const box = form.querySelector('.form-error');
    box.hidden = true;
    form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
    const value = (name) => form.elements[name].value.trim();
    const opt = (name) => value(name) || null;
    const variants = [{ name: 'A', weight: 1, template_id: value('template_a') }];
    if (opt('subject_a')) variants[0].subject = value('subject_a');
    let abTest = null;
    if (abOn.checked) {
      const b = { name: 'B', weight: 1, template_id: value('template_b') };
      if (opt('subject_b')) b.subject = value('subject_b');
      variants.push(b);
      abTest = {
        sample_percent: Number(value('sample_percent')),
        metric: value('metric'),
        alpha: Number(value('alpha')),
        decide_after_minutes: Number(value('decide_after_minutes')),
      };
    }
    const body = {
      name: value('name'),
      from_email: value('from_email'),
      from_name: opt('from_name'),
      reply_to: opt('reply_to'),
      segment: segment(),
      variants,
      ab_test: abTest,
      rate_limit_per_second: opt('rate_limit_per_second') === null ? null : Number(value('rate_limit_per_second')),
    };
    const id = form.dataset.campaignId;
    const button = form.querySelector('[type=submit]');
    button.disabled = true;
    try {
      const saved = id
        ? await api('PATCH', `/api/v1/campaigns/${id}`, body, { 'If-Match': `"${form.dataset.version}"` })
        : await api('POST', '/api/v1/campaigns', body);
      location.assign(`/campaigns/${saved.id}`);
    } catch (err) {
      const names = { name: 'name', from_email: 'from_email', from_name: 'from_name', reply_to: 'reply_to', rate_limit_per_second: 'rate_limit_per_second' };
      const fieldErrors = (err.problem && err.problem.errors) || [];
      fieldErrors.forEach((f) => {
        const key = names[f.field.split('.')[0]];
        if (key && form.elements[key]) form.elements[key].setAttribute('aria-invalid', 'true');
      });
      box.textContent = [err.message].concat(fieldErrors.map((f) => `${f.field}: ${f.message}`)).join(' ');
      box.hidden = false;
      box.focus();
    } finally {
      button.disabled = false;
    }
  });
})();
