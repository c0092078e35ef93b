// BackSoon admin: inside the Shopify admin, every form posts a fresh App Bridge session token (cookies are
// third-party there); standalone, forms already carry their CSRF token and this script does nothing more.
(function () {
  'use strict';
  if (document.body.dataset.embedded !== 'true') return;
  document.addEventListener('submit', function (event) {
    var form = event.target;
    var field = form.querySelector('input[name="id_token"]');
    if (!field || form.dataset.tokenReady === 'true' || !window.shopify) return;
    event.preventDefault();
    window.shopify.idToken().then(function (token) {
      field.value = token;
      form.dataset.tokenReady = 'true';
      form.submit();
      form.dataset.tokenReady = 'false';
    });
  });
})();

// The optional read_all_orders scope: Shopify's own grant dialog (App Bridge Scopes API). Granted, Shopify sends
// app/scopes_update and BackSoon loads the older orders; declined, the form records it so the admin says what that
// means instead of asking again at once.
(function () {
  'use strict';
  if (document.body.dataset.embedded !== 'true') return;
  document.querySelectorAll('form[data-scope-request]').forEach(function (form) {
    var button = form.querySelector('[data-scope-ask]');
    var status = form.querySelector('[data-scope-status]');
    if (!button || !window.shopify || !window.shopify.scopes) return;
    button.addEventListener('click', function () {
      button.disabled = true;
      window.shopify.scopes.request([form.dataset.scopeRequest]).then(function (response) {
        if (response && response.result === 'granted-all') {
          status.textContent = 'Allowed: BackSoon is loading the older orders.';
          window.location.reload();
        } else {
          form.requestSubmit();
        }
      }, function (error) {
        button.disabled = false;
        status.textContent = 'Shopify could not ask for this access: ' + (error && error.message ? error.message : error);
      });
    });
  });
})();
