// BackSoon campaign pages. Both parts only add to pages that work without them: the product picker is a plain
// list of checkboxes, and the forecast progress has a "Reload now" link.

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
