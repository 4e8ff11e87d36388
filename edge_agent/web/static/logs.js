// Logs: the agent's newest log lines (from memory, redacted), filtered by level and component, and the health
// alerts of the last 24 h; read-only, refreshed every 3 s.
"use strict";
EA.pages.logs = {
  open() {
    const form = document.getElementById("log-filters");
    if (!form.dataset.bound) {
      form.dataset.bound = "1";
      form.addEventListener("change", () => this.refresh());
      form.addEventListener("submit", (event) => { event.preventDefault(); this.refresh(); });
    }
    EA.every(3000, () => this.refresh());
  },
  async refresh() {
    const params = new URLSearchParams();
    for (const key of ["level", "component", "limit"]) {
      const value = document.getElementById("log-" + key).value;
      if (value) params.set(key, value);
    }
    const [logs, health] = await Promise.all([
      EA.json("GET", "/api/logs?" + params.toString()), EA.json("GET", "/api/health"),
    ]);
    if (logs.ok) {
      this.components(logs.data.components);
      EA.table(
        document.getElementById("log-lines"),
        [t("logs.col_time", "time"), t("logs.col_level", "level"), t("logs.col_component", "component"),
          t("logs.col_message", "message")],
        logs.data.lines.map((line) => [
          EA.time(line.at), EA.word("level", line.level), line.component,
          [line.msg, line.exc].filter(Boolean).join(" — "),
        ])
      );
      document.querySelectorAll("#log-lines tr").forEach((row, i) => {
        if (i > 0) row.dataset.level = logs.data.lines[i - 1].level;
      });
    }
    if (health.ok) {
      const alerts = health.data.alerts;
      EA.table(
        document.getElementById("health-alerts"),
        [t("logs.col_time", "time"), t("alerts.col_type", "type"), t("alerts.col_phase", "phase"),
          t("alerts.col_severity", "severity"), t("alerts.col_source", "source"), t("logs.col_reason", "reason"),
          t("alerts.col_message", "message")],
        alerts.length
          ? alerts.map((a) => [
            EA.time(a.created_at), EA.word("alert_type", a.type), EA.word("phase", a.phase),
            EA.word("severity", a.severity), EA.source(a.source), EA.word("reason", a.reason), a.message || "",
          ])
          : [[t("logs.no_health", "no health alerts in the last 24 hours"), "", "", "", "", "", ""]]
      );
    }
  },
  // The component choices: those the remembered lines come from, the chosen one kept
  components(names) {
    const select = document.getElementById("log-component");
    const have = [...select.options].slice(1).map((o) => o.value);
    if (have.join("\n") === names.join("\n")) return;
    const chosen = select.value;
    select.replaceChildren(select.options[0], ...names.map((name) => EA.el("option", { value: name }, name)));
    select.value = names.includes(chosen) ? chosen : "";
  },
};
