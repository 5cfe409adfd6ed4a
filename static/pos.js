// The cashier page. Plain JS, no build step. The store key lives in this tab's
// sessionStorage and travels only in the Authorization header, never in URLs.
(function () {
  "use strict";

  var API = "/api/v1/pos";
  var KEY_STORAGE = "pos.apiKey";
  var $ = function (id) { return document.getElementById(id); };

  var state = {
    key: sessionStorage.getItem(KEY_STORAGE),
    member: null,
    code: null,
    // One Idempotency-Key per prepared sale: made when the form is prepared and
    // reused by every retry of it, so a retried submit can never charge twice.
    saleKey: null,
    busy: false
  };

  // Texts, plurals and numbers in the page's language (static/i18n.js).
  function text(name, values) { return I18N.t(name, values); }
  function points(count) { return I18N.plural("points", count); }

  function newIdempotencyKey() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);  // works without a secure context, unlike randomUUID
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function NetworkError() { this.name = "NetworkError"; }

  function api(method, path, body, headers) {
    var init = { method: method, headers: Object.assign({
      "Authorization": "Bearer " + state.key,
      "Accept": "application/json"
    }, headers || {}) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    }, function () { throw new NetworkError(); });
  }

  function say(message, bad) {
    var box = $("message");
    box.textContent = message;
    box.className = bad ? "bad" : "";
    box.setAttribute("role", bad ? "alert" : "status");
    box.hidden = false;
  }

  function quiet() { $("message").hidden = true; }

  function focusScan() {
    var scan = $("scan");
    if (!$("till").hidden && document.activeElement !== scan) scan.focus();
  }

  function firstNumber(message) {
    var match = /(-?\d+)/.exec(message || "");
    return match ? match[1] : "";
  }

  // Our message for an API error, in the page's language.
  function explain(result) {
    var data = result.data || {};
    var code = data.error;
    if (result.status === 401) return text("error.unauthorized");
    if (code === "insufficient_points") {
      var balance = firstNumber(data.message);
      return text("error.insufficient_points", { balance: balance ? points(balance) : "" });
    }
    if (code === "redeem_limit") {
      return text("error.redeem_limit", { max: firstNumber(data.message) });
    }
    if (I18N.has("error." + code)) return text("error." + code);
    return text("error.other", { message: data.message || result.status });
  }

  function handleUnauthorized(result) {
    if (result.status !== 401) return false;
    signOut();
    $("signin-error").textContent = text("error.unauthorized");
    $("signin-error").hidden = false;
    return true;
  }

  // -- a new customer: the card link goes to their phone -------------------

  function signUp() {
    var body = {
      phone: $("signup-phone").value.trim(),
      name: $("signup-name").value.trim(),
      consent: $("signup-consent").checked
    };
    var email = $("signup-email").value.trim();
    if (email) body.email = email;
    $("signup-submit").disabled = true;
    api("POST", "/members", body).then(function (result) {
      if (handleUnauthorized(result)) return;
      if (result.status === 202) {
        say(text("signup.sent", { phone: result.data.phone }));
        $("signup-form").reset();
        $("newcomer").open = false;
        focusScan();
      } else {
        say(explain(result), true);
      }
    }, function () {
      say(text("error.network_scan"), true);
    }).then(function () { $("signup-submit").disabled = false; });
  }

  // -- sign in -----------------------------------------------------------

  function showTill(me) {
    $("signin").hidden = true;
    $("till").hidden = false;
    $("signout").hidden = false;
    $("store-name").textContent = "· " + me.store.name;
    state.rules = me.rules;
    state.plans = me.membership_plans || [];
    loadRecent();
    focusScan();
  }

  function signIn(key) {
    state.key = key;
    return api("GET", "/me").then(function (result) {
      if (result.status !== 200) {
        state.key = null;
        sessionStorage.removeItem(KEY_STORAGE);
        $("signin").hidden = false;
        $("signin-error").textContent = text("signin.bad");
        $("signin-error").hidden = false;
        return;
      }
      sessionStorage.setItem(KEY_STORAGE, key);
      showTill(result.data);
    }, function () {
      state.key = null;
      $("signin").hidden = false;
      $("signin-error").textContent = text("error.network_scan");
      $("signin-error").hidden = false;
    });
  }

  function signOut() {
    sessionStorage.removeItem(KEY_STORAGE);
    state.key = null;
    clearMember();
    $("till").hidden = true;
    $("signout").hidden = true;
    $("store-name").textContent = "";
    $("signin").hidden = false;
    $("key").value = "";
    $("key").focus();
  }

  // -- scanning ----------------------------------------------------------

  function clearMember() {
    state.member = null;
    state.code = null;
    state.saleKey = null;
    $("member").hidden = true;
    $("sale-form").reset();
  }

  function showMember(member, code) {
    state.member = member;
    state.code = code;
    state.saleKey = newIdempotencyKey();
    var lang = document.documentElement.lang || "ru";
    $("member-name").textContent = member.name;
    $("member-phone").textContent = member.phone;
    $("member-card").textContent = member.card_number.replace(/(\d{4})(?=\d)/g, "$1 ");
    $("member-balance").textContent = I18N.number(member.balance);
    $("member-tier").textContent = member.tier.name[lang] || member.tier.name.ru || member.tier.code;
    $("member-typed").hidden = member.can_redeem;
    state.chosen = [];
    fillOffers(member);
    fillList("member-stock", member.back_in_stock);
    $("sale-form").reset();
    $("redeem").disabled = !member.can_redeem;
    updateOfferPreview();
    fillMembership(member);
    $("member").hidden = false;
    $("amount").focus();
  }

  // -- paid membership: a button per plan, then an explicit confirmation ----

  function localName(name) {
    var lang = document.documentElement.lang || "ru";
    return (name && (name[lang] || name.ru)) || "";
  }

  function dayText(iso) {
    var lang = document.documentElement.lang || "ru";
    return new Date(iso).toLocaleDateString(lang === "ru" ? "ru-RU" : "en-GB");
  }

  function fillMembership(member) {
    var held = member.membership;
    var plans = state.plans || [];
    state.membershipPlan = null;
    state.membershipKey = null;
    $("membership-confirm").hidden = true;
    $("member-membership").textContent = held
      ? text("membership.holds", { plan: localName(held.plan.name), until: dayText(held.ends_at) })
      : text("membership.none");
    var box = $("membership-plans");
    box.textContent = "";
    plans.forEach(function (plan) {
      var offer = quote(plan, held);
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary plan";
      button.dataset.plan = plan.code;
      var values = { plan: localName(plan.name), price: I18N.money(offer.price) };
      var label = !held ? "membership.sell"
        : held.plan.code === plan.code ? "membership.renew" : "membership.change";
      button.textContent = text(label, values);
      button.addEventListener("click", function () { askMembership(plan, offer); });
      box.appendChild(button);
    });
    $("membership-box").hidden = !(plans.length || held);
  }

  // What a plan costs this member: another plan while one is held is a change,
  // the held period's unused value (`credit`, from the scan) off its price; a
  // credit above the price buys more days of the cheaper plan (as the server).
  function quote(plan, held) {
    if (!held || held.plan.code === plan.code) {
      return { price: plan.price, days: plan.period_days };
    }
    var price = Math.round(parseFloat(plan.price) * 100);
    var credit = Math.round(parseFloat(held.credit || "0") * 100);
    var days = plan.period_days;
    if (credit > price && price > 0) days = Math.floor(days * credit / price);
    return { price: (Math.max(0, price - credit) / 100).toFixed(2), days: days };
  }

  function askMembership(plan, offer) {
    state.membershipPlan = plan;
    // One Idempotency-Key per confirmation shown: retries reuse it.
    state.membershipKey = newIdempotencyKey();
    $("membership-question").textContent = text("membership.confirm", {
      plan: localName(plan.name), price: I18N.money(offer.price), days: offer.days
    });
    $("membership-confirm").hidden = false;
    $("membership-yes").focus();
  }

  function sellMembership() {
    var plan = state.membershipPlan;
    if (state.busy || !plan || !state.member) return;
    state.busy = true;
    $("membership-yes").disabled = true;
    api("POST", "/memberships", { code: state.code, plan: plan.code },
        { "Idempotency-Key": state.membershipKey }).then(function (result) {
      if (handleUnauthorized(result)) return;
      if (result.status === 201) {
        var data = result.data;
        say(text("membership.done", {
          plan: localName(data.plan.name), until: dayText(data.ends_at),
          price: I18N.money(data.amount)
        }), false);
        state.member.membership = data.membership;
        fillMembership(state.member);
        return;
      }
      say(explain(result), true);
    }, function () {
      // Keep the key: confirming again replays instead of charging twice.
      say(text("error.network"), true);
    }).then(function () {
      state.busy = false;
      $("membership-yes").disabled = false;
    });
  }

  function fillList(id, items) {
    var list = $(id);
    list.textContent = "";
    (items || []).forEach(function (item) {
      var li = document.createElement("li");
      li.textContent = typeof item === "string" ? item : (item.title || item.name || item.sku || "");
      list.appendChild(li);
    });
    $(id + "-box").hidden = !(items && items.length);
  }

  // -- offers: buttons to choose, the discount and the amount to pay shown
  // before confirming (the server computes them again and has the last word) --

  function fillOffers(member) {
    var list = $("member-offers");
    list.textContent = "";
    (member.offers || []).forEach(function (offer) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "offer secondary";
      button.dataset.offerId = String(offer.id);
      button.setAttribute("aria-pressed", "false");
      button.textContent = offer.title;
      button.disabled = !member.can_redeem;
      button.addEventListener("click", function () { toggleOffer(offer); });
      li.appendChild(button);
      if (offer.terms) {
        var terms = document.createElement("span");
        terms.className = "hint";
        terms.textContent = " " + offer.terms;
        li.appendChild(terms);
      }
      list.appendChild(li);
    });
    $("member-offers-box").hidden = !(member.offers && member.offers.length);
  }

  function offerById(id) {
    var found = null;
    (state.member.offers || []).forEach(function (o) { if (o.id === id) found = o; });
    return found;
  }

  function toggleOffer(offer) {
    var chosen = state.chosen;
    var at = chosen.indexOf(offer.id);
    if (at >= 0) {
      chosen.splice(at, 1);
    } else if (!offer.combinable) {
      state.chosen = [offer.id];  // one that does not combine stands alone
    } else {
      state.chosen = chosen.filter(function (id) {
        var other = offerById(id);
        return other && other.combinable;
      }).concat([offer.id]);
    }
    // Another choice is another sale: a new Idempotency-Key.
    state.saleKey = newIdempotencyKey();
    Array.prototype.forEach.call(document.querySelectorAll("#member-offers button.offer"),
      function (button) {
        var on = state.chosen.indexOf(parseInt(button.dataset.offerId, 10)) >= 0;
        button.setAttribute("aria-pressed", on ? "true" : "false");
      });
    updateOfferPreview();
  }

  function kopecks(value) {
    var amount = parseFloat(value);
    return isFinite(amount) ? Math.round(amount * 100) : NaN;
  }

  // The chosen offers' discount on a receipt of `amount` kopecks, as the server
  // computes it: {below: an offer whose minimum is not reached, or null;
  // remaining: what is left to pay}.
  function discountOn(amount) {
    var chosen = (state.chosen || []).map(offerById).filter(Boolean);
    var below = chosen.filter(function (o) { return amount < kopecks(o.min_amount); });
    if (below.length) return { below: below[0], remaining: amount };
    // As the server does: percentages of the receipt first, then amounts.
    var remaining = amount;
    chosen.slice().sort(function (a, b) {
      return (a.kind === "percent_off" ? 0 : 1) - (b.kind === "percent_off" ? 0 : 1);
    }).forEach(function (o) {
      var off = 0;
      if (o.kind === "percent_off") {
        off = Math.floor((amount * o.value + 50) / 100);
        if (o.cap !== undefined && o.cap !== null) off = Math.min(off, kopecks(o.cap));
      } else if (o.kind === "amount_off") {
        off = kopecks(o.value);
      }
      remaining -= Math.min(off, remaining);
    });
    return { below: null, remaining: remaining };
  }

  function updateOfferPreview() {
    var preview = $("offer-preview");
    var member = state.member;
    updateRedeemHint();
    if (!member || !state.chosen || !state.chosen.length) {
      preview.hidden = true;
      return;
    }
    var amount = kopecks(amountValue());
    if (!(amount > 0)) {
      preview.hidden = true;
      return;
    }
    var result = discountOn(amount);
    if (result.below) {
      preview.textContent = text("offer.below_minimum", {
        title: result.below.title, min: I18N.money(result.below.min_amount)
      });
      preview.hidden = false;
      return;
    }
    preview.textContent = text("offer.preview", {
      discount: I18N.money((amount - result.remaining) / 100),
      pay: I18N.money(result.remaining / 100)
    });
    preview.hidden = false;
  }

  function scan(code) {
    code = (code || "").trim();
    if (!code || state.busy) return;
    quiet();
    state.busy = true;
    api("POST", "/scan", { code: code }).then(function (result) {
      if (handleUnauthorized(result)) return;
      if (result.status === 200) {
        showMember(result.data, code);
      } else {
        clearMember();
        say(explain(result), true);
        focusScan();
      }
    }, function () {
      say(text("error.network_scan"), true);
      focusScan();
    }).then(function () { state.busy = false; });
  }

  function amountValue() {
    return $("amount").value.trim().replace(/\s/g, "").replace(",", ".");
  }

  // «Points to redeem (at most N)» appears once an amount is typed: N is the
  // program's cap for what is left to pay after the chosen offers
  // (loyalty.max_redeem, sent as whole numbers in rules.redeem_fraction) and
  // never more than the balance.
  function updateRedeemHint() {
    var member = state.member;
    var amount = kopecks(amountValue());
    var fraction = state.rules && state.rules.redeem_fraction;
    if (!member || !member.can_redeem || !fraction || !(amount > 0)) {
      $("redeem-box").hidden = true;
      $("redeem").value = "0";
      return;
    }
    var receipt = discountOn(amount).remaining;
    var byShare = Math.floor(receipt * fraction.numerator / fraction.denominator);
    var max = Math.max(0, Math.min(member.balance, byShare));
    $("redeem-label").textContent = text("form.redeem_max", { max: I18N.number(max) });
    $("redeem-box").hidden = false;
  }

  // -- the sale ----------------------------------------------------------

  function confirmSale() {
    if (state.busy || !state.member) return;
    var redeemText = $("redeem").value.trim() || "0";
    var redeem = /^\d+$/.test(redeemText) ? parseInt(redeemText, 10) : NaN;
    if (isNaN(redeem)) {
      say(text("error.invalid_redeem_points"), true);
      $("redeem").focus();
      return;
    }
    if (!state.saleKey) state.saleKey = newIdempotencyKey();
    var body = {
      code: state.code,
      amount: amountValue(),
      receipt_id: $("receipt").value.trim(),
      redeem_points: redeem
    };
    if (state.chosen && state.chosen.length) body.offer_ids = state.chosen.slice();
    state.busy = true;
    $("confirm").disabled = true;
    api("POST", "/transactions", body, { "Idempotency-Key": state.saleKey }).then(
      function (result) {
        if (handleUnauthorized(result)) return;
        if (result.status === 201) {
          var data = result.data;
          var lang = document.documentElement.lang || "ru";
          var message = text("result.done", {
            earned: points(data.earned), redeemed: points(data.redeemed),
            balance: points(data.balance)
          });
          if (data.offers_redeemed && data.offers_redeemed.length) {
            message += " " + text("result.discount", {
              discount: I18N.money(data.discount), paid: I18N.money(data.paid)
            });
          }
          if (data.tier_upgraded) {
            message += " " + text("result.upgraded", { tier: data.tier.name[lang] || data.tier.code });
          }
          clearMember();
          say(message, false);
          loadRecent();
          focusScan();
          return;
        }
        // Nothing was recorded; a different-body reuse means the first attempt
        // went through, so the next attempt must be a new sale.
        if (result.data && result.data.error === "idempotency_key_reused") {
          state.saleKey = newIdempotencyKey();
          loadRecent();
        }
        say(explain(result), true);
      },
      function () {
        // The request may or may not have reached the server: keep the key so
        // that pressing Confirm again replays instead of charging twice.
        say(text("error.network"), true);
      }
    ).then(function () {
      state.busy = false;
      $("confirm").disabled = false;
    });
  }

  // -- recent purchases and refunds --------------------------------------

  function loadRecent() {
    return api("GET", "/transactions?limit=10").then(function (result) {
      if (result.status !== 200) return;
      renderRecent(result.data.transactions);
    }, function () { /* the list is a convenience; the next sale reloads it */ });
  }

  function renderRecent(items) {
    var body = $("recent").querySelector("tbody");
    body.textContent = "";
    items.forEach(function (item) {
      var row = document.createElement("tr");
      row.dataset.id = item.transaction_id;
      var when = new Date(item.created_at).toLocaleTimeString(document.documentElement.lang);
      [when, item.member_name || "—", "№ " + item.receipt_id, I18N.money(item.amount),
       "+" + item.earned + " / −" + item.redeemed].forEach(function (value) {
        var cell = document.createElement("td");
        cell.textContent = value;
        row.appendChild(cell);
      });
      var action = document.createElement("td");
      if (item.refunded) {
        action.textContent = text("recent.refunded");
        action.className = "hint";
      } else {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "secondary refund";
        button.textContent = text("recent.refund");
        button.addEventListener("click", function () { refund(item); });
        action.appendChild(button);
      }
      row.appendChild(action);
      body.appendChild(row);
    });
    $("recent").hidden = !items.length;
    $("recent-empty").hidden = !!items.length;
  }

  function refund(item) {
    if (!window.confirm(text("recent.confirm_refund", { receipt: item.receipt_id }))) {
      focusScan();
      return;
    }
    api("POST", "/transactions/" + item.transaction_id + "/refund", {}).then(function (result) {
      if (handleUnauthorized(result)) return;
      if (result.status === 200) {
        say(text("refund.done", { balance: points(result.data.balance) }), false);
      } else {
        say(explain(result), true);
      }
      loadRecent();
      focusScan();
    }, function () {
      say(text("error.network_scan"), true);
    });
  }

  // -- camera: BarcodeDetector where the browser has it, else jsQR ---------
  // (static/vendor/jsqr, Apache-2.0) on the video's frames: Safari on iPhone and
  // iPad and Firefox have no BarcodeDetector.

  var camera = { stream: null, timer: null };

  function frameReader(video) {
    var canvas = document.createElement("canvas");
    var context = canvas.getContext("2d", { willReadFrequently: true });
    return function () {
      var width = video.videoWidth, height = video.videoHeight;
      if (!width || !height) return Promise.resolve([]);
      // Large frames cost time for nothing: at most 640 px on the long side.
      var scale = Math.min(1, 640 / Math.max(width, height));
      canvas.width = Math.round(width * scale);
      canvas.height = Math.round(height * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var code = window.jsQR(image.data, image.width, image.height, {
        inversionAttempts: "attemptBoth",
      });
      return Promise.resolve(code && code.data ? [{ rawValue: code.data }] : []);
    };
  }

  function stopCamera() {
    if (camera.timer) clearInterval(camera.timer);
    if (camera.stream) camera.stream.getTracks().forEach(function (t) { t.stop(); });
    camera.stream = camera.timer = null;
    $("camera-view").hidden = true;
    $("camera").textContent = text("scan.camera");
  }

  function startCamera() {
    var detect = null;
    if (camera.native) {
      try {
        var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        detect = function (video) { return detector.detect(video); };
      } catch (e) {
        detect = null;
      }
    }
    if (!detect && !window.jsQR) {
      say(text("scan.camera_failed"), true);
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
      var video = $("camera-view");
      camera.stream = stream;
      video.srcObject = stream;
      video.hidden = false;
      video.play();
      $("camera").textContent = text("scan.camera_stop");
      var read = detect ? function () { return detect(video); } : frameReader(video);
      camera.timer = setInterval(function () {
        read().then(function (codes) {
          if (codes.length) {
            stopCamera();
            scan(codes[0].rawValue);
          }
        }, function () { /* a frame that could not be read */ });
      }, 250);
    }, function () { say(text("scan.camera_failed"), true); });
  }

  // -- wiring ------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", function () {
    $("signin-form").addEventListener("submit", function (event) {
      event.preventDefault();
      $("signin-error").hidden = true;
      var key = $("key").value.trim();
      if (key) signIn(key);
    });
    $("signout").addEventListener("click", signOut);
    $("scan-form").addEventListener("submit", function (event) {
      // A USB scanner types the code and presses Enter (keyboard wedge).
      event.preventDefault();
      var code = $("scan").value;
      $("scan").value = "";
      scan(code);
    });
    $("sale-form").addEventListener("submit", function (event) {
      event.preventDefault();
      confirmSale();
    });
    $("cancel").addEventListener("click", function () {
      clearMember();
      quiet();
      focusScan();
    });
    $("amount").addEventListener("input", updateOfferPreview);
    $("membership-yes").addEventListener("click", sellMembership);
    $("membership-no").addEventListener("click", function () {
      state.membershipPlan = null;
      $("membership-confirm").hidden = true;
    });
    $("signup-form").addEventListener("submit", function (event) {
      event.preventDefault();
      signUp();
    });
    // A key pressed while nothing editable has focus goes to the scan field, and
    // focus returns there whenever it falls back to the page.
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      var editable = target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
      if (!editable && !$("till").hidden && event.key.length === 1) focusScan();
    });
    document.addEventListener("focusout", function () {
      setTimeout(function () {
        if (document.activeElement === document.body) focusScan();
      }, 0);
    });
    // Camera scanning wherever there is a camera: the browser's BarcodeDetector
    // when it reads QR codes, else jsQR.
    function offerCamera() {
      $("camera").hidden = false;
      $("camera").addEventListener("click", function () {
        if (camera.stream) stopCamera(); else startCamera();
      });
    }
    if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
      var native = "BarcodeDetector" in window
        ? window.BarcodeDetector.getSupportedFormats().then(function (formats) {
            return formats.indexOf("qr_code") >= 0;
          }, function () { return false; })
        : Promise.resolve(false);
      native.then(function (yes) {
        camera.native = yes;
        if (yes || window.jsQR) offerCamera();
      });
    }
    if (state.key) signIn(state.key); else $("signin").hidden = false;
  });
})();
