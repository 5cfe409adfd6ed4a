// The /admin pages' behaviour: segment preview, campaign create/schedule/cancel,
// and progress polling. Calls /api/v1 with the session cookie and the CSRF token.
"use strict";

// The front of a pass preview, shared by the settings page and the campaign
// form: `card` is the pass box, the other elements' ids are `prefix` + "-logo",
// "-strip", "-logo-text", "-points-label", "-points" and "-fields"; `images`
// the logo and strip URLs.
window.drawPassFront = function (card, prefix, pass, images) {
  const $ = function (name) { return document.getElementById(prefix + "-" + name); };
  const show = function (value) {
    return typeof value === "number" ? I18N.number(value) : String(value);
  };
  const fieldBox = function (entry) {
    const box = document.createElement("div");
    box.className = "pass-field";
    box.dataset.key = entry.key;
    const label = document.createElement("span");
    label.className = "pass-label";
    label.textContent = entry.label || "";
    const value = document.createElement("span");
    value.className = "pass-value";
    value.textContent = show(entry.value);
    box.append(label, value);
    return box;
  };
  card.style.backgroundColor = pass.backgroundColor;
  card.style.color = pass.foregroundColor;
  card.style.setProperty("--pass-label", pass.labelColor);
  $("logo").src = images.logo;
  $("strip").src = images.strip;
  $("logo-text").textContent = pass.logoText || "";
  const header = pass.storeCard.headerFields[0];
  $("points-label").textContent = header.label;
  $("points").textContent = show(header.value);
  const front = pass.storeCard.secondaryFields.concat(pass.storeCard.auxiliaryFields);
  $("fields").replaceChildren.apply($("fields"), front.map(fieldBox));
};

(function () {
  const token = document.querySelector('meta[name="csrf-token"]').content;

  async function api(method, path, body) {
    const response = await fetch("/api/v1" + path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json();
    if (!response.ok) {
      const failure = new Error(data.message || response.statusText);
      failure.code = data.error;
      throw failure;
    }
    return data;
  }

  function readSegment() {
    const input = document.querySelector("[data-segment-input]");
    try {
      return JSON.parse(input.value);
    } catch (error) {
      throw new Error(I18N.t("segment.invalid_json"));
    }
  }

  const previewButton = document.getElementById("preview");
  const previewResult = document.getElementById("preview-result");
  async function preview() {
    previewResult.textContent = "…";
    try {
      const r = await api("POST", "/segments/preview", { segment: readSegment() });
      previewResult.textContent = I18N.t("segment.preview", {
        members: I18N.plural("members", r.members),
        apple: I18N.number(r.reachable_apple),
        android: I18N.number(r.reachable_android),
        google: I18N.number(r.reachable_google),
      });
      previewResult.dataset.members = r.members;
    } catch (error) {
      previewResult.textContent = error.message;
    }
  }
  if (previewButton) previewButton.addEventListener("click", preview);

  const form = document.getElementById("campaign-form");
  if (form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const errorBox = document.getElementById("form-error");
      errorBox.hidden = true;
      try {
        const texts = { ru: form.elements.ru.value };
        if (form.elements.en.value.trim()) texts.en = form.elements.en.value;
        const body = { name: form.elements.name.value, texts: texts, segment: readSegment() };
        if (form.elements.offer && form.elements.offer.value) {
          body.offer_id = Number(form.elements.offer.value);
        }
        if (form.elements.start.value) {
          body.start_at = zonedToUtc(form.elements.start.value, form.dataset.timezone);
        }
        await api("POST", "/campaigns", body);
        window.location.reload();
      } catch (error) {
        errorBox.textContent = campaignError(error);
        errorBox.hidden = false;
      }
    });
  }

  // The pass as it will look with the campaign's message and offer: the server
  // builds the sample member's pass.json (POST /campaigns/preview), drawn here
  // like the settings page's preview: the front, the offer's back field and the
  // lock-screen notification.
  const passBox = document.getElementById("campaign-preview");
  if (form && passBox) {
    const $ = function (id) { return document.getElementById(id); };
    const lang = document.documentElement.lang || "ru";
    const draw = function (data) {
      const pass = data.pass;
      window.drawPassFront($("cp-pass"), "cp", pass, data.images);
      // The offers in full (title, terms, expiry) are on the back.
      const back = pass.storeCard.backFields.filter(function (f) { return /^offer_/.test(f.key); });
      const list = $("cp-back");
      list.textContent = "";
      back.forEach(function (f) {
        const dt = document.createElement("dt");
        dt.textContent = f.label;
        const dd = document.createElement("dd");
        dd.textContent = f.value;
        list.append(dt, dd);
      });
      $("cp-back-box").hidden = back.length === 0;
      const note = $("cp-notification");
      note.textContent = data.notifications.length
        ? I18N.t("campaign.preview.notification", { text: data.notifications.join(" · ") })
        : "";
      note.hidden = data.notifications.length === 0;
    };
    let asked = 0;
    let timer = null;
    const refresh = async function () {
      const ticket = ++asked;
      const body = {};
      const ru = form.elements.ru.value.trim();
      const en = form.elements.en.value.trim();
      if (ru) body.texts = en ? { ru: ru, en: en } : { ru: ru };
      if (form.elements.offer.value) body.offer_id = Number(form.elements.offer.value);
      try {
        const data = await api("POST", "/campaigns/preview?lang=" + lang, body);
        if (ticket !== asked) return; // a newer edit is on its way
        $("cp-error").hidden = true;
        draw(data);
      } catch (error) {
        if (ticket !== asked) return;
        $("cp-error").textContent = campaignError(error);
        $("cp-error").hidden = false;
      }
    };
    const later = function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 200);
    };
    ["c-ru", "c-en"].forEach(function (id) { $(id).addEventListener("input", later); });
    $("c-offer").addEventListener("change", refresh);
    refresh();
  }

  // The API's messages are English; the page says it in its own language.
  function campaignError(error) {
    if (I18N.lang === "en" || !error.code) return error.message;
    const key = "campaign.error." + error.code;
    return I18N.has(key) ? I18N.t(key) : I18N.t("campaign.error.other");
  }

  // The start typed in the page is wall time in the program's time zone (not the
  // browser's): its UTC instant, found with Intl (no library), DST-safe.
  function zoneOffset(instant, zone) {
    const parts = {};
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(instant)).forEach(function (part) { parts[part.type] = part.value; });
    const wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    return wall - instant;
  }
  function zonedToUtc(local, zone) {
    const wall = Date.parse(local.length === 16 ? local + ":00Z" : local + "Z");
    let instant = wall - zoneOffset(wall, zone || "UTC");
    instant = wall - zoneOffset(instant, zone || "UTC");
    return new Date(instant).toISOString();
  }

  const table = document.getElementById("campaigns");
  if (table) {
    table.addEventListener("click", async function (event) {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      const row = button.closest("tr");
      const id = row.dataset.campaign;
      try {
        if (button.dataset.action === "schedule") {
          // Launching asks first, with the audience; nobody reachable is a warning.
          const cell = row.querySelector(".audience");
          if (cell && cell.dataset.audience !== "") {
            const members = I18N.plural("members", cell.dataset.audience);
            const reachable = Number(cell.dataset.reachable || 0);
            // Members without a card in a wallet may get SMS / e-mail instead:
            // how many, and what the SMS cost (the provider's price).
            let extra = "";
            let instead = 0;
            try {
              const e = await api("GET", `/campaigns/${id}/estimate`);
              instead = e.sms + e.email;
              if (instead > 0) {
                extra = " " + I18N.t("campaign.confirm_fallback", {
                  sms: I18N.number(e.sms),
                  email: I18N.number(e.email),
                  cost: e.cost === null ? I18N.t("campaign.cost_unknown") : I18N.money(e.cost),
                });
                if (e.development) extra += " " + I18N.t("campaign.cost_development");
              }
            } catch (error) {
              // The estimate is advice: launching still asks, without it.
            }
            const question = reachable === 0 && instead === 0
              ? I18N.t("campaign.confirm_nobody", { members: members })
              : I18N.t("campaign.confirm", {
                  name: button.dataset.name, members: members, reachable: I18N.number(reachable),
                }) + extra;
            if (!window.confirm(question)) return;
          }
          await api("POST", `/campaigns/${id}/schedule`);
        } else {
          await api("DELETE", `/campaigns/${id}`);
        }
        window.location.reload();
      } catch (error) {
        window.alert(campaignError(error));
      }
    });

    async function poll() {
      const rows = table.querySelectorAll("tr[data-campaign]");
      for (const row of rows) {
        // Poll until the campaign is finished and its pushes have left the queue.
        if (row.dataset.watch !== "yes") continue;
        try {
          const c = await api("GET", `/campaigns/${row.dataset.campaign}`);
          const p = c.progress;
          const finished = !["scheduled", "sending"].includes(c.state);
          // A new state has a new reason and counts: the page shows them.
          if (c.state !== row.dataset.state && finished) {
            window.location.reload();
            return;
          }
          row.dataset.state = c.state;
          const waiting = p.queued + p.sms.queued + p.email.queued;
          if (finished && waiting === 0) row.dataset.watch = "no";
          const fallback = row.querySelector(".fallback");
          const instead = p.sms.queued + p.sms.sent + p.sms.failed
            + p.email.queued + p.email.sent + p.email.failed;
          if (fallback && instead > 0) {
            fallback.hidden = false;
            fallback.textContent = I18N.t("campaign.fallback_numbers", {
              sms: I18N.number(p.sms.sent),
              sms_failed: I18N.number(p.sms.failed),
              cost: I18N.money(p.sms.cost),
              email: I18N.number(p.email.sent),
              email_failed: I18N.number(p.email.failed),
            });
          }
          row.querySelector(".state").textContent = I18N.has("state." + c.state)
            ? I18N.t("state." + c.state)
            : c.state;
          row.querySelector("progress").value = p.percent;
          row.querySelector(".numbers").textContent = I18N.t("campaign.numbers", {
            messaged: I18N.number(p.messaged),
            targeted: p.targeted === null ? "—" : I18N.number(p.targeted),
            sent: I18N.number(p.sent),
            failed: I18N.number(p.failed),
          });
          if (finished) {
            row.querySelectorAll("button[data-action]").forEach((b) => b.remove());
          }
        } catch (error) {
          // Keep polling: a transient error must not stop the progress bar.
        }
      }
    }
    window.setInterval(poll, 1000);
  }
})();

// Phones: a table shown as stacked cards labels each cell with its column's header.
(function () {
  function label(table) {
    const heads = Array.from(table.querySelectorAll(":scope > thead th")).map(function (th) {
      return th.textContent.trim();
    });
    if (!heads.length) return;
    table.querySelectorAll(":scope > tbody > tr").forEach(function (row) {
      Array.from(row.children).forEach(function (cell, i) {
        if (heads[i] && !cell.hasAttribute("colspan")) cell.dataset.label = heads[i];
      });
    });
  }
  function labelAll() {
    document.querySelectorAll("table.list").forEach(label);
  }
  document.addEventListener("DOMContentLoaded", function () {
    labelAll();
    new MutationObserver(labelAll).observe(document.body, { childList: true, subtree: true });
  });
})();
