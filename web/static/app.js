// mih admin UI: the little the pages do with script. Every form works without it.
(function () {
	'use strict';

	// Dashboard and sync runs: fetch the live part every few seconds (data-every, in ms), unless
	// paused, the tab is hidden, or the keyboard focus is inside it (replacing it would take the
	// focus away). A part that holds [data-final] (a finished sync run) is the last one fetched.
	var live = document.getElementById('live');
	var toggle = document.getElementById('refresh-toggle');
	var note = document.getElementById('refresh-note');
	if (live && toggle && live.getAttribute('data-refresh')) {
		var url = live.getAttribute('data-refresh');
		var every = parseInt(live.getAttribute('data-every'), 10) || 5000;
		var paused = false;
		var timer = null;
		var schedule = function () {
			clearTimeout(timer);
			timer = setTimeout(refresh, every);
		};
		var refresh = function () {
			if (paused) {
				return;
			}
			if (document.hidden || live.contains(document.activeElement)) {
				schedule();
				return;
			}
			fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { 'X-Mih-Fragment': '1' } })
				.then(function (r) {
					if (r.status === 401) {
						paused = true;
						toggle.hidden = true;
						note.textContent = 'Your session has ended: reload the page to sign in again.';
						return null;
					}
					if (!r.ok) {
						throw new Error('HTTP ' + r.status);
					}
					return r.text();
				})
				.then(function (html) {
					if (html === null) {
						return;
					}
					live.innerHTML = html;
					if (live.querySelector('[data-final]')) {
						paused = true;
						toggle.hidden = true;
						note.textContent = 'Finished.';
						return;
					}
					note.textContent = '';
					schedule();
				})
				.catch(function () {
					note.textContent = 'The last refresh failed; trying again.';
					schedule();
				});
		};
		toggle.hidden = false;
		toggle.addEventListener('click', function () {
			paused = !paused;
			toggle.setAttribute('aria-pressed', paused ? 'true' : 'false');
			toggle.textContent = paused ? 'Resume auto-refresh' : 'Pause auto-refresh';
			if (paused) {
				clearTimeout(timer);
			} else {
				refresh();
			}
		});
		schedule();
	}

	// Service form: show only the fields of the chosen service type and auth type. A part that
	// holds a field with an error stays visible, so that the error can be seen and fixed.
	var form = document.querySelector('form[data-service-form]');
	if (form) {
		var show = function (attr, value) {
			form.querySelectorAll('[' + attr + ']').forEach(function (el) {
				var wanted = el.getAttribute(attr).split(' ').indexOf(value) >= 0;
				el.hidden = !wanted && !el.querySelector('.invalid');
			});
		};
		var sync = function () {
			show('data-types', form.elements['type'].value);
			show('data-auth', form.elements['auth.type'].value);
		};
		form.addEventListener('change', sync);
		sync();
	}
})();
