// /admin/settings: builds the settings body from the form, shows a live preview
// of the pass (POST /api/v1/program/preview: the sample member's pass.json and
// images), saves (PATCH /api/v1/program), uploads/removes images and follows
// the pass refresh a change queued. Session cookie + CSRF token, like admin.js.
// A chosen image is checked here (type, size: the server's limits) and shown in
// the preview at once from an object URL; Save uploads it, where the server
// checks it again and makes the pass images.
"use strict";

(function () {
  const root = document.getElementById("settings");
  if (!root) return;
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const programId = root.dataset.programId;
  const lang = root.dataset.lang;
  const $ = (id) => document.getElementById(id);

  function url(path, extra) {
    const query = new URLSearchParams({ program_id: programId, ...(extra || {}) });
    return "/api/v1" + path + "?" + query.toString();
  }

  async function call(method, path, body, extra) {
    const options = {
      method: method,
      credentials: "same-origin",
      headers: { "X-CSRFToken": token },
    };
    if (body instanceof FormData) {
      options.body = body;
    } else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url(path, extra), options);
    let data = {};
    try {
      data = await response.json();
    } catch (error) {
      data = { message: response.statusText };
    }
    if (!response.ok) {
      const failure = new Error(data.message || response.statusText);
      failure.code = data.error;
      failure.field = data.field;
      throw failure;
    }
    return data;
  }

  // -- the body, from the form ---------------------------------------------------
  function whole(value) {
    return /^-?\d+$/.test(value.trim()) ? Number(value) : value;
  }
  function number(value) {
    return value.trim() !== "" && !Number.isNaN(Number(value)) ? Number(value) : value;
  }
  function texts(field) {
    const result = {};
    document.querySelectorAll(`[data-text="${field}"]`).forEach(function (area) {
      result[area.dataset.language] = area.value;
    });
    return result;
  }
  function tiers() {
    return Array.from(document.querySelectorAll("#tiers tr[data-tier]")).map(function (row) {
      const get = (name) => row.querySelector(`[data-field="${name}"]`).value;
      const name = { ru: get("name_ru") };
      if (get("name_en").trim()) name.en = get("name_en");
      return {
        code: get("code").trim(),
        name: name,
        min_spend: whole(get("min_spend")),
        earn_percent: number(get("earn_percent")),
      };
    });
  }
  function readBody() {
    const colors = {};
    document.querySelectorAll("[data-color]").forEach(function (input) {
      colors[input.dataset.color] = input.value.trim();
    });
    const share = $("r-max_redeem").value;
    return {
      name: $("f-name").value,
      organization_name: $("f-organization_name").value,
      description: $("f-description").value,
      logo_text: $("f-logo_text").value,
      brand_name: $("f-brand_name").value,
      colors: colors,
      texts: { terms: texts("terms"), contacts: texts("contacts"), privacy: texts("privacy") },
      rules: {
        max_redeem_share: share.trim() === "" ? share : Number(share) / 100,
        point_value: $("r-point_value").value,
        welcome_bonus: whole($("r-welcome_bonus").value),
        profile_points: whole($("r-profile_points").value),
        points_rounding: $("r-points_rounding").value,
        signup_otp: $("r-signup_otp").checked,
        fallback_channels: $("r-fallback_channels").value,
      },
      quiet_hours: { from: whole($("q-from").value), until: whole($("q-until").value) },
      timezone: $("q-timezone").value.trim(),
      country: $("q-country").value.trim(),
      tiers: tiers(),
    };
  }

  // -- messages ------------------------------------------------------------------
  function showError(message) {
    const box = $("settings-error");
    box.textContent = message || "";
    box.hidden = !message;
    if (!message) clearFieldErrors();
  }

  // The API answers in English for programs; the page says it in its own language,
  // next to the field: the error code picks the text, the field comes from the
  // answer's `field` or the path the English message starts with
  // ("quiet_hours.from: an hour, 0 to 23").
  const FIELDS = {
    name: "f-name", organization_name: "f-organization_name", description: "f-description",
    logo_text: "f-logo_text", brand_name: "f-brand_name", timezone: "q-timezone", country: "q-country",
    "quiet_hours.from": "q-from", "quiet_hours.until": "q-until",
    "rules.max_redeem_share": "r-max_redeem", "rules.point_value": "r-point_value",
    "rules.welcome_bonus": "r-welcome_bonus", "rules.points_rounding": "r-points_rounding",
    "rules.profile_points": "r-profile_points",
  };
  function fieldOf(error) {
    const path = error.field || ((error.message || "").match(/^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)*)[: ]/) || [])[1];
    if (!path) return null;
    if (FIELDS[path]) return $(FIELDS[path]);
    let match = path.match(/^colors\.([a-z]+)$/);
    if (match) return $("c-" + match[1]);
    match = path.match(/^texts\.([a-z]+)\.([a-z]+)$/);
    if (match) return $("t-" + match[1] + "-" + match[2]);
    match = path.match(/^tiers\[(\d+)\](?:\.([a-z_]+))?/);
    if (match) {
      const row = document.querySelectorAll("#tiers tr[data-tier]")[Number(match[1])];
      const field = match[2] === "name" ? "name_ru" : match[2] || "code";
      return row ? row.querySelector(`[data-field="${field}"]`) : null;
    }
    const top = path.split(".")[0];
    return FIELDS[top] ? $(FIELDS[top]) : null;
  }
  function labelOf(input) {
    const label = input.id && document.querySelector(`label[for="${input.id}"]`);
    return (label ? label.textContent : input.getAttribute("aria-label") || "").trim();
  }
  function clearFieldErrors() {
    document.querySelectorAll("#settings-form .field-error").forEach((node) => node.remove());
    document.querySelectorAll('#settings-form [aria-invalid="true"]').forEach(function (node) {
      node.removeAttribute("aria-invalid");
    });
  }
  function explain(error, focus) {
    const key = "settings.error." + (error.code || "");
    // English pages keep the API's own (English, more exact) message.
    let text = I18N.has(key) ? I18N.t(key) : I18N.t("settings.error.other");
    if (I18N.lang === "en" && error.message) text = error.message;
    const input = fieldOf(error);
    clearFieldErrors();
    if (!input) return text;
    input.setAttribute("aria-invalid", "true");
    const note = document.createElement("span");
    note.className = "field-error";
    note.setAttribute("role", "alert");
    note.textContent = text;
    input.insertAdjacentElement("afterend", note);
    if (focus) input.focus();
    const label = labelOf(input);
    return label ? `«${label}»: ${text}` : text;
  }
  function showWarnings(list) {
    const box = $("warnings");
    box.replaceChildren(
      ...list.map(function (warning) {
        const item = document.createElement("li");
        const key = "settings.warning." + warning.code;
        item.textContent = I18N.has(key) ? I18N.t(key) : warning.message;
        item.dataset.code = warning.code;
        return item;
      })
    );
  }

  // -- the preview -----------------------------------------------------------------
  function render(data) {
    const pass = data.pass;
    const card = $("pass-preview");
    card.dataset.background = pass.backgroundColor;
    // A chosen, not yet saved image replaces the server's in the preview.
    window.drawPassFront(card, "pv", pass, {
      logo: pending.logo ? pending.logo.url : data.images.logo,
      strip: pending.strip ? pending.strip.url : data.images.strip,
    });
    $("pv-alt").textContent = pass.barcodes[0].altText;
    showWarnings(data.warnings);
  }

  // kind -> {file, url, width, height}: images chosen but not saved yet.
  const pending = {};

  let asked = 0;
  let timer = null;
  async function preview() {
    const ticket = ++asked;
    try {
      const data = await call("POST", "/program/preview", readBody(), { lang: lang });
      if (ticket !== asked) return; // a newer edit is on its way
      showError("");
      render(data);
    } catch (error) {
      if (ticket === asked) showError(explain(error, false));
    }
  }
  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(preview, 150);
  }

  // Colour picker and hex field move together.
  document.querySelectorAll("[data-color-picker]").forEach(function (picker) {
    const text = document.querySelector(`[data-color="${picker.dataset.colorPicker}"]`);
    picker.addEventListener("input", function () {
      text.value = picker.value;
    });
    text.addEventListener("input", function () {
      if (/^#[0-9a-fA-F]{6}$/.test(text.value.trim())) picker.value = text.value.trim().toLowerCase();
    });
  });
  const form = $("settings-form");
  form.addEventListener("input", function (event) {
    if (event.target.type !== "file") schedulePreview();
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
  });

  // -- tiers -----------------------------------------------------------------------
  $("add-tier").addEventListener("click", function () {
    $("tiers").append($("tier-row").content.cloneNode(true));
  });
  $("tiers").addEventListener("click", function (event) {
    const button = event.target.closest("[data-remove-tier]");
    if (!button) return;
    button.closest("tr").remove();
    schedulePreview();
  });

  // -- the refresh of the passes -----------------------------------------------------
  let watching = null;
  function showRefresh(refresh) {
    const box = $("refresh");
    box.hidden = false;
    box.dataset.refreshId = refresh.id;
    box.dataset.status = refresh.status;
    const percent = refresh.total ? Math.floor((100 * refresh.processed) / refresh.total) : 100;
    $("refresh-bar").value = refresh.status === "done" ? 100 : percent;
    // After new tier thresholds the same batches re-tier the members first.
    const retiered = refresh.retier
      ? ` · ${root.dataset.retiered} ${I18N.number(refresh.retiered)}`
      : "";
    const status = I18N.has("refresh." + refresh.status)
      ? I18N.t("refresh." + refresh.status)
      : refresh.status;
    $("refresh-numbers").textContent =
      `${I18N.number(refresh.processed)}/${I18N.number(refresh.total)} · ` +
      `${I18N.number(refresh.refreshed)} ↻${retiered} · ${status}`;
  }
  function follow(refresh) {
    if (!refresh) return;
    showRefresh(refresh);
    clearTimeout(watching);
    if (refresh.status === "done") return;
    watching = setTimeout(async function () {
      try {
        let next = await call("GET", `/program/refreshes/${refresh.id}`);
        if (next.status === "superseded") next = (await call("GET", "/program")).refresh;
        follow(next);
      } catch (error) {
        watching = setTimeout(() => follow(refresh), 3000);
      }
    }, 1000);
  }
  const queued = $("refresh").dataset.refreshId;
  if (queued) call("GET", `/program/refreshes/${queued}`).then(follow, function () {});

  // -- save ----------------------------------------------------------------------------
  $("save").addEventListener("click", async function () {
    const status = $("save-status");
    status.textContent = "…";
    let result;
    try {
      result = await call("PATCH", "/program", readBody());
      showError("");
      showWarnings(result.warnings);
      follow(result.refresh);
    } catch (error) {
      status.textContent = "";
      showError(explain(error, true));
      return;
    }
    // Then the chosen images, each checked again by the server.
    let uploaded = 0;
    for (const kind of Object.keys(pending)) {
      const body = new FormData();
      body.append("file", pending[kind].file);
      try {
        const answer = await call("POST", `/program/images/${kind}`, body);
        discard(kind);
        showImages(answer.images);
        follow(answer.refresh);
        uploaded += 1;
      } catch (error) {
        status.textContent = "";
        // Kept as chosen (the message says why the server refused it).
        showError(`${imageRow(kind).dataset.label}: ${explain({ code: error.code, message: error.message }, false)}`);
        return;
      }
    }
    if (uploaded) preview();
    status.textContent =
      result.changed.length || uploaded ? root.dataset.saved : root.dataset.unchanged;
  });

  // -- images ----------------------------------------------------------------------------
  const saved = {}; // kind -> the state text of the stored image
  function showImages(images) {
    document.querySelectorAll("[data-image]").forEach(function (row) {
      const kind = row.dataset.image;
      const image = images[kind];
      saved[kind] = image
        ? `${root.dataset.uploaded} ${image.width}×${image.height}`
        : root.dataset.drawn;
      row.querySelector("[data-remove]").hidden = !image;
      if (!pending[kind]) row.querySelector(".image-state").textContent = saved[kind];
    });
  }
  document.querySelectorAll("[data-image]").forEach(function (row) {
    saved[row.dataset.image] = row.querySelector(".image-state").textContent;
  });
  function imageRow(kind) {
    return document.querySelector(`[data-image="${kind}"]`);
  }
  function discard(kind) {
    const chosen = pending[kind];
    if (!chosen) return;
    URL.revokeObjectURL(chosen.url);
    delete pending[kind];
    const row = imageRow(kind);
    const thumb = row.querySelector(".image-thumb");
    thumb.hidden = true;
    thumb.removeAttribute("src");
    row.querySelector("[data-discard]").hidden = true;
    row.querySelector(".image-state").textContent = saved[kind];
    row.querySelector("[data-upload]").value = "";
  }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, name) => values[name]);
  }
  // The server's own limits (data-* of #settings): a chosen file is refused
  // here with the same reasons before it is ever previewed or sent.
  async function inspect(file) {
    const maxBytes = Number(root.dataset.maxBytes);
    const maxSide = Number(root.dataset.maxSide);
    if (file.size > maxBytes) {
      return { error: fill(root.dataset.tooBig, { mb: Math.floor(maxBytes / 1048576) }) };
    }
    if (!/^image\/(png|jpeg)$/.test(file.type)) return { error: root.dataset.notImage };
    const url = URL.createObjectURL(file);
    const image = new Image();
    image.src = url;
    try {
      await image.decode();
    } catch (error) {
      URL.revokeObjectURL(url);
      return { error: root.dataset.notImage };
    }
    if (Math.max(image.naturalWidth, image.naturalHeight) > maxSide) {
      URL.revokeObjectURL(url);
      return { error: fill(root.dataset.tooWide, { px: maxSide }) };
    }
    return { url: url, width: image.naturalWidth, height: image.naturalHeight };
  }
  async function choose(input) {
    const kind = input.dataset.upload;
    const file = input.files[0];
    const checked = await inspect(file);
    if (checked.error) {
      input.value = "";
      showError(`${file.name}: ${checked.error}`);
      return;
    }
    discard(kind);
    pending[kind] = { file: file, ...checked };
    const row = imageRow(kind);
    const thumb = row.querySelector(".image-thumb");
    thumb.src = checked.url;
    thumb.hidden = false;
    row.querySelector("[data-discard]").hidden = false;
    row.querySelector(".image-state").textContent =
      `${root.dataset.pending} ${checked.width}×${checked.height}`;
    showError("");
    if (kind === "logo") $("pv-logo").src = checked.url;
    if (kind === "strip") $("pv-strip").src = checked.url;
  }
  document.querySelectorAll("[data-upload]").forEach(function (input) {
    input.addEventListener("change", function () {
      if (input.files.length) choose(input);
    });
  });
  document.querySelectorAll("[data-discard]").forEach(function (button) {
    button.addEventListener("click", function () {
      discard(button.dataset.discard);
      preview();
    });
  });
  document.querySelectorAll("[data-remove]").forEach(function (button) {
    button.addEventListener("click", async function () {
      const kind = button.dataset.remove;
      try {
        const result = await call("DELETE", `/program/images/${kind}`);
        showError("");
        showImages(result.images);
        follow(result.refresh);
        preview();
      } catch (error) {
        showError(error.message);
      }
    });
  });

  preview();
})();
