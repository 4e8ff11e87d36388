// Alerts: the outbox tail, filtered by type, camera, door and phase, with delivery state.
"use strict";
EA.pages.alerts = {
  open() {
    const form = document.getElementById("alert-filters");
    if (!form.dataset.bound) {
      form.dataset.bound = "1";
      form.addEventListener("submit", (event) => { event.preventDefault(); this.refresh(); });
    }
    EA.every(3000, () => this.refresh());
  },
  async refresh() {
    const params = new URLSearchParams();
    for (const key of ["type", "camera", "door", "phase"]) {
      const value = document.getElementById("filter-" + key).value.trim();
      if (value) params.set(key, value);
    }
    const { ok, data } = await EA.json("GET", "/api/alerts?" + params.toString());
    if (ok) this.fill(document.getElementById("alerts-table"), data.alerts);
  },
  fill(table, alerts) {
    EA.table(
      table,
      [t("alerts.col_created", "created"), t("alerts.col_type", "type"), t("alerts.col_phase", "phase"),
        t("alerts.col_severity", "severity"), t("alerts.col_source", "source"), t("alerts.col_rule", "rule"),
        t("alerts.col_message", "message"), t("alerts.col_delivery", "delivery")],
      alerts.map((a) => [
        EA.time(a.created_at), EA.word("alert_type", a.type), EA.word("phase", a.phase), EA.word("severity", a.severity), EA.source(a.source),
        a.rule || "", a.message || "",
        EA.word("state", a.state) + (a.attempts ? " " + t("alerts.tries", "({n} tries)", { n: a.attempts }) : ""),
      ])
    );
  },
};
