// Actions: each configured action with its figures and last records; Render (nothing sent) and Test (runs it).
"use strict";
EA.pages.actions = {
  blocks: new Map(), // action name -> {figures, records, output} elements, kept across refreshes

  open() {
    EA.every(3000, () => this.refresh());
  },

  async refresh() {
    const { ok, data } = await EA.json("GET", "/api/actions");
    if (!ok) return;
    document.getElementById("actions-status").textContent = data.actions.length
      ? (data.running ? "" : "the actions are not running right now (the agent is starting or reloading)")
      : "no actions configured (actions: in the config file; see docs/actions.md)";
    const names = data.actions.map((a) => a.name).join("\n");
    if (names !== [...this.blocks.keys()].join("\n")) this.build(data.actions);
    for (const action of data.actions) this.fill(this.blocks.get(action.name), action);
  },

  build(actions) {
    this.blocks.clear();
    const list = document.getElementById("actions-list");
    list.replaceChildren(...actions.map((action) => {
      const block = {
        figures: EA.el("table", { class: "action-figures" }),
        records: EA.el("table", { class: "action-records" }),
        output: EA.el("pre", { class: "action-output", hidden: "" }),
        about: EA.el("p", { class: "muted" }),
      };
      this.blocks.set(action.name, block);
      const buttons = EA.el(
        "p", {},
        EA.el("button", { type: "button", class: "render", onclick: () => this.render(action.name, block) }, "Render"),
        " ",
        EA.el("button", {
          type: "button", class: "test", disabled: action.enabled ? null : "",
          onclick: () => this.test(action.name, block),
        }, "Test"),
      );
      return EA.el(
        "div", { class: "action", "data-action": action.name },
        EA.el("h2", {}, `${action.name} (${action.kind})${action.enabled ? "" : " — disabled"}`),
        block.about, block.figures, EA.el("h3", {}, "Last records"), block.records, buttons, block.output,
      );
    }));
  },

  fill(block, action) {
    const triggers = action.on.map((t) =>
      [t.rule && `rule ${t.rule}`, t.type && `type ${t.type}`, t.source && `source ${t.source}`]
        .filter(Boolean).join(" ") + ` [${t.phases.join(", ")}]`).join("; ") || "no alert triggers";
    const rate = action.rate_limit;
    block.about.textContent = `→ ${action.target} · on: ${triggers} · rate ${rate.count} per ${rate.per} s` +
      ` · cooldown ${action.cooldown} s · ${action.remote ? "remote run-action allowed" : "no remote runs"}`;
    const figures = action.figures;
    const outcomes = figures ? Object.entries(figures.outcomes).map(([k, v]) => `${k} ${v}`).join(", ") : "";
    EA.table(block.figures, ["runs by outcome", "queued", "off schedule"],
      [figures ? [outcomes || "none yet", figures.queued, figures.off_schedule] : ["not running", "", ""]]);
    EA.table(
      block.records,
      ["finished", "trigger", "outcome", "tries", "run ms", "latency ms", "alert", "error", "delivery"],
      action.records.map((r) => [
        r.finished_at, r.trigger, r.outcome, r.attempts, r.run_ms ?? "", r.latency_ms ?? "",
        [r.alert_type, r.rule].filter(Boolean).join(" / "), r.error || "", r.state,
      ])
    );
  },

  async render(name, block) {
    const { ok, data } = await EA.json("POST", `/api/actions/${encodeURIComponent(name)}/render`, {});
    block.output.hidden = false;
    block.output.textContent = ok ? `alert:   ${data.alert}\n${data.text}` : `not rendered: ${data.error}`;
  },

  async test(name, block) {
    if (!window.confirm(`Run action ${name} now, for real? It acts on its target (the rate limit still applies).`)) {
      return;
    }
    block.output.hidden = false;
    block.output.textContent = `running ${name}…`;
    const { ok, status, data } = await EA.json("POST", `/api/actions/${encodeURIComponent(name)}/test`, {});
    if (data.outcome) {
      const record = data.record || {};
      block.output.textContent = `outcome: ${data.outcome}` + (record.error ? `: ${record.error}` : "") +
        ` (${record.attempts ?? 0} ${record.attempts === 1 ? "try" : "tries"}; record ${data.record_event_id})` +
        `\nalert:   ${data.alert}`;
    } else {
      block.output.textContent = `not run (${status}): ${data.error || "failed"}`;
    }
    if (ok || data.outcome) this.refresh();
  },
};
