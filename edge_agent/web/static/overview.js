// Overview: cameras, door adapters, broker, outbox, last alerts; refreshed every 2 s.
"use strict";
EA.pages.overview = {
  open() {
    EA.every(2000, () => this.refresh());
  },
  async refresh() {
    const { ok, data } = await EA.json("GET", "/api/overview");
    if (!ok) return;
    document.getElementById("device").textContent = `${data.site} / ${data.device_id}`;
    document.getElementById("ov-summary").textContent = [
      data.healthy ? t("ov.healthy", "healthy") : t("ov.degraded", "DEGRADED"),
      data.mqtt_connected ? t("ov.mqtt_connected", "MQTT connected")
        : t("ov.mqtt_down", "MQTT NOT connected") + (data.mqtt_error ? ` (${data.mqtt_error})` : ""),
      t("ov.uptime", "up {s} s", { s: Math.round(data.uptime_s) }),
      t("ov.version", "agent {version}", { version: data.agent_version }),
      data.last_reload ? t("ov.last_change", "last change: {origin} → {outcome}", {
        origin: data.last_reload.origin, outcome: EA.word("outcome", data.last_reload.outcome),
      }) + (data.last_reload.at ? ` (${EA.time(data.last_reload.at)})` : "") : null,
    ].filter(Boolean).join(" · ");
    const yes = t("ov.yes", "yes"), no = t("ov.no", "no");
    EA.table(
      document.getElementById("ov-cameras"),
      [t("ov.col_camera", "camera"), t("ov.col_online", "online"), t("ov.col_capture_fps", "capture fps"),
        t("ov.col_processed_fps", "processed fps"), t("ov.col_detector_ms", "detector ms"),
        t("ov.col_tamper", "tamper"), t("ov.col_live_tracks", "live tracks")],
      Object.entries(data.cameras).map(([id, c]) => [
        id, c.online ? yes : t("ov.NO", "NO"), c.capture_fps,
        c.motion_idle ? t("ov.idle", "idle (no motion)") : c.processed_fps,
        c.detector_ms, c.tamper ? t("ov.tampered", "TAMPER") : no, c.live_tracks,
      ])
    );
    EA.table(
      document.getElementById("ov-adapters"),
      [t("ov.col_adapter", "adapter"), t("ov.col_online", "online")],
      Object.keys(data.adapters).length
        ? Object.entries(data.adapters).map(([id, a]) => [id, a.online ? yes : t("ov.NO", "NO")])
        : [[t("ov.no_adapters", "none configured"), ""]]
    );
    const byState = data.outbox.by_state || {};
    const drops = Object.values(data.outbox.drops || {}).reduce((a, b) => a + b, 0);
    EA.table(
      document.getElementById("ov-outbox"),
      [t("state.pending", "pending"), t("state.inflight", "in flight"), t("state.delivered", "delivered"),
        t("ov.dropped", "dropped")],
      [[byState.pending, byState.inflight, byState.delivered, drops]]
    );
    EA.pages.alerts.fill(document.getElementById("ov-alerts"), data.last_alerts);
  },
};
