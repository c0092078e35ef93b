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
