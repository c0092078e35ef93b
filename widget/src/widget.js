/* BackSoon storefront widget: honest scarcity badge + "Back soon" email capture. No framework, text-only DOM.
 *
 * The one source of the widget. `make widget` (widget/build.mjs, esbuild) builds it per platform into
 * app/static/widget.js (the app's shop pages and the WooCommerce plugin) and the Shopify theme app extension's
 * assets/backsoon.js. BACKSOON_SHOPIFY (true only in the Shopify build) leaves out what Shopify pages never need:
 * WooCommerce's variations, the API address taken from the script's own URL, the stylesheet the widget adds itself
 * (Shopify adds the block's) and the built-in words (the block renders them from the extension's locales). */
/* global BACKSOON_SHOPIFY, BACKSOON_STRINGS */
(function () {
  'use strict';
  if (window.BackSoonWidget) return; // loaded twice (theme + plugin): one widget is enough

  // The shopper's words per language (widget/src/strings.json), inlined in the app build. On Shopify the block renders
  // them from the extension's locale files (snippets/backsoon-i18n.liquid): the asset stays under Shopify's limit.
  var T = BACKSOON_STRINGS;
  var script = document.currentScript;
  var scriptSrc = script && script.src ? script.src : '';
  var uid = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text; // merchant and API data are text, never parsed as HTML
    return e;
  }

  function json(text, fallback) {
    try { var v = JSON.parse(text || ''); return v == null ? fallback : v; } catch (e) { return fallback; }
  }

  function strings(root) {
    if (BACKSOON_SHOPIFY) {
      var tag = root.querySelector('script[data-backsoon-i18n]');
      return json(tag && tag.textContent, {});
    }
    var lang = (root.getAttribute('data-locale') || document.documentElement.lang || 'en').slice(0, 2).toLowerCase();
    var s = {}, words = T[lang] || T.en;
    for (var k in words) s[k] = words[k];
    return s;
  }

  // "21 December" (de "21. Dezember"), with the year when it is not the store's (data-today) or the browser's.
  function day(iso, s, today) {
    var m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso || '');
    if (!m) return null;
    var t = /^\d{4}/.exec(today || '');
    var d = +m[3] + (s.lang === 'de' ? '. ' : ' ') + s.months.split(' ')[m[2] - 1];
    return +m[1] === (t ? +t[0] : new Date().getFullYear()) ? d : d + ' ' + m[1];
  }

  // WooCommerce's plugin prints {id, stock_status, back_soon, restock_eta, badge(text)} per variation; its own
  // script swaps that badge, so the widget shows none for these (kind "none") to avoid a second one.
  function fromWoo(v) {
    var st = v.stock_status;
    return {
      status: v.back_soon || st === 'outofstock' ? 'out_of_stock' : st === 'onbackorder' ? 'backorder' : 'in_stock',
      badge: { kind: 'none', quantity: null }, restock_eta: v.restock_eta || null, back_soon: !!v.back_soon, v: 1
    };
  }

  function Widget(root) {
    var w = this;
    w.root = root;
    w.s = strings(root);
    var store = root.getAttribute('data-store') || '';
    var api = root.getAttribute('data-api') || '';
    if (!BACKSOON_SHOPIFY && !api) {
      var base = scriptSrc ? scriptSrc.replace(/\/static\/[^/]*$|\/[^/]*$/, '') : '';
      api = base + '/storefront/v1/stores/' + encodeURIComponent(store);
    }
    w.api = api.replace(/\/$/, '');
    w.product = root.getAttribute('data-product') || '';
    w.today = root.getAttribute('data-today');
    w.states = json(root.getAttribute('data-states'), {});
    var tag = root.querySelector('script[data-backsoon-states]');
    if (tag) w.states = json(tag.textContent, {});
    if (!BACKSOON_SHOPIFY) {
      json(root.getAttribute('data-variations'), []).forEach(function (v) {
        if (v && v.id != null) w.states[String(v.id)] = fromWoo(v);
      });
    }
    w.own(json(root.getAttribute('data-texts'), null));
    w.consent = root.getAttribute('data-consent-text');
    w.version = root.getAttribute('data-consent-version') || '';
    var sel = root.getAttribute('data-buy-area');
    w.buy = sel ? document.querySelector(sel) : null;
    w.variant = w.initial();
    w.badge = el('p', 'bs-badge');
    w.note = el('p', 'bs-note');
    w.badge.hidden = w.note.hidden = true;
    root.appendChild(w.badge);
    root.appendChild(w.note);
    root.addEventListener('backsoon:variant', function (e) {
      var d = e.detail || {};
      var id = d.variationId != null ? d.variationId : d.variantId;
      w.pick(id == null ? root.getAttribute('data-variant') || (w.woo() ? null : w.product) : id);
    });
    w.render();
  }

  // The merchant's own words (admin settings) replace the built-in ones: [count] and [date] are their slots.
  Widget.prototype.own = function (t) {
    var s = this.s;
    if (!t) return;
    if (t.only_n_left) s.only = t.only_n_left.replace('[count]', '{n}');
    if (t.selling_fast) s.fast = t.selling_fast;
    // A heading with a [date] slot is used only when a date is known; without one the built-in words stay.
    if (t.back_soon) s[t.back_soon.indexOf('[date]') >= 0 ? 'dated' : 'soon'] = t.back_soon;
  };

  Widget.prototype.woo = function () { return !BACKSOON_SHOPIFY && this.root.hasAttribute('data-variations'); };

  Widget.prototype.initial = function () {
    var r = this.root;
    var url = new URLSearchParams(location.search).get('variant');
    var form = document.querySelector('form[action*="/cart/add"] [name="id"]');
    if (!BACKSOON_SHOPIFY && this.woo()) {
      // A simple WooCommerce product is its own (only) variant.
      return r.getAttribute('data-variation-id') || (json(r.getAttribute('data-variations'), []).length
        ? null : this.product);
    }
    return url || (form && form.value) || r.getAttribute('data-variant') || null;
  };

  Widget.prototype.pick = function (id) {
    id = id == null || id === '' ? null : String(id);
    if (id === this.variant) return;
    this.variant = id;
    this.render();
  };

  // Page state first; the public API only when the page carries none for this variant (or no consent text).
  Widget.prototype.fetch = function () {
    var w = this;
    if (w.loading || w.loaded || !w.product) return;
    w.loading = true;
    // In the shopper's language: the consent text shown must be the one the signup's version names.
    fetch(w.api + '/products/' + encodeURIComponent(w.product) + '?locale=' + w.s.lang, { headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        w.loaded = true;
        if (!data) return;
        var vs = data.variants || {};
        for (var k in vs) if (!w.states[k]) w.states[k] = vs[k];
        if (data.store && data.store.texts) w.own(data.store.texts);
        var c = data.store && data.store.consent;
        if (c && w.consent == null) { w.consent = c.text || ''; w.version = c.version || ''; }
      }, function () { w.loaded = true; })
      .then(function () { w.loading = false; w.render(); });
  };

  Widget.prototype.render = function () {
    var w = this, s = w.s;
    var state = w.variant ? w.states[w.variant] : null;
    if (w.variant && !state) {
      w.fetch();
      if (!BACKSOON_SHOPIFY && w.woo()) state = fromWoo({ stock_status: w.root.getAttribute('data-stock-status') });
    }
    var status = state ? state.status : '';
    var b = state && state.badge ? state.badge : {};
    var text = '';
    if (status === 'in_stock' || status === 'low_stock') {
      if (b.kind === 'only_n_left' && b.quantity != null) text = s.only.replace('{n}', b.quantity);
      else if (b.kind === 'selling_fast') text = s.fast;
    }
    w.badge.textContent = text;
    w.badge.className = 'bs-badge bs-badge--' + (b.kind || 'none');
    w.badge.hidden = !text;
    var ships = status === 'backorder' && day(state.restock_eta, s, w.today);
    // Stock on its way has no date (Shopify's incoming): the page may say it is coming, never when.
    var note = ships ? s.ships.replace('{d}', ships) : status === 'backorder' && state.on_its_way ? s.way : '';
    w.note.textContent = note;
    w.note.hidden = !note;
    if (status === 'out_of_stock') {
      if (w.consent == null && !w.loaded) w.fetch();
      w.show(state);
    } else {
      w.hide();
    }
    var ev;
    try {
      ev = new CustomEvent('backsoon:render', { bubbles: true, detail: { variantId: w.variant, state: state } });
      w.root.dispatchEvent(ev);
    } catch (e) { /* very old browsers: nobody to tell */ }
  };

  Widget.prototype.hide = function () {
    var w = this;
    if (w.panel) { w.panel.remove(); w.panel = w.form = null; }
    if (w.ro) { w.ro.disconnect(); w.ro = null; }
    if (w.buy) {
      w.buy.style.visibility = '';
      w.buy.removeAttribute('aria-hidden');
      w.buy.inert = false;
    }
  };

  // Sits over the hidden buy area (same box, taken out of flow) so nothing on the page moves.
  Widget.prototype.place = function () {
    var w = this, p = w.panel, b = w.buy;
    p.style.top = b.offsetTop + 'px';
    p.style.left = b.offsetLeft + 'px';
    p.style.width = b.offsetWidth + 'px';
    p.style.minHeight = b.offsetHeight + 'px';
  };

  // The consent words go into the form with their version; until they are there the box cannot be ticked.
  Widget.prototype.agree = function () {
    var w = this, f = w.form, text = w.consent || '';
    if (!f) return;
    f.querySelector('.bs-consent span').textContent = text;
    f.querySelector('.bs-consent input').disabled = !text;
    f.setAttribute('data-consent-version', text ? w.version : '');
  };

  Widget.prototype.show = function (state) {
    var w = this, s = w.s;
    if (w.panel && w.panel.getAttribute('data-variant') === w.variant) return w.agree();
    w.hide();
    var n = ++uid;
    var p = w.panel = el('div', 'bs-panel');
    p.setAttribute('data-variant', w.variant);
    p.setAttribute('role', 'region');
    var eta = day(state.restock_eta, s, w.today);
    var dated = !!(eta && s.dated);
    // The WordPress plugin already says "Back soon" (and the date) in WooCommerce's stock line: one message a page.
    var said = w.root.getAttribute('data-back-soon-text');
    if (said) {
      p.setAttribute('aria-label', said);
    } else {
      p.setAttribute('aria-labelledby', 'bs-title-' + n);
      var title = el('p', 'bs-title', dated ? s.dated.replace('[date]', eta) : s.soon);
      title.id = 'bs-title-' + n;
      p.appendChild(title);
      if (eta && !dated) p.appendChild(el('p', 'bs-eta', s.eta.replace('{d}', eta)));
      else if (!eta && state.on_its_way) p.appendChild(el('p', 'bs-eta bs-way', s.way));
    }
    var f = w.form = el('form', 'bs-form');
    f.noValidate = true;
    var label = el('label', 'bs-label', s.email);
    label.htmlFor = 'bs-email-' + n;
    var email = el('input', 'bs-email');
    email.type = 'email';
    email.name = 'email';
    email.id = label.htmlFor;
    email.required = true;
    email.setAttribute('autocomplete', 'email');
    var cl = el('label', 'bs-consent');
    var box = el('input');
    box.type = 'checkbox';
    box.name = 'consent';
    box.required = true;
    cl.appendChild(box);
    cl.appendChild(el('span'));
    // Honeypot: humans and screen readers never reach it; bots that fill every field do.
    var hp = el('div', 'bs-hp');
    hp.setAttribute('aria-hidden', 'true');
    hp.style.cssText = 'position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden';
    var trap = el('input');
    trap.type = 'text';
    trap.name = 'website';
    trap.tabIndex = -1;
    trap.setAttribute('autocomplete', 'off');
    hp.appendChild(trap);
    var btn = el('button', 'bs-submit', s.submit);
    btn.type = 'submit';
    var live = el('p', 'bs-status');
    live.setAttribute('role', 'status');
    live.setAttribute('aria-live', 'polite');
    [label, email, cl, hp, btn].forEach(function (x) { f.appendChild(x); });
    p.appendChild(f);
    p.appendChild(live);
    w.agree();
    f.addEventListener('submit', function (e) {
      e.preventDefault();
      w.submit(f, email, box, trap, btn, live);
    });
    if (w.buy) {
      w.buy.style.visibility = 'hidden';
      w.buy.setAttribute('aria-hidden', 'true');
      w.buy.inert = true;
      p.className += ' bs-over';
      w.buy.parentNode.insertBefore(p, w.buy.nextSibling);
      w.place();
      if (window.ResizeObserver) {
        w.ro = new ResizeObserver(function () { if (w.panel) w.place(); });
        w.ro.observe(w.buy);
      }
    } else {
      w.root.appendChild(p);
    }
  };

  Widget.prototype.say = function (live, text, bad) {
    live.textContent = text;
    live.className = 'bs-status' + (bad ? ' bs-status--error' : ' bs-status--ok');
  };

  Widget.prototype.submit = function (f, email, box, trap, btn, live) {
    var w = this, s = w.s;
    var addr = email.value.trim();
    email.removeAttribute('aria-invalid');
    box.removeAttribute('aria-invalid');
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(addr)) {
      email.setAttribute('aria-invalid', 'true');
      email.focus();
      return w.say(live, s.invalid, true);
    }
    var version = f.getAttribute('data-consent-version');
    if (!box.checked || !version) {
      box.setAttribute('aria-invalid', 'true');
      box.focus();
      return w.say(live, s.consent, true);
    }
    btn.disabled = true;
    f.setAttribute('aria-busy', 'true');
    w.say(live, s.sending, false);
    var body = {
      email: addr, variant_id: w.variant, consent: true, consent_version: version, locale: s.lang,
      source: w.root.getAttribute('data-source') || 'widget', website: trap.value,
      root: w.root.getAttribute('data-root') || undefined
    };
    fetch(w.api + '/subscriptions', {
      method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (d) { return [r.status, d]; }, function () { return [r.status, {}]; });
    }).then(function (res) {
      var e = res[1] && res[1].error || {}, code = e.code, m = e.message;
      if (res[0] >= 200 && res[0] < 300) {
        f.hidden = true;
        return w.say(live, res[1].confirm ? s.confirm : s.ok, false);
      }
      // A 4xx refusal carries the API's own words in the shopper's language (in_stock, consent_required...):
      // show them. The widget's words only for what it knows better, generic for 5xx, network errors and
      // the answers whose text is English for developers (invalid_request, not_found).
      w.fail(f, btn, live, code === 'invalid_email' ? s.invalid : res[0] === 429 ? s.rate
        : res[0] < 500 && code !== 'invalid_request' && code !== 'not_found' && typeof m === 'string' && m ? m
          : s.error,
      code === 'invalid_email' ? email : null);
    }, function () { w.fail(f, btn, live, s.error, null); });
  };

  Widget.prototype.fail = function (f, btn, live, text, field) {
    btn.disabled = false;
    f.removeAttribute('aria-busy');
    if (field) { field.setAttribute('aria-invalid', 'true'); field.focus(); }
    this.say(live, text, true);
  };

  var widgets = [];

  function each(fn) { widgets.forEach(fn); }

  function fromUrl() {
    var id = new URLSearchParams(location.search).get('variant');
    if (id) each(function (w) { if (!w.woo()) w.pick(id); });
  }

  function start() {
    var roots = document.querySelectorAll('#backsoon-root, [data-backsoon-mount]');
    // A placed "Back soon" block beats the app embed's own mount: one message per page even if both are on.
    var block = document.querySelector('[data-backsoon-mount]:not(#backsoon-embed)');
    for (var i = 0; i < roots.length; i++) {
      if (roots[i].getAttribute('data-backsoon-ready') || block && roots[i].id === 'backsoon-embed') continue;
      roots[i].setAttribute('data-backsoon-ready', '1');
      widgets.push(new Widget(roots[i]));
    }
    if (!BACKSOON_SHOPIFY && scriptSrc && !document.querySelector('link[data-backsoon-css],link[href*="widget.css"]')) {
      var css = el('link');
      css.rel = 'stylesheet';
      css.setAttribute('data-backsoon-css', '');
      css.href = scriptSrc.replace(/\.js(\?.*)?$/, '.css$1');
      document.head.appendChild(css);
    }
  }

  // Shopify themes: the cart form's id input changes (Dawn dispatches `change`), some emit their own events,
  // and most rewrite ?variant= in the URL. The demo picker's inputs carry data-backsoon-variant.
  document.addEventListener('change', function (e) {
    var t = e.target;
    if (!t || !t.getAttribute) return;
    if (t.hasAttribute('data-backsoon-variant') || t.name === 'id') {
      return each(function (w) { if (!w.woo()) w.pick(t.value); });
    }
    var form = t.closest && t.closest('form[action*="/cart/add"]');
    var input = form && form.querySelector('[name="id"]');
    if (input) setTimeout(function () { each(function (w) { if (!w.woo()) w.pick(input.value); }); }, 0);
  });
  ['variant:change', 'on:variant:change', 'variant:changed'].forEach(function (name) {
    document.addEventListener(name, function (e) {
      var v = e.detail && e.detail.variant;
      if (v && v.id != null) each(function (w) { if (!w.woo()) w.pick(v.id); });
    });
  });
  ['pushState', 'replaceState'].forEach(function (m) {
    var orig = history[m];
    history[m] = function () {
      var r = orig.apply(this, arguments);
      fromUrl();
      return r;
    };
  });
  window.addEventListener('popstate', fromUrl);

  window.BackSoonWidget = { start: start, widgets: widgets };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
