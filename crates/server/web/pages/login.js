import { $, api, nextPath, sendCode, showError, tabs } from '/static/core.js';

let mode = 'password';
tabs($('#login-tabs'), (name) => {
  mode = name;
  $('#by-password').hidden = name !== 'password';
  $('#by-code').hidden = name !== 'code';
});
$('#send-code').addEventListener('click', (e) => sendCode(e.currentTarget, { purpose: 'login', to: $('#phone').value.trim() }));
$('#login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = $('#login-error');
  error.hidden = true;
  const body = { phone: $('#phone').value.trim() };
  if (mode === 'password') body.password = $('#password').value;
  else body.code = $('#code').value.trim();
  $('#login-submit').disabled = true;
  try {
    await api('POST', '/auth/login', body);
    location.href = nextPath();
  } catch (err) {
    showError(err, error);
    $('#login-submit').disabled = false;
  }
});
