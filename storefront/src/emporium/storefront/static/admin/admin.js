// The admin's one script: a preview of the image chosen for upload, before it is sent.
// The form works without it (the preview is a nicety; the server checks the file).
(function () {
  "use strict";
  var LIMIT = 10 * 1024 * 1024;
  document.addEventListener("DOMContentLoaded", function () {
    var input = document.getElementById("f-file");
    var box = document.getElementById("image-preview-box");
    var preview = document.getElementById("image-preview");
    var size = document.getElementById("f-file-size");
    if (!input || !box || !preview || !window.URL) { return; }
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (preview.getAttribute("data-url")) { URL.revokeObjectURL(preview.getAttribute("data-url")); }
      if (!file) { box.hidden = true; return; }
      var url = URL.createObjectURL(file);
      preview.setAttribute("data-url", url);
      preview.src = url;
      preview.alt = "Preview of " + file.name;
      box.hidden = false;
      if (size) {
        size.hidden = file.size <= LIMIT;
        size.textContent = file.size > LIMIT ? "This file is larger than 10 MB: choose a smaller one." : "";
      }
    });
  });
})();
