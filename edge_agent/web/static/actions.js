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
      ? (data.running ? "" : t("actions.not_running",
        "the actions are not running right now (the agent is starting or reloading)"))
      : t("actions.none", "no actions configured (actions: in the config file; see docs/actions.md)");
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
        EA.el("button", { type: "button", class: "render", onclick: () => this.render(action.name, block) },
          t("actions.render", "Render")),
        " ",
        EA.el("button", {
          type: "button", class: "test", disabled: action.enabled ? null : "",
          onclick: () => this.test(action.name, block),
        }, t("actions.test", "Test")),
      );
      return EA.el(
        "div", { class: "action", "data-action": action.name },
        EA.el("h2", {}, `${action.name} (${action.kind})` +
          (action.enabled ? "" : " — " + t("actions.disabled", "disabled"))),
        block.about, block.figures, EA.el("h3", {}, t("actions.last_records", "Last records")), block.records,
        buttons, block.output,
      );
    }));
  },

  fill(block, action) {
    const triggers = action.on.map((on) =>
      [on.rule && t("actions.on_rule", "rule {name}", { name: on.rule }),
        on.type && t("actions.on_type", "type {name}", { name: on.type }),
        on.source && t("actions.on_source", "source {name}", { name: on.source })]
        .filter(Boolean).join(" ") + ` [${on.phases.map((p) => EA.word("phase", p)).join(", ")}]`).join("; ") ||
      t("actions.no_triggers", "no alert triggers");
    const rate = action.rate_limit;
    block.about.textContent = [
      `→ ${action.target}`,
      t("actions.about_on", "on: {triggers}", { triggers }),
      t("actions.about_rate", "rate {count} per {per} s", { count: rate.count, per: rate.per }),
      t("actions.about_cooldown", "cooldown {s} s", { s: action.cooldown }),
      action.remote ? t("actions.remote_yes", "remote run-action allowed") : t("actions.remote_no", "no remote runs"),
    ].join(" · ");
    const figures = action.figures;
    const outcomes = figures
      ? Object.entries(figures.outcomes).map(([k, v]) => `${EA.word("outcome", k)} ${v}`).join(", ") : "";
    EA.table(block.figures,
      [t("actions.col_runs", "runs by outcome"), t("actions.col_queued", "queued"),
        t("actions.col_off_schedule", "off schedule")],
      [figures ? [outcomes || t("actions.none_yet", "none yet"), figures.queued, figures.off_schedule]
        : [t("actions.not_running_short", "not running"), "", ""]]);
    EA.table(
      block.records,
      [t("actions.col_finished", "finished"), t("actions.col_trigger", "trigger"), t("actions.col_outcome", "outcome"),
        t("actions.col_tries", "tries"), t("actions.col_run_ms", "run ms"), t("actions.col_latency_ms", "latency ms"),
        t("actions.col_alert", "alert"), t("actions.col_error", "error"), t("alerts.col_delivery", "delivery")],
      action.records.map((r) => [
        EA.time(r.finished_at), EA.word("trigger", r.trigger), EA.word("outcome", r.outcome), r.attempts,
        r.run_ms ?? "", r.latency_ms ?? "", [EA.word("alert_type", r.alert_type), r.rule].filter(Boolean).join(" / "), r.error || "",
        EA.word("state", r.state),
      ])
    );
  },

  async render(name, block) {
    const { ok, data } = await EA.json("POST", `/api/actions/${encodeURIComponent(name)}/render`, {});
    block.output.hidden = false;
    block.output.textContent = ok ? `${t("actions.alert", "alert:")}   ${data.alert}\n${data.text}`
      : t("actions.not_rendered", "not rendered: {why}", { why: EA.serverText(data.error) });
  },

  async test(name, block) {
    if (!window.confirm(t("actions.confirm_test",
      "Run action {name} now, for real? It acts on its target (the rate limit still applies).", { name }))) {
      return;
    }
    block.output.hidden = false;
    block.output.textContent = t("actions.running", "running {name}…", { name });
    const { ok, status, data } = await EA.json("POST", `/api/actions/${encodeURIComponent(name)}/test`, {});
    if (data.outcome) {
      const record = data.record || {};
      block.output.textContent = t("actions.outcome", "outcome: {outcome}", { outcome: EA.word("outcome", data.outcome) }) +
        (record.error ? `: ${record.error}` : "") + " " +
        t("actions.outcome_tries", "({n} tries; record {id})", { n: record.attempts ?? 0, id: data.record_event_id }) +
        `\n${t("actions.alert", "alert:")}   ${data.alert}`;
    } else {
      block.output.textContent = t("actions.not_run", "not run ({status}): {why}",
        { status, why: EA.serverText(data.error) || t("actions.failed", "failed") });
    }
    if (ok || data.outcome) this.refresh();
  },
};
