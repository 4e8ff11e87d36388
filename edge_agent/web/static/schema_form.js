// A rule's form, generated from the config's JSON Schema (GET /api/config's rule_schema: the same models
// check-config validates against), so a new rule field appears here without page work. Each field: its type's
// input, its range and default as a hint, its description as help text, its error beside it (data-error-for).
// The fields the rule sets come first; every other threshold sits under "More settings" with its default shown.
// Values are kept as typed where they do not parse, so a wrong one gets the validator's own message.
"use strict";
EA.schemaForm = {
  ALWAYS: ["name", "type", "camera", "zone", "line"],

  definition(schema, type) {
    const mapping = (schema.items.discriminator || {}).mapping || {};
    const ref = mapping[type];
    return ref ? schema.$defs[ref.split("/").pop()] : null;
  },

  types(schema) {
    return Object.keys((schema.items.discriminator || {}).mapping || {});
  },

  // A $ref's definition; of an optional value (anyOf [X, null]), X
  resolve(schema, property) {
    if (property.anyOf) {
      const branch = property.anyOf.find((p) => p.type !== "null") || {};
      return { ...this.resolve(schema, branch), description: property.description, default: property.default };
    }
    return property.$ref ? schema.$defs[property.$ref.split("/").pop()] || {} : property;
  },

  // rule: the edit's rule (changed in place); onType(): the rule's type changed (its fields change)
  rule(schema, rule, index, onType) {
    const definition = this.definition(schema, rule.type);
    const properties = definition ? definition.properties : {};
    const keys = Object.keys(properties).filter((k) => k !== "type");
    const shown = ["type", ...keys.filter((k) => k in rule || this.ALWAYS.includes(k))];
    const more = keys.filter((k) => !shown.includes(k));
    const unknown = Object.keys(rule).filter((k) => k !== "type" && !(k in properties)); // the validator names them
    const field = (key) => this.field(schema, rule, index, key, key === "type" ? null : properties[key], onType);
    return EA.el("div", { class: "rule", "data-path": `rules[${index}]` },
      EA.el("div", { class: "rule-title" }, rule.name || t("edit.rule_unnamed", "(unnamed rule)")),
      ...shown.concat(unknown).map(field),
      more.length ? EA.el("details", { class: "more" },
        EA.el("summary", {}, t("edit.more_settings", "More settings") + ` (${more.length})`),
        ...more.map(field)) : null,
      EA.el("span", { class: "field-error", "data-error-for": `rules[${index}]` }));
  },

  field(schema, rule, index, key, property, onType) {
    const path = `rules[${index}].${key}`;
    const spec = property ? this.resolve(schema, property) : null;
    const help = property ? property.description || spec.description || "" : t("edit.rule_type_help", "What the rule watches for.");
    const input = key === "type" ? this.typeSelect(schema, rule, path, onType) : this.input(schema, rule, key, spec, path);
    return EA.el("label", { class: "field", title: help },
      EA.el("span", { class: "field-name" }, key),
      input,
      EA.el("span", { class: "field-error", "data-error-for": path }),
      help ? EA.el("small", { class: "help" }, help + this.hint(spec, property)) : null);
  },

  typeSelect(schema, rule, path, onType) {
    const select = EA.el("select", { "data-path": path, onchange: (e) => { rule.type = e.target.value; onType(); } });
    for (const type of this.types(schema)) select.append(EA.el("option", { value: type }, type));
    select.value = rule.type;
    return select;
  },

  hint(spec, property) {
    if (!spec) return "";
    const parts = [];
    const min = spec.minimum ?? spec.exclusiveMinimum, max = spec.maximum ?? spec.exclusiveMaximum;
    if (min !== undefined || max !== undefined) parts.push(`${min ?? "…"} – ${max ?? "…"}`);
    if (property && property.default !== undefined) parts.push(`${t("edit.default", "default")} ${JSON.stringify(property.default)}`);
    return parts.length ? ` (${parts.join("; ")})` : "";
  },

  input(schema, rule, key, spec, path) {
    const value = rule[key];
    const set = (v) => { if (v === undefined) delete rule[key]; else rule[key] = v; EA.pages.edit.markDirty(); };
    const options = spec && (spec.enum || (spec.const !== undefined ? [spec.const] : null));
    if (options) {
      const select = EA.el("select", { "data-path": path, onchange: (e) => set(e.target.value || undefined) },
        EA.el("option", { value: "" }, "—"), ...options.map((o) => EA.el("option", { value: o }, o)));
      select.value = value === undefined ? "" : value;
      return select;
    }
    if (spec && spec.type === "boolean") {
      const box = EA.el("input", { type: "checkbox", "data-path": path, onchange: (e) => set(e.target.checked) });
      box.checked = value === undefined ? Boolean(spec.default) : value === true;
      return box;
    }
    const numeric = spec && (spec.type === "number" || spec.type === "integer");
    const list = spec && spec.type === "array" && !this.isObjects(schema, spec);
    const shownValue = value === undefined ? "" : list && Array.isArray(value) ? value.join(", ")
      : typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
    return EA.el("input", {
      value: shownValue, "data-path": path, inputmode: numeric ? "decimal" : undefined,
      placeholder: spec && spec.default !== undefined ? JSON.stringify(spec.default) : undefined,
      onchange: (e) => set(this.parse(e.target.value, spec, list, value)),
    });
  },

  isObjects(schema, spec) {
    return Boolean(spec.items && (spec.items.$ref || spec.items.type === "object"));
  },

  // Empty: back to the default (the key is left out). Else the schema's type where the text parses as it.
  parse(text, spec, list, previous) {
    const trimmed = text.trim();
    if (trimmed === "") return undefined;
    if (list) return trimmed.split(",").map((s) => s.trim()).filter(Boolean);
    if (spec && (spec.type === "number" || spec.type === "integer") && !Number.isNaN(Number(trimmed))) return Number(trimmed);
    if (spec && (spec.type === "array" || spec.type === "object") || typeof previous === "object") {
      try { return JSON.parse(trimmed); } catch (e) { return trimmed; }
    }
    return trimmed;
  },
};
