import { $, api, el, showError, statusChip, t } from '/static/core.js';

async function load() {
  const state = $('#identity-state');
  try {
    const status = await api('GET', '/me/identity');
    state.replaceChildren(el('p', {}, t('identity.status'), ' ', statusChip(status.status)));
    if (status.status === 'verified') {
      state.append(
        el('dl', { class: 'kv' },
          el('dt', {}, t('identity.real_name')), el('dd', {}, status.real_name || ''),
          el('dt', {}, t('identity.id_number')), el('dd', {}, status.id_masked || '')),
        el('div', { class: 'actions' }, el('a', { class: 'button primary', href: '/' }, t('identity.go_home'))));
      $('#identity-form').hidden = true;
    } else {
      if (status.reason) state.append(el('p', { class: 'error' }, status.reason));
      $('#identity-form').hidden = status.status === 'pending';
    }
  } catch (err) {
    showError(err, state);
  }
}

$('#identity-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = $('#identity-error');
  error.hidden = true;
  $('#identity-submit').disabled = true;
  try {
    await api('POST', '/me/identity', { real_name: $('#real-name').value.trim(), id_number: $('#id-number').value.trim().toUpperCase() });
    await load();
  } catch (err) {
    showError(err, error);
  } finally {
    $('#identity-submit').disabled = false;
  }
});
load();
