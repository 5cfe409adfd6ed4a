// The segment builder on /admin/segments: add rules from a list, fill their
// fields, combine them with and/or (each may be negated); the JSON below is
// rewritten on every change and counted live (the page's Count button). The
// JSON stays editable for power users. Labels come from the page (data-*).
"use strict";

(function () {
  const builder = document.getElementById("builder");
  if (!builder) return;
  const labels = JSON.parse(document.getElementById("builder-labels").textContent);
  const input = document.querySelector("[data-segment-input]");
  const rows = document.getElementById("b-rules");
  const join = document.getElementById("b-join");
  const add = document.getElementById("b-add");
  const count = document.getElementById("preview");
  // Each rule's fields: [name, kind] (kind: int, number, choice list).
  const FIELDS = {
    all: [],
    new: [["days", "int"]],
    active: [["days", "int"]],
    spend: [["days", "int"], ["min", "number"], ["max", "number"]],
    purchases: [["days", "int"], ["min", "int"], ["max", "int"]],
    avg_check: [["days", "int"], ["min", "number"], ["max", "number"]],
    points: [["min", "int"], ["max", "int"]],
    rfm: [["preset", ["champions", "loyal", "at_risk", "lost"]]],
    reachable: [["platform", ["", "apple", "android", "google"]]],
    installed_never_scanned: [],
    saved: [["id", "int"]],
  };
  let timer = null;

  function field(rule, name, kind) {
    const wrap = document.createElement("label");
    wrap.className = "b-field";
    wrap.append(labels["field." + name] + " ");
    let control;
    if (Array.isArray(kind)) {
      control = document.createElement("select");
      for (const value of kind) {
        const option = document.createElement("option");
        option.value = value;
        option.textContent = value ? labels["value." + value] || value : "—";
        control.append(option);
      }
    } else {
      control = document.createElement("input");
      control.type = "number";
      control.min = "0";
      control.step = kind === "int" ? "1" : "any";
      control.size = 8;
    }
    control.dataset.field = name;
    control.dataset.kind = Array.isArray(kind) ? "choice" : kind;
    wrap.append(control);
    return wrap;
  }

  function addRow(rule) {
    const row = document.createElement("div");
    row.className = "b-row";
    row.dataset.rule = rule;
    const negate = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "b-not";
    negate.append(box, " " + labels.not);
    const name = document.createElement("strong");
    name.textContent = labels["rule." + rule];
    row.append(negate, " ", name, " ");
    for (const [fieldName, kind] of FIELDS[rule]) row.append(field(rule, fieldName, kind), " ");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "small b-remove";
    remove.textContent = labels.remove;
    remove.addEventListener("click", function () {
      row.remove();
      changed();
    });
    row.append(remove);
    rows.append(row);
    changed();
  }

  function args(row) {
    const rule = row.dataset.rule;
    const values = {};
    for (const control of row.querySelectorAll("[data-field]")) {
      if (control.value === "") continue;
      const kind = control.dataset.kind;
      values[control.dataset.field] =
        kind === "int" ? parseInt(control.value, 10) : kind === "number" ? Number(control.value) : control.value;
    }
    if (rule === "rfm") return values.preset || "champions";
    if (rule === "saved") return values.id;
    return values;
  }

  function definition() {
    const parts = [];
    for (const row of rows.querySelectorAll(".b-row")) {
      let part = {};
      part[row.dataset.rule] = args(row);
      if (row.querySelector(".b-not").checked) part = { not: part };
      parts.push(part);
    }
    if (parts.length === 0) return { all: {} };
    if (parts.length === 1) return parts[0];
    const combined = {};
    combined[join.value] = parts;
    return combined;
  }

  function changed() {
    input.value = JSON.stringify(definition());
    clearTimeout(timer);
    timer = setTimeout(function () {
      if (count) count.click();
    }, 250);
  }

  add.addEventListener("change", function () {
    if (add.value) addRow(add.value);
    add.value = "";
  });
  rows.addEventListener("input", changed);
  rows.addEventListener("change", changed);
  join.addEventListener("change", changed);
})();
