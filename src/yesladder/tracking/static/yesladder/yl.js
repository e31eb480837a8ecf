/* yesladder tracking snippet: counts the micro-commitments made on a site's own pages.
   <script src="https://FUNNELS-HOST/static/yesladder/yl.js" data-key="WRITE_KEY" defer></script>
   Page views with UTM tags; clicks on [data-yl-event] or [data-yl-step]; video milestones; scroll
   depth and reading time; identify on forms marked [data-yl-optin]. A page (or any element)
   with data-yl-funnel and data-yl-step makes these step actions of that funnel's step.
   Messages follow the Segment spec, are batched, sent to the yesladder that served this file
   (fetch keepalive, sendBeacon when the page goes), and kept until acknowledged: a retry
   carries the same message ids, so nothing is counted twice. No cookies, no third party. */
(function (w, d) {
  "use strict";
  var me = d.currentScript || d.querySelector("script[data-key][src*='yl.js']");
  if (!me || !w.fetch || !w.JSON) return;
  var key = me.getAttribute("data-key");
  var api = new URL(me.src, location.href).origin + "/v1/batch";
  var MAX = 100, VIDEO = [25, 50, 75, 90, 100], SCROLL = [25, 50, 75, 100];
  var SECONDS = [30, 60, 120, 300];

  function get(store, name) { try { return w[store].getItem(name); } catch (e) { return null; } }
  function put(store, name, value) { try { w[store].setItem(name, value); } catch (e) { /* full */ } }
  function uuid() {
    if (w.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = Math.random() * 16 | 0;
      return (c === "x" ? r : (r & 3 | 8)).toString(16);
    });
  }

  var anon = get("localStorage", "yl_aid");
  if (!anon) { anon = uuid(); put("localStorage", "yl_aid", anon); }
  // Per tab, across this site's pages: what is not acknowledged yet.
  var queue = [];
  try { queue = JSON.parse(get("sessionStorage", "yl_q") || "[]"); } catch (e) { queue = []; }
  var timer = null, wait = 1000, sending = false;

  function save() { put("sessionStorage", "yl_q", JSON.stringify(queue.slice(-1000))); }

  function campaign() {
    var found = {}, q = new URLSearchParams(location.search);
    ["source", "medium", "campaign", "term", "content"].forEach(function (k) {
      var v = q.get("utm_" + k);
      if (v) found[k === "campaign" ? "name" : k] = v.slice(0, 200);
    });
    return found;
  }

  function send(type, fields) {
    var m = {
      type: type, messageId: uuid(), anonymousId: anon, timestamp: new Date().toISOString(),
      context: {
        userAgent: navigator.userAgent, library: { name: "yesladder.js", version: "1" },
        page: { url: location.href, path: location.pathname, referrer: d.referrer,
                title: d.title, search: location.search },
        campaign: campaign()
      }
    };
    for (var f in fields) m[f] = fields[f];
    queue.push(m);
    save();
    schedule(type === "identify" ? 0 : 300);
  }

  function schedule(delay) { if (!timer) timer = setTimeout(flush, delay); }

  function body(batch) {
    return JSON.stringify({ batch: batch, sentAt: new Date().toISOString(), writeKey: key });
  }

  function flush() {
    timer = null;
    if (!queue.length || sending) return;
    sending = true;
    var batch = queue.slice(0, MAX), text = body(batch);
    // text/plain keeps it a simple request: no preflight.
    fetch(api, { method: "POST", body: text, keepalive: text.length < 60000,
                 credentials: "omit", headers: { "Content-Type": "text/plain" } })
      .then(function (r) {
        sending = false;
        if (r.status === 429 || r.status >= 500) return retry();
        if (r.ok) r.json().then(variantsIn, function () { /* an answer without a body */ });
        var done = {};  // a 4xx other than 429 will not get better by sending it again
        batch.forEach(function (m) { done[m.messageId] = 1; });
        queue = queue.filter(function (m) { return !done[m.messageId]; });
        save();
        wait = 1000;
        if (queue.length) schedule(0);
      }, function () { sending = false; retry(); });
  }

  // The experiment variant the visitor walks in each funnel, as the API names it: kept (so the
  // next page shows it before any answer), set on the funnel's elements as data-yl-variant and
  // data-yl-experiment (for CSS), and announced as a "yesladder:variant" event on document.
  var variants = {};
  try { variants = JSON.parse(get("localStorage", "yl_var") || "{}") || {}; } catch (e) { variants = {}; }
  function mark() {
    Array.prototype.forEach.call(d.querySelectorAll("[data-yl-funnel]"), function (el) {
      var v = variants[el.getAttribute("data-yl-funnel")];
      if (!v) return;
      el.setAttribute("data-yl-experiment", v.experiment);
      el.setAttribute("data-yl-variant", v.variant);
    });
  }
  function variantsIn(answer) {
    ((answer && answer.variants) || []).forEach(function (v) {
      if (v.anonymousId !== anon || typeof v.funnel !== "string") return;
      var known = variants[v.funnel], now = { experiment: String(v.experiment), variant: String(v.variant) };
      variants[v.funnel] = now;
      put("localStorage", "yl_var", JSON.stringify(variants));
      mark();
      if (!known || known.variant !== now.variant || !announced[v.funnel]) {
        announced[v.funnel] = 1;
        d.dispatchEvent(new CustomEvent("yesladder:variant", {
          detail: { funnel: v.funnel, experiment: now.experiment, variant: now.variant } }));
      }
    });
  }
  var announced = {};
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", mark); else mark();

  function retry() { wait = Math.min(wait * 2, 60000); schedule(wait); }

  // Leaving: hand the rest to the browser. It stays queued in this tab; if the beacon did not
  // arrive, the next page sends it again under the same ids.
  w.addEventListener("pagehide", function () {
    if (queue.length && navigator.sendBeacon) navigator.sendBeacon(api, body(queue.slice(0, MAX)));
  });

  function where(el) {
    var props = {}, f = el.closest("[data-yl-funnel]"), s = el.closest("[data-yl-step]");
    if (f) props.funnel = f.getAttribute("data-yl-funnel");
    if (s) props.step = s.getAttribute("data-yl-step");
    return props;
  }

  function track(event, props) { send("track", { event: event, properties: props || {} }); }

  // Clicks on marked elements.
  d.addEventListener("click", function (e) {
    var el = e.target.closest && e.target.closest("[data-yl-event],[data-yl-step]");
    if (!el) return;
    var props = where(el);
    props.text = (el.textContent || "").trim().slice(0, 100);
    if (el.href) props.href = el.href;
    track(el.getAttribute("data-yl-event") || "cta_clicked", props);
  }, true);

  // Video milestones, for every HTML5 video (timeupdate does not bubble: listen while capturing).
  function watched(e) {
    var v = e.target;
    if (!v || v.tagName !== "VIDEO" || !v.duration) return;
    var percent = e.type === "ended" ? 100 : 100 * v.currentTime / v.duration;
    v.ylSent = v.ylSent || {};
    VIDEO.forEach(function (mark) {
      if (percent >= mark - 0.5 && !v.ylSent[mark]) {
        v.ylSent[mark] = 1;
        var props = where(v);
        props.percent = mark;
        props.src = (v.currentSrc || "").slice(0, 500);
        track("video_progress", props);
      }
    });
  }
  d.addEventListener("timeupdate", watched, true);
  d.addEventListener("ended", watched, true);

  // Reading: how far down the page, and for how long it was in view.
  var pageWhere = where(d.body || d.documentElement), read = {};
  function reading(measure, mark) {
    if (read[measure + mark]) return;
    read[measure + mark] = 1;
    var props = where(d.body || d.documentElement);
    props[measure] = mark;
    track("read_progress", props);
  }
  function scrolled() {
    var root = d.documentElement;
    var depth = 100 * (w.scrollY + w.innerHeight) / Math.max(root.scrollHeight, 1);
    SCROLL.forEach(function (mark) { if (depth >= mark - 0.5 && w.scrollY > 0) reading("scroll", mark); });
  }
  w.addEventListener("scroll", scrolled, { passive: true });
  var seconds = 0;
  setInterval(function () {
    if (d.visibilityState !== "visible") return;
    seconds += 5;
    SECONDS.forEach(function (mark) { if (seconds >= mark) reading("seconds", mark); });
  }, 5000);

  // Opt-in forms: who this is, and what they agreed to.
  d.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.hasAttribute || !form.hasAttribute("data-yl-optin")) return;
    var traits = {}, n = 0;
    Array.prototype.forEach.call(form.elements, function (el) {
      var kind = (el.type || "").toLowerCase();
      if (!el.name || !el.value || n > 20 || /password|hidden|checkbox|radio|submit|file/.test(kind)) return;
      traits[el.name === "mail" ? "email" : el.name] = String(el.value).slice(0, 200);
      n++;
    });
    var email = form.querySelector("input[type=email]");
    if (email && email.value) traits.email = email.value.slice(0, 254);
    if (!traits.email) return;
    var fields = { traits: traits };
    var consent = form.getAttribute("data-yl-consent");
    send("identify", fields);
    if (consent) queue[queue.length - 1].context.consent = { text: consent.slice(0, 500) };
    save();
  }, true);

  w.yesladder = {
    track: track,
    page: function (name, props) { send("page", { name: name || d.title, properties: props || {} }); },
    identify: function (userId, traits) { send("identify", { userId: userId, traits: traits || {} }); },
    anonymousId: function () { return anon; },
    variant: function (funnel) { return variants[funnel] ? variants[funnel].variant : null; }
  };
  w.yesladder.page();
  if (pageWhere.funnel && pageWhere.step) track("step_viewed", pageWhere);
  flush();
})(window, document);
