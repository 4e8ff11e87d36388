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
    document.getElementById("ov-summary").textContent =
      `${data.healthy ? "healthy" : "DEGRADED"} · MQTT ${data.mqtt_connected ? "connected" : "NOT connected"} · ` +
      `up ${Math.round(data.uptime_s)} s · agent ${data.agent_version}` +
      (data.last_reload ? ` · last change: ${data.last_reload.origin} → ${data.last_reload.outcome}` : "");
    EA.table(
      document.getElementById("ov-cameras"),
      ["camera", "online", "capture fps", "processed fps", "detector ms", "tamper", "live tracks"],
      Object.entries(data.cameras).map(([id, c]) => [
        id, c.online ? "yes" : "NO", c.capture_fps, c.processed_fps, c.detector_ms, c.tamper ? "TAMPER" : "no",
        c.live_tracks,
      ])
    );
    EA.table(
      document.getElementById("ov-adapters"),
      ["adapter", "online"],
      Object.keys(data.adapters).length
        ? Object.entries(data.adapters).map(([id, a]) => [id, a.online ? "yes" : "NO"])
        : [["none configured", ""]]
    );
    const byState = data.outbox.by_state || {};
    const drops = Object.values(data.outbox.drops || {}).reduce((a, b) => a + b, 0);
    EA.table(
      document.getElementById("ov-outbox"),
      ["pending", "in flight", "delivered", "dropped"],
      [[byState.pending, byState.inflight, byState.delivered, drops]]
    );
    EA.pages.alerts.fill(document.getElementById("ov-alerts"), data.last_alerts);
  },
};
