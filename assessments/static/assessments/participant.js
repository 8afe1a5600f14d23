/* Progressive enhancement only: every page works without this file. */
(function () {
  "use strict";

  // A second tap on a slow connection must not send the form twice (the server would cope, but the
  // participant would wait twice). The form data is built after this handler, so the button that was
  // pressed still sends its name and value.
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
    });
  });
  // Coming back with the browser's Back button restores the page as it was: let it be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      delete form.dataset.sent;
    });
  });

  // An error summary link moves to the question, with its wording in view, not just the first radio.
  document.querySelectorAll(".error-summary a[href^='#']").forEach(function (link) {
    link.addEventListener("click", function (event) {
      var input = document.getElementById(link.getAttribute("href").slice(1));
      if (!input) return;
      event.preventDefault();
      var fieldset = input.closest("fieldset");
      (fieldset || input).scrollIntoView();
      input.focus({ preventScroll: true });
    });
  });
})();
