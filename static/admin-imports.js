// /admin/imports: send the chosen CSV to the import API with the session and
// CSRF token, then open the page on that import (it reloads itself while the
// import runs). The texts come from the form's data attributes.
"use strict";

(function () {
  const form = document.getElementById("import-form");
  if (!form) {
    return;
  }
  const status = document.getElementById("import-status");
  const token = document.querySelector('meta[name="csrf-token"]').content;

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const file = document.getElementById("import-file").files[0];
    if (!file) {
      return;
    }
    const dryRun = document.getElementById("import-dry-run").checked;
    const invite = document.getElementById("import-invite").checked;
    const body = new FormData();
    body.append("file", file, file.name);
    const button = form.querySelector("button");
    button.disabled = true;
    status.textContent = form.dataset.sending;
    const query = [];
    if (dryRun) query.push("dry_run=1");
    if (invite) query.push("invite=1");
    fetch(form.dataset.url + (query.length ? "?" + query.join("&") : ""), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": token },
    })
      .then(function (response) {
        return response.json().then(function (answer) {
          return { ok: response.ok, answer: answer };
        });
      })
      .then(function (result) {
        if (result.ok) {
          window.location.assign(form.dataset.page + "?job=" + result.answer.id);
          return;
        }
        const code = (result.answer && result.answer.error) || "other";
        const text = form.getAttribute("data-error-" + code) || form.dataset.errorOther;
        status.textContent = form.dataset.failed + " " + text;
        button.disabled = false;
      })
      .catch(function () {
        status.textContent = form.dataset.failed + " " + form.dataset.errorOther;
        button.disabled = false;
      });
  });
})();
