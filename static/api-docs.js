// /api/docs: Redoc renders the OpenAPI document (static/vendor/redoc).
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var element = document.getElementById("api-docs");
  Redoc.init(element.dataset.spec, {
    // The search index runs in a blob: worker, which the site's CSP refuses.
    disableSearch: true,
    hideDownloadButton: false,
    expandResponses: "200,201",
    theme: { typography: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
                           headings: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif' } } },
  }, element);
});
