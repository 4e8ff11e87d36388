// Camera: the live image at most web.live_fps, zones, lines and in-sides drawn over it, live line counts.
"use strict";
EA.pages.camera = {
  geometry: {},
  open() {
    const select = document.getElementById("camera-select");
    EA.fillCameraSelect(select, () => this.loadGeometry());
    this.loadGeometry();
    const period = Math.max(200, 1000 / (EA.session.live_fps || 1));
    EA.every(period, () => this.refresh());
  },
  async loadGeometry() {
    const { ok, data } = await EA.json("GET", "/api/config");
    if (!ok) return;
    const id = document.getElementById("camera-select").value;
    this.geometry = data.edit.cameras.find((c) => c.id === id) || {};
  },
  async refresh() {
    const id = document.getElementById("camera-select").value;
    const status = document.getElementById("live-status");
    let image = null;
    if (EA.session.live_view) {
      const result = await EA.draw.fetchImage(id);
      image = result.image;
      if (result.status !== 429) {
        status.textContent = image
          ? t("camera.live", "live") : t("camera.no_image", "no image (HTTP {status})", { status: result.status });
      }
      if (!image && result.status === 429) return; // keep the last picture
    } else {
      status.textContent = t("camera.disabled", "the live view is disabled on this device (web.live_view: false)");
    }
    const counts = await EA.json("GET", "/api/lines");
    const mine = {};
    for (const [key, value] of Object.entries(counts.ok ? counts.data : {})) {
      const [camera, line] = key.split("/");
      if (camera === id) mine[line] = value;
    }
    EA.draw.scene(document.getElementById("live-canvas"), image, this.geometry, { counts: mine });
    EA.table(
      document.getElementById("line-counts"),
      [t("camera.col_line", "line"), t("camera.col_in", "in"), t("camera.col_out", "out")],
      Object.entries(mine).map(([line, c]) => [line, c.in || 0, c.out || 0])
    );
  },
};

EA.fillCameraSelect = function (select, onChange) {
  if (select.options.length === 0) {
    for (const id of EA.session.cameras) select.append(EA.el("option", { value: id }, id));
    select.addEventListener("change", onChange);
  }
};
