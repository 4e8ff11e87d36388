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
      ["created", "type", "phase", "severity", "source", "rule", "message", "delivery"],
      alerts.map((a) => [
        a.created_at, a.type, a.phase, a.severity, a.source, a.rule || "", a.message || "",
        a.state + (a.attempts ? ` (${a.attempts} tries)` : ""),
      ])
    );
  },
};
