// Edit: drag zone and mask corners and line ends (touch.js: mouse, touch, pen; tap an edge to add a corner, hold one
// to remove it), add/remove/rename zones and lines, draw motion masks, flip in-sides, every rule field (schema_form.js);
// Validate shows each problem next to its field, Apply shows the changed keys and applies (with automatic revert).
// The page edits the config file on disk; when the running config differs from it (a remote set-config with
// persist: false), it says so and Apply asks before it ends that change (docs/technician.md).
"use strict";

EA.pages.edit = {
  edit: null,
  digest: null,
  image: null,
  selected: null, // the last touched corner: {shape: its points array, index} (touch.js)
  dirty: false,
  open() {
    const select = document.getElementById("edit-camera");
    EA.fillCameraSelect(select, () => this.render());
    if (!this.bound) this.bind();
    if (!this.edit) this.load();
    const period = Math.max(500, 1000 / (EA.session.live_fps || 1));
    EA.every(period, () => this.refreshImage());
  },
  bind() {
    this.bound = true;
    EA.touch.attach(document.getElementById("edit-canvas"), this);
    window.addEventListener("beforeunload", (e) => { if (this.dirty) { e.preventDefault(); e.returnValue = ""; } });
    document.getElementById("add-zone").addEventListener("click", () => this.addZone());
    document.getElementById("add-line").addEventListener("click", () => this.addLine());
    document.getElementById("add-mask").addEventListener("click", () => this.addMask());
    document.getElementById("remove-corner").addEventListener("click", () => this.removeSelectedCorner());
    document.getElementById("validate").addEventListener("click", () => this.send("/api/validate"));
    document.getElementById("apply").addEventListener("click", () => this.send("/api/apply"));
    document.getElementById("reload-config").addEventListener("click", () => this.load());
  },
  async load() {
    const { ok, data } = await EA.json("GET", "/api/config");
    if (!ok) return;
    this.edit = data.edit;
    this.digest = data.digest;
    this.schema = data.rule_schema;
    this.selected = null;
    this.setDirty(false);
    this.runningDiffers = data.running_differs;
    const notice = document.getElementById("running-differs");
    notice.hidden = !data.running_differs;
    notice.textContent = data.running_differs
      ? t("edit.running_differs", "The running config differs from {file}{sections}, e.g. a remote change made with " +
        "persist: false. This page edits the file; Apply would end that change.", {
        file: data.config_file,
        sections: data.running_differs_in ? ` (${data.running_differs_in.join(", ")})` : "",
      })
      : "";
    this.clearErrors();
    this.render();
  },
  camera() {
    const id = document.getElementById("edit-camera").value;
    return this.edit ? this.edit.cameras.find((c) => c.id === id) : null;
  },
  cameraIndex() {
    return this.edit.cameras.indexOf(this.camera());
  },
  async refreshImage() {
    if (!EA.session.live_view) return this.redraw();
    const camera = this.camera();
    if (!camera) return;
    const result = await EA.draw.fetchImage(camera.id);
    if (result.image) this.image = result.image;
    this.redraw();
  },
  redraw() {
    const camera = this.camera();
    if (!camera) return;
    const selected = this.selected && { shape: { points: this.selected.shape.points }, index: this.selected.index };
    EA.draw.scene(document.getElementById("edit-canvas"), this.image, camera, { handles: true, masks: true, selected });
  },
  // -- what touch.js edits ----------------------------------------------------------------------------------
  shapes() {
    const camera = this.camera();
    if (!camera) return [];
    return [
      ...Object.values(camera.zones).map((zone) => ({ points: zone.points, closed: true })),
      ...(camera.masks || []).map((points) => ({ points, closed: true })),
      ...Object.values(camera.lines).map((line) => ({ points: line.points, closed: false })),
    ];
  },
  changed(options) {
    if (!(options && options.redrawOnly)) this.markDirty();
    document.getElementById("remove-corner").disabled = !this.selected;
    this.redraw();
  },
  refused(message) {
    const result = document.getElementById("edit-result");
    result.textContent = message;
    result.className = "error";
  },
  removeSelectedCorner() {
    if (this.selected) EA.touch.removeCorner(this, this.selected.shape, this.selected.index);
  },
  // -- not yet applied ------------------------------------------------------------------------------------
  markDirty() {
    this.setDirty(true);
  },
  setDirty(dirty) {
    this.dirty = dirty;
    document.getElementById("unsaved").hidden = !dirty;
    document.getElementById("tab-edit").classList.toggle("dirty", dirty);
  },
  // -- zones and lines --------------------------------------------------------------------------------------
  freeName(existing, stem) {
    let n = 1;
    while (`${stem}-${n}` in existing) n += 1;
    return `${stem}-${n}`;
  },
  addZone() {
    const camera = this.camera();
    camera.zones[this.freeName(camera.zones, "zone")] = { points: [[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]] };
    this.markDirty();
    this.render();
  },
  addMask() {
    const camera = this.camera();
    camera.masks = camera.masks || [];
    camera.masks.push([[0.05, 0.05], [0.3, 0.05], [0.3, 0.3], [0.05, 0.3]]);
    this.markDirty();
    this.render();
  },
  removeMask(index) {
    this.camera().masks.splice(index, 1);
    this.selected = null;
    this.markDirty();
    this.render();
  },
  addLine() {
    const camera = this.camera();
    camera.lines[this.freeName(camera.lines, "line")] = { points: [[0.3, 0.5], [0.7, 0.5]], in_side: [0.5, 0.6] };
    this.markDirty();
    this.render();
  },
  rename(kind, oldName, newName) {
    const camera = this.camera();
    if (!newName || newName === oldName || newName in camera[kind]) return this.render();
    camera[kind] = Object.fromEntries(Object.entries(camera[kind]).map(([k, v]) => [k === oldName ? newName : k, v]));
    for (const rule of this.edit.rules) {
      const key = kind === "zones" ? "zone" : "line";
      if (rule.camera === camera.id && rule[key] === oldName) rule[key] = newName;
    }
    this.markDirty();
    this.render();
  },
  remove(kind, name) {
    delete this.camera()[kind][name];
    this.selected = null;
    this.markDirty();
    this.render();
  },
  flip(name) {
    const line = this.camera().lines[name];
    const [[ax, ay], [bx, by]] = line.points;
    const [mx, my] = [(ax + bx) / 2, (ay + by) / 2];
    const clamp = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
    line.in_side = [clamp(2 * mx - line.in_side[0]), clamp(2 * my - line.in_side[1])];
    this.markDirty();
    this.redraw();
  },
  // -- the lists beside the canvas ------------------------------------------------------------------------------
  render() {
    const camera = this.camera();
    if (!camera) return;
    const base = `cameras[${this.cameraIndex()}]`;
    const item = (kind, name, extra) =>
      EA.el("div", { class: "item", "data-path": `${base}.${kind}.${name}` },
        EA.el("input", { value: name, class: `${kind}-name`, "data-name": name,
          onchange: (e) => this.rename(kind, name, e.target.value.trim()) }),
        ...extra,
        EA.el("button", { type: "button", class: `remove-${kind}`, onclick: () => this.remove(kind, name) },
          t("edit.remove", "Remove")),
        EA.el("span", { class: "field-error", "data-error-for": `${base}.${kind}.${name}` }));
    document.getElementById("zones").replaceChildren(...Object.keys(camera.zones).map((n) => item("zones", n, [])));
    document.getElementById("lines").replaceChildren(...Object.keys(camera.lines).map((n) =>
      item("lines", n, [EA.el("button", { type: "button", class: "flip-line", onclick: () => this.flip(n) }, t("edit.flip", "Flip in-side"))])));
    document.getElementById("masks").replaceChildren(...(camera.masks || []).map((_, i) =>
      EA.el("div", { class: "item", "data-path": `${base}.motion.masks[${i}]` },
        EA.el("span", {}, `${t("edit.mask", "mask")} ${i + 1}`),
        EA.el("button", { type: "button", class: "remove-mask", onclick: () => this.removeMask(i) }, t("edit.remove", "Remove")),
        EA.el("span", { class: "field-error", "data-error-for": `${base}.motion.masks[${i}]` }))));
    document.getElementById("rules").replaceChildren(...this.edit.rules.map((rule, i) =>
      EA.schemaForm.rule(this.schema, rule, i, () => { this.markDirty(); this.render(); })));
    document.getElementById("remove-corner").disabled = !this.selected;
    this.redraw();
  },
  // -- validate and apply --------------------------------------------------------------------------------------
  clearErrors() {
    document.querySelectorAll("[data-error-for]").forEach((n) => { n.textContent = ""; });
    document.getElementById("edit-errors").replaceChildren();
    document.getElementById("edit-result").textContent = "";
    document.getElementById("diff").textContent = "";
  },
  // The changed keys, one a line: "path: before → after", "+ path: added", "- path: removed".
  showDiff(changes) {
    const show = (v) => Array.isArray(v) ? `[${v.map(show).join(", ")}]`
      : v !== null && typeof v === "object" ? `{${Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(", ")}}`
      : String(v);
    document.getElementById("diff").textContent = (changes || []).map((c) =>
      c.before === null ? `+ ${c.path}: ${show(c.after)}`
        : c.after === null ? `- ${c.path}: ${show(c.before)}`
        : `${c.path}: ${show(c.before)} → ${show(c.after)}`).join("\n");
  },
  showErrors(errors) {
    const targets = [...document.querySelectorAll("[data-error-for]")];
    for (const error of errors) {
      // the field whose path is the longest prefix of the error's path
      const target = targets
        .filter((n) => error.path === n.dataset.errorFor || error.path.startsWith(n.dataset.errorFor + ".") ||
          error.path.startsWith(n.dataset.errorFor + "["))
        .sort((a, b) => b.dataset.errorFor.length - a.dataset.errorFor.length)[0];
      const message = EA.serverText(error.message);
      if (target) target.textContent = (target.textContent ? target.textContent + "; " : "") + message;
      document.getElementById("edit-errors").append(
        EA.el("li", {}, `${error.path || t("edit.config", "config")}: ${message}`));
    }
  },
  async send(path) {
    this.clearErrors();
    const result = document.getElementById("edit-result");
    const applying = path.endsWith("apply");
    const body = { edit: this.edit, digest: this.digest };
    if (applying && this.runningDiffers) {
      if (!window.confirm(t("edit.confirm_replace", "The running config differs from the file on disk (a change " +
        "not meant to be kept). Apply the file with your edit and end that change?"))) return;
      body.replace_running = true;
    }
    result.textContent = applying
      ? t("edit.applying", "applying… (the new config must prove itself)") : t("edit.validating", "validating…");
    const { status, data } = await EA.json("POST", path, body);
    this.showDiff(data.diff);
    if (data.errors && data.errors.length) {
      this.showErrors(data.errors);
      result.textContent = t("edit.not_valid", "not valid: {n} problem(s); nothing was applied",
        { n: data.errors.length });
      result.className = "error";
    } else if (path.endsWith("validate")) {
      const changed = data.diff && data.diff.length;
      result.textContent = data.ok
        ? (changed ? t("edit.valid", "valid") : t("edit.valid_no_change", "valid (no change)"))
        : EA.serverText(data.error) || `HTTP ${status}`;
      result.className = data.ok ? "ok" : "error";
    } else if (data.ok) {
      await this.load(); // the file now: the next edit starts from it
      this.showDiff(data.diff);
      result.textContent = t("edit.applied", "applied ({how})",
        { how: data.result.switch ? EA.word("switch", data.result.switch) : t("edit.no_change", "no change") });
      result.className = "ok";
    } else {
      result.textContent = t("edit.not_applied", "not applied: {why}",
        { why: EA.serverText((data.result && (data.result.error || data.result.reason)) || data.error) });
      result.className = "error";
    }
  },
};
