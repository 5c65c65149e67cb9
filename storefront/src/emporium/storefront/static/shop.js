// The shop's only script of its own: live order status over the storefront's event relay.
// Everything else works without JavaScript (plain forms); htmx enhances where it is loaded.
(function () {
  "use strict";
  var FINAL = ["rejected", "cancelled", "shipped"];
  function follow(box) {
    var url = box.getAttribute("data-events");
    if (!url || !window.EventSource) { return; }
    var source = new EventSource(url);
    source.addEventListener("status", function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      var badge = document.getElementById("order-status");
      if (badge && data.status) {
        badge.textContent = data.status;
        badge.className = "status status-" + data.status;
      }
      var reason = document.getElementById("order-reason");
      if (reason) {
        reason.textContent = data.reason ? "Reason: " + data.reason : "";
        reason.hidden = !data.reason;
      }
      var cancel = document.getElementById("cancel-order");
      if (cancel && data.status && data.status !== "pending" && data.status !== "confirmed") {
        cancel.hidden = true;
      }
      box.setAttribute("data-status", data.status || "");
      // A final status: the stream ends there, so stop the browser reconnecting to it.
      if (FINAL.indexOf(data.status) >= 0) { source.close(); }
    });
    source.addEventListener("end", function () { source.close(); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var boxes = document.querySelectorAll("[data-events]");
    for (var i = 0; i < boxes.length; i++) { follow(boxes[i]); }
  });
})();
