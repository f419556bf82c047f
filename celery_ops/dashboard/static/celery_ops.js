// The dashboard's own behaviour, as a file: the Content-Security-Policy lets no inline
// script or event handler run.
(function () {
  "use strict";
  // A form with data-confirm asks before it is sent (deleting a schedule, say).
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
})();
