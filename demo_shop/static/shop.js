/* Fjord & Pine: the consent banner. The shop stores nothing in the browser
   itself (no localStorage, sessionStorage or IndexedDB): the choice is kept
   by the server in the demo_consent cookie. */
(function () {
  'use strict';

  var MODES = {accept: 'persistent', necessary: 'auto', reject: null};
  var LABELS = {accept: 'Accept all', necessary: 'Only necessary', reject: 'Reject all'};
  var banner = document.getElementById('consent-banner');
  var opener = document.getElementById('consent-open');
  if (!banner || !window.fetch) return;  // the plain form post still works

  function tellTracker(choice) {
    try {
      window.Clerk('config', {visitor: MODES[choice]});
    } catch (e) { /* the tracker must never break the shop */ }
  }

  function save(choice) {
    var root = document.documentElement;
    return fetch('/consent', {
      method: 'POST',
      credentials: 'same-origin',
      headers: {
        'X-Requested-With': 'fetch',
        'Content-Type': 'application/x-www-form-urlencoded'
      },
      body: 'choice=' + encodeURIComponent(choice)
    }).then(function (response) {
      if (response.ok) root.setAttribute('data-consent', choice);
    }).catch(function () { /* kept for this page; asked again next time */ });
  }

  banner.addEventListener('click', function (event) {
    var button = event.target.closest('button[name="choice"]');
    if (!button || !Object.prototype.hasOwnProperty.call(MODES, button.value)) return;
    event.preventDefault();
    tellTracker(button.value);  // at once, before the round trip
    // On the privacy settings page the form stays; elsewhere it is a banner.
    if (!banner.hasAttribute('data-inline')) banner.hidden = true;
    var labels = document.querySelectorAll('.consent-label');
    for (var i = 0; i < labels.length; i++) labels[i].textContent = LABELS[button.value];
    save(button.value);
  });

  if (opener) {
    opener.addEventListener('click', function (event) {
      event.preventDefault();
      banner.hidden = false;
      var first = banner.querySelector('button');
      if (first) first.focus();
    });
  }
})();

/* Fjord & Pine: the powerstep popup's "View cart" closes it (clerk.js's own close button
   and Escape do too). */
(function () {
  'use strict';

  document.addEventListener('click', function (event) {
    var button = event.target.closest('.clerk_powerstep_close');
    if (!button) return;
    try {
      window.Clerk('ui', 'popup', '#clerk_powerstep', 'hide');
    } catch (e) {
      document.getElementById('clerk_powerstep').hidden = true;
    }
  });
})();

/* Fjord & Pine: on a narrow screen the search page's facets fold behind a Filters button. */
(function () {
  'use strict';

  document.addEventListener('click', function (event) {
    var button = event.target.closest('.filters-toggle');
    if (!button) return;
    var open = button.getAttribute('aria-expanded') !== 'true';
    button.setAttribute('aria-expanded', String(open));
    button.closest('.search-sidebar').classList.toggle('open', open);
  });
})();
