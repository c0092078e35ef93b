// A stand-in for Shopify's App Bridge (https://cdn.shopify.com/shopifycloud/app-bridge.js) in the browser tests,
// served in its place by Playwright's route interception. It offers what BackSoon's pages use of App Bridge's
// global API (shopify.idToken, shopify.toast.show/hide) and records what a page hands to it: the <ui-title-bar>
// (title, and each child's tag, label, variant, tone and href) and every toast, in window.__appBridge.
// __ID_TOKEN__ is replaced by the test with a session token signed like Shopify's.
(function () {
  'use strict';
  var record = { titleBar: null, toasts: [] };
  window.__appBridge = record;
  window.shopify = {
    idToken: function () { return Promise.resolve('__ID_TOKEN__'); },
    toast: {
      show: function (message, opts) {
        record.toasts.push({ message: message, isError: Boolean(opts && opts.isError) });
        return 'toast-' + record.toasts.length;
      },
      hide: function () {}
    }
  };
  function bar() { return document.querySelector('ui-title-bar'); }
  document.addEventListener('DOMContentLoaded', function () {
    var el = bar();
    if (!el) return;
    record.titleBar = {
      title: el.getAttribute('title'),
      items: Array.prototype.map.call(el.children, function (child) {
        return {
          tag: child.tagName.toLowerCase(),
          label: child.textContent.trim(),
          variant: child.getAttribute('variant'),
          tone: child.getAttribute('tone'),
          href: child.getAttribute('href')
        };
      })
    };
  });
  // The merchant clicks a title bar action in the Shopify admin: App Bridge clicks that element in the app's frame.
  record.click = function (label) {
    var target = Array.prototype.find.call(bar().children, function (child) {
      return child.textContent.trim() === label;
    });
    target.click();
  };
})();
