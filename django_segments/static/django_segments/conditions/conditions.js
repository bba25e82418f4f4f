/* django-segments: structured editor of condition trees (vanilla JavaScript, no dependencies).
 *
 * Each [data-ds-conditions] container holds its own textarea (the submitted JSON), an
 * editor pane and a catalog of conditions rendered by the server as JSON. Nothing is
 * looked up by a global id, so several fields on one page work independently. The server
 * remains the judge of validity: the editor only helps to write the JSON.
 */
(function () {
  "use strict";

  const GROUPS = ["all", "any"];
  const NOT = "NOT";

  /* --- pure model functions (also used by the test suite under Node) --------------- */

  function fromJSON(data) {
    if (typeof data === "string") {
      const terms = data.trim().split(/\s+/).filter(Boolean);
      let negated = false;
      while (terms.length && terms[0] === NOT) {
        negated = !negated;
        terms.shift();
      }
      return { kind: "leaf", not: negated, terms: terms };
    }
    if (data && typeof data === "object" && !Array.isArray(data)) {
      const keys = Object.keys(data);
      if (keys.length !== 1) {
        throw new Error("an object needs exactly one key: all, any or NOT");
      }
      const key = keys[0];
      if (key === NOT) {
        const inner = fromJSON(data[NOT]);
        inner.not = !inner.not;
        return inner;
      }
      if (GROUPS.indexOf(key) < 0) {
        throw new Error('unknown key "' + key + '"');
      }
      if (!Array.isArray(data[key])) {
        throw new Error('"' + key + '" must be a list');
      }
      return { kind: "group", not: false, op: key, children: data[key].map(fromJSON) };
    }
    throw new Error("expected a condition string or an object");
  }

  function toJSON(node) {
    if (node.kind === "leaf") {
      return (node.not ? NOT + " " : "") + node.terms.join(" ");
    }
    const body = {};
    body[node.op] = node.children.map(toJSON);
    return node.not ? { NOT: body } : body;
  }

  function splitLeaf(terms, entry) {
    const parts = { name: terms[0] || "", key: "", op: "", operand: "" };
    let rest = terms.slice(1);
    if (entry && entry.compare) {
      if (rest.length >= 3) {
        parts.key = rest[0];
        rest = rest.slice(1);
      }
      parts.op = rest[0] || "";
      parts.operand = rest.slice(1).join(" ");
    } else {
      parts.key = rest.join(" ");
    }
    return parts;
  }

  function joinLeaf(parts, entry) {
    const terms = [parts.name];
    if (parts.key && (!entry || entry.takes_key)) {
      terms.push(parts.key);
    }
    if (entry && entry.compare) {
      terms.push(parts.op || entry.operators[0]);
      terms.push(parts.operand);
    }
    return terms.join(" ").trim().split(/\s+/).filter(Boolean);
  }

  /* --- DOM helpers ------------------------------------------------------------------ */

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(label, className, onClick) {
    const node = el("button", "ds-conditions__button " + (className || ""), label);
    node.type = "button";
    node.addEventListener("click", onClick);
    return node;
  }

  function select(options, value, onChange) {
    const node = el("select", "ds-conditions__select");
    options.forEach(function (option) {
      const item = el("option", "", option.label);
      item.value = option.value;
      node.appendChild(item);
    });
    node.value = value;
    node.addEventListener("change", function () { onChange(node.value); });
    return node;
  }

  function notToggle(node, onChange) {
    const label = el("label", "ds-conditions__not");
    const box = el("input");
    box.type = "checkbox";
    box.checked = node.not;
    box.addEventListener("change", function () { node.not = box.checked; onChange(); });
    label.appendChild(box);
    label.appendChild(document.createTextNode(" NOT"));
    return label;
  }

  /* --- one editor per container ---------------------------------------------------- */

  function Editor(container) {
    this.container = container;
    this.textarea = container.querySelector("textarea");
    this.pane = container.querySelector("[data-ds-editor]");
    this.status = container.querySelector("[data-ds-status]");
    const script = container.querySelector('script[type="application/json"]');
    this.catalog = script ? JSON.parse(script.textContent) : [];
    this.byName = {};
    this.catalog.forEach(function (entry) { this.byName[entry.name] = entry; }, this);
    this.textarea.addEventListener("input", this.load.bind(this));
    container.addEventListener("click", this.onExample.bind(this));
    this.load();
  }

  Editor.prototype.load = function () {
    const text = this.textarea.value.trim();
    let model = { kind: "group", not: false, op: "all", children: [] };
    try {
      if (text && text !== "null") {
        model = fromJSON(JSON.parse(text));
      }
    } catch (error) {
      this.setStatus("Structured editor paused: " + error.message, true);
      return;
    }
    if (model.kind === "leaf") {
      model = { kind: "group", not: false, op: "all", children: [model] };
    }
    this.model = model;
    this.setStatus("", false);
    this.render();
  };

  Editor.prototype.setStatus = function (message, isError) {
    this.status.textContent = message;
    this.status.classList.toggle("ds-conditions__status--error", isError);
  };

  Editor.prototype.sync = function () {
    this.textarea.value = JSON.stringify(toJSON(this.model), null, 2);
    this.setStatus("", false);
  };

  Editor.prototype.changed = function (rerender) {
    this.sync();
    if (rerender) this.render();
  };

  Editor.prototype.render = function () {
    this.pane.textContent = "";
    this.pane.appendChild(this.renderGroup(this.model, null));
  };

  Editor.prototype.onExample = function (event) {
    const target = event.target.closest("[data-ds-example]");
    if (!target || !this.container.contains(target) || !this.model) return;
    this.model.children.push(fromJSON(target.getAttribute("data-ds-example")));
    this.changed(true);
  };

  Editor.prototype.newLeaf = function () {
    const entry = this.catalog[0];
    const terms = entry && entry.examples.length ? entry.examples[0].split(/\s+/) : [];
    return { kind: "leaf", not: false, terms: terms };
  };

  Editor.prototype.renderGroup = function (node, parent) {
    const self = this;
    const box = el("div", "ds-conditions__group-box");
    const head = el("div", "ds-conditions__row");
    head.appendChild(notToggle(node, function () { self.changed(true); }));
    head.appendChild(select(
      [{ value: "all", label: "all of (AND)" }, { value: "any", label: "any of (OR)" }],
      node.op,
      function (value) { node.op = value; self.changed(true); }
    ));
    head.appendChild(button("+ condition", "", function () {
      node.children.push(self.newLeaf());
      self.changed(true);
    }));
    head.appendChild(button("+ group", "", function () {
      node.children.push({ kind: "group", not: false, op: "all", children: [] });
      self.changed(true);
    }));
    if (parent) head.appendChild(this.removeButton(node, parent));
    box.appendChild(head);
    const list = el("div", "ds-conditions__children");
    node.children.forEach(function (child) {
      list.appendChild(child.kind === "group" ? self.renderGroup(child, node) : self.renderLeaf(child, node));
    });
    if (!node.children.length) {
      const always = (node.op === "all") !== node.not;
      list.appendChild(el("p", "ds-conditions__hint", "empty: always " + (always ? "true" : "false")));
    }
    box.appendChild(list);
    return box;
  };

  Editor.prototype.removeButton = function (node, parent) {
    const self = this;
    return button("remove", "ds-conditions__button--remove", function () {
      parent.children.splice(parent.children.indexOf(node), 1);
      self.changed(true);
    });
  };

  Editor.prototype.renderLeaf = function (node, parent) {
    const self = this;
    const entry = this.byName[node.terms[0]];
    const parts = splitLeaf(node.terms, entry);
    const row = el("div", "ds-conditions__row ds-conditions__leaf");
    const update = function () { node.terms = joinLeaf(parts, entry); self.changed(false); };
    row.appendChild(notToggle(node, function () { self.changed(false); }));
    row.appendChild(this.nameSelect(node, parts));
    if (entry && entry.takes_key) row.appendChild(this.keyControl(entry, parts, update));
    if (entry && entry.compare) {
      row.appendChild(select(
        entry.operators.map(function (op) { return { value: op, label: op }; }),
        parts.op || entry.operators[0],
        function (value) { parts.op = value; update(); }
      ));
      row.appendChild(this.textInput(parts, "operand", "value", update));
    }
    if (!entry) row.appendChild(this.textInput(parts, "key", "terms", update));
    row.appendChild(this.removeButton(node, parent));
    if (entry && entry.description) {
      row.appendChild(el("span", "ds-conditions__description", entry.description));
    }
    return row;
  };

  Editor.prototype.nameSelect = function (node, parts) {
    const self = this;
    const options = this.catalog.map(function (entry) {
      return { value: entry.name, label: entry.group + ": " + entry.name };
    });
    if (!this.byName[parts.name]) {
      options.unshift({ value: parts.name, label: parts.name ? parts.name + " (unknown)" : "choose" });
    }
    return select(options, parts.name, function (value) {
      const entry = self.byName[value];
      node.terms = entry && entry.examples.length ? entry.examples[0].split(/\s+/) : [value];
      self.changed(true);
    });
  };

  Editor.prototype.keyControl = function (entry, parts, update) {
    if (entry.keys_allowed) {
      const options = entry.keys_allowed.map(function (key) { return { value: key, label: key }; });
      if (!entry.key_required) options.unshift({ value: "", label: "(no key)" });
      return select(options, parts.key, function (value) { parts.key = value; update(); });
    }
    return this.textInput(parts, "key", entry.key_examples[0] || "key", update);
  };

  Editor.prototype.textInput = function (parts, field, placeholder, update) {
    const input = el("input", "ds-conditions__input");
    input.type = "text";
    input.value = parts[field];
    input.placeholder = placeholder;
    input.addEventListener("input", function () { parts[field] = input.value.trim(); update(); });
    return input;
  };

  /* --- start-up ----------------------------------------------------------------------- */

  function initAll(root) {
    root.querySelectorAll("[data-ds-conditions]").forEach(function (container) {
      // NOTE - the admin's hidden inline template is cloned later; never bind it.
      if (container.dataset.dsReady || container.closest(".empty-form")) return;
      container.dataset.dsReady = "1";
      new Editor(container);
    });
  }

  if (typeof module === "object" && module.exports) {
    module.exports = {
      fromJSON: fromJSON, toJSON: toJSON, splitLeaf: splitLeaf, joinLeaf: joinLeaf, initAll: initAll
    };
  } else {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", function () { initAll(document); });
    } else {
      initAll(document);
    }
    document.addEventListener("formset:added", function (event) { initAll(event.target); });
  }
})();
