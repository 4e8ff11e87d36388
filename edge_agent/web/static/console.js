// The guards' console: open alerts with age and source, dispose buttons, door states, snooze with a reason.
// Works from the box alone: dispositions are stored here and reach the platform when the uplink is back.
"use strict";
window.t = window.t || ((key, en) => en); // the page's translations (common.js), or English

EA.pages.console = {
  open() {
    const form = document.getElementById("snooze-form");
    if (!form.dataset.bound) {
      form.dataset.bound = "1";
      form.addEventListener("submit", (event) => { event.preventDefault(); this.snooze(); });
    }
    EA.every(2000, () => this.refresh());
  },
  async refresh() {
    const { ok, data } = await EA.json("GET", "/api/console");
    if (!ok) return;
    this.alerts(data.alerts);
    this.doors(data.doors);
    this.snoozes(data.response || {}, data.rules);
    const waiting = (data.response || {}).escalations_waiting || 0;
    document.getElementById("console-status").textContent =
      `${data.alerts.length} ${t("console.open_count", "open alert(s)")}, ` +
      `${waiting} ${t("console.escalations_waiting", "waiting to escalate")}`;
  },
  alerts(alerts) {
    const button = (alert, state, label) => EA.el(
      "button", { type: "button", class: "dispose", "data-state": state, "data-event": alert.event_id,
        onclick: () => this.dispose(alert.event_id, state) },
      label
    );
    EA.table(
      document.getElementById("console-alerts"),
      [t("console.age", "age"), t("console.type", "type"), t("console.severity", "severity"),
        t("console.source", "source"), t("console.rule", "rule"), t("console.states", "so far"), ""],
      alerts.map((a) => [
        this.age(a.age_s), a.type, a.severity, a.source + (a.zone ? " / " + a.zone : "") + (a.door ? " / " + a.door : ""),
        a.rule || "",
        (a.states.join(", ") || t("console.unanswered", "unanswered")) +
          (a.escalated ? " — " + t("console.escalated", "escalated") : ""),
        EA.el("span", {},
          button(a, "acknowledged", t("console.acknowledge", "Acknowledge")),
          button(a, "dispatched", t("console.dispatch", "Dispatched")),
          button(a, "resolved", t("console.resolve", "Resolved")),
          button(a, "false_alarm", t("console.false_alarm", "False alarm"))),
      ])
    );
  },
  age(seconds) {
    if (seconds < 60) return `${Math.round(seconds)} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
    return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  },
  doors(doors) {
    EA.table(
      document.getElementById("console-doors"),
      [t("console.door", "door"), t("console.door_state", "state"), t("console.since", "since"),
        t("console.offline_readers", "offline readers")],
      Object.entries(doors).map(([id, d]) => [
        id,
        d.held_open ? t("console.held_open", "held open") : d.open ? t("console.open", "open") : t("console.closed", "closed"),
        d.open_since || "", d.offline_readers.join(", "),
      ])
    );
  },
  snoozes(response, rules) {
    const select = document.getElementById("snooze-rule");
    if (select.options.length !== rules.length) {
      select.replaceChildren(...rules.map((name) => EA.el("option", { value: name }, name)));
    }
    const rows = Object.entries(response.snoozed || {}).map(([target, s]) => [
      target, s.reason, s.by, `${Math.ceil(s.remaining_s / 60)} min`, s.suppressed,
      EA.el("button", { type: "button", class: "end-snooze", onclick: () => this.arm(target.replace(/^rule:/, "")) },
        t("console.end_snooze", "End snooze")),
    ]);
    EA.table(
      document.getElementById("console-snoozes"),
      [t("console.snoozed", "snoozed"), t("console.reason", "reason"), t("console.by", "by"),
        t("console.left", "left"), t("console.kept_back", "kept back"), ""],
      rows
    );
  },
  async dispose(eventId, state) {
    const note = document.getElementById("console-note").value.trim();
    this.answer(await EA.json("POST", "/api/console/dispose", { event_id: eventId, state, note }));
  },
  async snooze() {
    const body = {
      rule: document.getElementById("snooze-rule").value,
      minutes: Number(document.getElementById("snooze-minutes").value),
      reason: document.getElementById("snooze-reason").value.trim(),
    };
    this.answer(await EA.json("POST", "/api/console/snooze", body));
  },
  async arm(rule) {
    this.answer(await EA.json("POST", "/api/console/arm", { rule }));
  },
  answer({ ok, data }) {
    const result = document.getElementById("console-result");
    result.className = ok ? "ok" : "error";
    result.textContent = ok ? t("console.done", "Done.") : data.error || t("console.refused", "Refused.");
    this.refresh();
  },
};
