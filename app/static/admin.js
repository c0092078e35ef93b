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

// Destructive actions: their link leads to a server-rendered confirm page (which works without JavaScript); here
// that page's content opens in a native <dialog> instead, so the merchant stays where they were. The safe choice
// has the focus; Escape or "go back" closes the dialog and returns the focus to the link. Embedded in Shopify the
// links go to the confirm page itself (its GET needs a fresh session token there).
(function () {
  'use strict';
  if (document.body.dataset.embedded === 'true' || typeof HTMLDialogElement !== 'function') return;
  var dialog = document.createElement('dialog');
  var opener = null;
  dialog.className = 'confirm-dialog';
  dialog.setAttribute('aria-labelledby', 'confirm-heading');
  document.body.appendChild(dialog);
  dialog.addEventListener('close', function () {
    dialog.replaceChildren();
    if (opener) opener.focus();
  });
  document.addEventListener('click', function (event) {
    var link = event.target.closest ? event.target.closest('a[data-confirm-dialog]') : null;
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    opener = link;
    fetch(link.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } }).then(function (response) {
      if (!response.ok) throw new Error('HTTP ' + response.status);
      return response.text();
    }).then(function (html) {
      var body = new DOMParser().parseFromString(html, 'text/html').querySelector('[data-confirm-body]');
      if (!body) throw new Error('no confirm step');
      dialog.replaceChildren(document.importNode(body, true));
      var back = dialog.querySelector('[data-confirm-back]');
      back.addEventListener('click', function (e) {
        e.preventDefault();
        dialog.close();
      });
      dialog.showModal();
      back.focus();
    }).catch(function () {
      window.location.href = link.href;  // the confirm page itself says what went wrong, or what to do
    });
  });
})();

// Error summaries (settings_macros.error_summary): a page that comes back with errors starts with the focus on the
// summary, so a screen reader reads it and the keyboard starts there; a summary link focuses its field, not just
// scrolls to it. Without JavaScript the summary is a plain list of in-page links.
(function () {
  'use strict';
  var summary = document.querySelector('[data-error-summary]');
  if (!summary) return;
  summary.focus();
  summary.addEventListener('click', function (event) {
    var link = event.target.closest('a[href^="#"]');
    var target = link && document.getElementById(link.getAttribute('href').slice(1));
    if (!target) return;
    event.preventDefault();
    var label = document.querySelector('label[for="' + target.id + '"]');
    (label || target).scrollIntoView({ block: 'center' });
    target.focus({ preventScroll: true });
  });
})();

// Campaign pages. Both parts only add to pages that work without them: the product picker is a plain list of
// checkboxes, and the forecast progress has a "Reload now" link.

// The product picker's filter box: hides the products whose name, variant titles and SKUs do not contain every
// word typed; ticked products stay in view so a filter never hides a choice already made.
(function () {
  'use strict';
  var picker = document.querySelector('[data-picker]');
  if (!picker) return;
  var box = picker.querySelector('[data-picker-filter]');
  var input = box && box.querySelector('input[type="search"]');
  var status = document.getElementById('product-filter-status');
  var items = Array.prototype.slice.call(picker.querySelectorAll('li[data-search]'));
  if (!input || !items.length) return;
  box.hidden = false;
  function apply() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    items.forEach(function (item) {
      var text = item.dataset.search;
      var ticked = item.querySelector('input').checked;
      var match = ticked || words.every(function (w) { return text.indexOf(w) !== -1; });
      item.hidden = !match;
      if (match) shown += 1;
    });
    if (status) {
      status.textContent = words.length
        ? shown + ' of ' + items.length + ' products shown'
        : items.length + ' product' + (items.length === 1 ? '' : 's');
    }
  }
  input.addEventListener('input', apply);
  // Enter in the filter must not submit the campaign form half filled in.
  input.addEventListener('keydown', function (event) {
    if (event.key === 'Enter') event.preventDefault();
  });
})();

// A campaign whose variants wait for the stock recompute: ask how far it is (every 2 s, then less often), say so,
// and reload the page with the complete forecast once nothing waits.
(function () {
  'use strict';
  var box = document.getElementById('forecast-progress');
  var url = box && box.dataset.progressUrl;
  if (!url || !window.fetch) return;
  var message = document.getElementById('forecast-progress-message');
  var delay = 2000;
  function poll() {
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (body && body.pending === 0) {
          window.location.reload();
          return;
        }
        if (body && message) message.textContent = body.message;
        delay = Math.min(delay * 1.5, 30000);
        window.setTimeout(poll, delay);
      }, function () {
        delay = Math.min(delay * 2, 30000);
        window.setTimeout(poll, delay);
      });
  }
  window.setTimeout(poll, delay);
})();

// Flash messages inside the Shopify admin: App Bridge toasts (errors styled as errors), as Shopify's own pages do,
// in place of the in-page notice. Without App Bridge's toast API the in-page notice stays.
(function () {
  'use strict';
  if (document.body.dataset.embedded !== 'true') return;
  var box = document.querySelector('[data-toasts]');
  if (!box || !window.shopify || !window.shopify.toast) return;
  box.querySelectorAll('[data-toast]').forEach(function (flash) {
    window.shopify.toast.show(flash.textContent.trim(), { isError: flash.dataset.toast === 'error' });
  });
  box.hidden = true;
})();
