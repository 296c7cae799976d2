import { $, api, sendCode, showError, t } from '/static/core.js';

$('#send-code').addEventListener('click', (e) => sendCode(e.currentTarget, { purpose: 'register', to: $('#phone').value.trim() }));
$('#register-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = $('#register-error');
  error.hidden = true;
  if ($('#password').value !== $('#password2').value) {
    error.textContent = t('register.mismatch');
    error.hidden = false;
    return;
  }
  $('#register-submit').disabled = true;
  try {
    await api('POST', '/auth/register', {
      name: $('#name').value.trim(),
      phone: $('#phone').value.trim(),
      code: $('#code').value.trim(),
      password: $('#password').value,
    });
    location.href = '/identity';
  } catch (err) {
    showError(err, error);
    $('#register-submit').disabled = false;
  }
});
