/* Starts ReDoc (templates/api/redoc.html) under the site's Content-Security-Policy: ReDoc injects its
   styles as <style> elements, which the policy lets through only with this request's nonce. */
(function () {
  "use strict";
  var script = document.currentScript;
  Redoc.init(script.dataset.specUrl, { nonce: script.nonce }, document.getElementById("redoc-container"));
})();
