// The page's language for its scripts: texts and plural texts come from the
// server's catalogs as JSON (<script type="application/json" id="page-i18n">,
// see app.i18n.page_texts); numbers, money and plural choice use the browser's
// Intl, which follows the same CLDR rules as Babel on the server.
"use strict";

(function () {
  const node = document.getElementById("page-i18n");
  const data = node ? JSON.parse(node.textContent) : {};
  const lang = data.lang || document.documentElement.lang || "ru";
  const texts = data.texts || {};
  const plurals = data.plurals || {};
  const rules = new Intl.PluralRules(lang);
  const numbers = new Intl.NumberFormat(lang);
  const money = new Intl.NumberFormat(lang, { style: "currency", currency: "RUB" });

  function fill(text, values) {
    let result = text;
    Object.keys(values || {}).forEach(function (name) {
      result = result.split("{" + name + "}").join(String(values[name]));
    });
    return result;
  }

  window.I18N = {
    lang: lang,
    // The text `key` with its {placeholders} filled in.
    t: function (key, values) {
      return fill(key in texts ? texts[key] : key, values);
    },
    has: function (key) {
      return key in texts;
    },
    // "1 балл", "2 балла", "5 баллов": the plural text `name` for `count`.
    plural: function (name, count) {
      const forms = plurals[name] || {};
      const form = forms[rules.select(Number(count))] || forms.other || "{n}";
      return fill(form, { n: numbers.format(Number(count)) });
    },
    number: function (value) {
      return numbers.format(Number(value));
    },
    // "2 499,90 ₽" in Russian (no-break spaces).
    money: function (amount) {
      return money.format(Number(amount));
    },
  };
})();
