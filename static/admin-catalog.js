// /admin/stores: poll the geo refresh started by a store change until it is done.
"use strict";

(function () {
  const box = document.getElementById("refresh");
  if (!box) return;
  const status = box.querySelector(".status");
  const bar = box.querySelector("progress");
  const numbers = box.querySelector(".numbers");

  function show(r) {
    box.dataset.status = r.status;
    status.textContent = box.dataset["text" + r.status[0].toUpperCase() + r.status.slice(1)] || r.status;
    bar.max = r.total || 1;
    bar.value = r.total ? r.processed : (r.status === "done" ? 1 : 0);
    numbers.textContent = box.dataset.numbers
      .replace("{processed}", r.processed)
      .replace("{total}", r.total)
      .replace("{refreshed}", r.refreshed);
  }

  async function poll() {
    if (box.dataset.status !== "queued") return;
    try {
      const response = await fetch(box.dataset.url, { credentials: "same-origin" });
      if (response.ok) show(await response.json());
    } catch (error) {
      // Keep polling: a transient error must not stop the progress bar.
    }
    if (box.dataset.status === "queued") window.setTimeout(poll, 1000);
  }
  poll();
})();
