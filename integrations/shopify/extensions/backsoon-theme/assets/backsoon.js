// Keeps the BackSoon block in step with the selected variant. Every variant's state is already in the page
// (a JSON script written by the block from the app-owned metafields), so switching variants needs no request.
(function () {
  function render(root, state, variantId) {
    var badge = root.querySelector('[data-backsoon-badge]');
    var soon = root.querySelector('[data-backsoon-soon]');
    var eta = root.querySelector('[data-backsoon-eta]');
    var idInput = root.querySelector('input[name="variant_id"]');
    var kind = state && state.badge ? state.badge.kind : 'none';
    var text = '';
    if (kind === 'only_n_left' && state.badge.quantity != null) {
      text = root.dataset.textOnly.replace('[count]', String(state.badge.quantity));
    } else if (kind === 'selling_fast') {
      text = root.dataset.textFast;
    }
    badge.textContent = text;
    badge.hidden = !text || (state && state.back_soon);
    soon.hidden = !(state && state.back_soon);
    if (idInput) idInput.value = variantId;
    if (eta) {
      var showEta = state && state.back_soon && state.restock_eta && root.dataset.showEta === 'true';
      eta.hidden = !showEta;
      if (showEta) eta.textContent = root.dataset.textEta.replace('[date]', state.restock_eta);
    }
  }

  function update(variantId) {
    document.querySelectorAll('[data-backsoon]').forEach(function (root) {
      var data = root.querySelector('script[data-backsoon-states]');
      if (!data || !variantId) return;
      var states = JSON.parse(data.textContent || '{}');
      render(root, states[String(variantId)] || null, variantId);
    });
  }

  // Themes differ in how they announce a variant change, but all keep the cart form's `id` input current.
  document.addEventListener('change', function (event) {
    var form = event.target && event.target.closest ? event.target.closest('form[action*="/cart/add"]') : null;
    var input = form ? form.querySelector('[name="id"]') : null;
    if (input) setTimeout(function () { update(input.value); }, 0);
  });
})();
