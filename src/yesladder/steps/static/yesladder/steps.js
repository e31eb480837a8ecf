/* yesladder step pages: report reading and watching milestones to the page's own URL.
   No third party; everything works without this script, which only adds measurements. */
(function () {
  "use strict";
  var token = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (!token || !window.fetch) return;
  var sent = {};

  function send(action, value) {
    var key = action + ":" + value;
    if (sent[key]) return;
    sent[key] = true;
    var body = new URLSearchParams();
    body.append("csrfmiddlewaretoken", token.value);
    body.append("action", action);
    body.append("value", value);
    fetch(window.location.pathname, {
      method: "POST", body: body, credentials: "same-origin", keepalive: true,
      headers: { "X-Requested-With": "yesladder" }
    }).catch(function () { sent[key] = false; });
  }

  var video = document.querySelector("video[data-milestones]");
  if (video) {
    var marks = video.getAttribute("data-milestones").split(",").map(Number);
    var check = function () {
      if (!video.duration) return;
      var percent = (100 * video.currentTime) / video.duration;
      marks.forEach(function (mark) { if (percent >= mark - 0.5) send("video", mark); });
    };
    video.addEventListener("timeupdate", check);
    video.addEventListener("ended", function () { send("video", 100); });
  }

  var article = document.querySelector("[data-read-tracking]");
  if (article) {
    var scrolled = function () {
      var box = article.getBoundingClientRect();
      var seen = (window.innerHeight - box.top) / Math.max(box.height, 1);
      [25, 50, 75, 100].forEach(function (mark) { if (seen * 100 >= mark) send("read", "scroll:" + mark); });
    };
    window.addEventListener("scroll", scrolled, { passive: true });
    scrolled();
    var seconds = 0;
    setInterval(function () {
      if (document.visibilityState !== "visible") return;
      seconds += 5;
      [30, 60, 120, 300].forEach(function (mark) { if (seconds >= mark) send("read", "seconds:" + mark); });
    }, 5000);
  }
})();

/* Share step: "Copy my link" also puts the link on the clipboard; the form still posts so the
   share is counted. */
(function () {
  "use strict";
  var copy = document.querySelector("button[data-copy]");
  if (!copy || !navigator.clipboard) return;
  copy.addEventListener("click", function () {
    navigator.clipboard.writeText(copy.getAttribute("data-copy")).catch(function () {});
  });
})();

/* Times in the visitor's own zone: the browser's zone is kept in a first-party cookie the
   server reads; a page that showed another zone is shown again, once, in the visitor's.
   Without script the page shows the host's zone and a picker. */
(function () {
  "use strict";
  var picker = document.querySelector("select[data-zone]");
  var zone = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  document.cookie = "yl_tz=" + encodeURIComponent(zone) + ";path=/;max-age=31536000;samesite=lax";
  if (!picker || picker.getAttribute("data-zone") === zone) return;
  if (/[?&]tz=/.test(window.location.search) || sessionStorage.getItem("yl_tz_shown") === zone) return;
  sessionStorage.setItem("yl_tz_shown", zone);
  window.location.reload();
})();
