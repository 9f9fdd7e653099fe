// caddy-csb console: progressive enhancements only. The pages work
// without this script: lease times are written by the server and every
// fieldset of the request form is shown.
(function () {
	"use strict";
	document.documentElement.classList.add("js");

	// Count lease time down.
	function left(ms) {
		if (ms <= 0) return "ended";
		var s = Math.round(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
		s = s % 60;
		var pad = function (n) { return (n < 10 ? "0" : "") + n; };
		if (h > 0) return h + "h " + pad(m) + "m " + pad(s) + "s";
		if (m > 0) return m + "m " + pad(s) + "s";
		return s + "s";
	}
	function tick() {
		var els = document.querySelectorAll("time.countdown[data-expires]");
		for (var i = 0; i < els.length; i++) {
			var t = Date.parse(els[i].getAttribute("data-expires"));
			if (!isNaN(t)) els[i].textContent = left(t - Date.now());
		}
	}

	// Show only the fieldset of the chosen service model.
	function kinds() {
		var form = document.getElementById("request-form");
		if (!form) return;
		var chosen = form.querySelector("input[name=kind]:checked");
		var sets = form.querySelectorAll("fieldset[data-kind]");
		for (var i = 0; i < sets.length; i++) {
			var own = sets[i].getAttribute("data-kind").split(" ");
			sets[i].hidden = !!chosen && own.indexOf(chosen.value) < 0;
		}
	}

	// While a listed job is pending or provisioning, wait for its next
	// change with the broker's long-poll (the job page's ?wait=, which
	// answers when the job's status changes or after 30 s) and reload the
	// page when it has changed. An answer without Csb-Wait (a broker
	// without events) or an error ends the waiting: reload to refresh.
	function follow() {
		var el = document.querySelector("[data-wait]");
		if (!el || !window.fetch) return;
		var url = el.getAttribute("data-wait"), was = el.getAttribute("data-job-status");
		(function poll() {
			fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
				var now = r.headers.get("Csb-Job-Status");
				if (!r.ok) return;
				if (now && now !== was) { window.location.reload(); return; }
				if (r.headers.get("Csb-Wait")) poll();
			}, function () {});
		})();
	}

	document.addEventListener("DOMContentLoaded", function () {
		tick();
		follow();
		if (document.querySelector("time.countdown")) setInterval(tick, 1000);
		kinds();
		var radios = document.querySelectorAll("#request-form input[name=kind]");
		for (var i = 0; i < radios.length; i++) radios[i].addEventListener("change", kinds);
	});
})();
