// Camera: the live image at most web.live_fps, zones (with live occupancy), lines and in-sides drawn over it, live line
// counts; with the overlay toggle on, what the detector sees (overlay.js) at the same pace.
"use strict";
EA.pages.camera = {
  geometry: {},
  sight: null,
  sightAt: 0,
  open() {
    const toggle = document.getElementById("overlay-toggle");
    if (!toggle.dataset.bound) {
      toggle.dataset.bound = "1";
      toggle.addEventListener("change", () => { this.sightAt = 0; });
    }
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
    await this.refreshSight(id);
    const canvas = document.getElementById("live-canvas");
    const occupancy = this.sight ? this.sight.occupancy : undefined;
    EA.draw.scene(canvas, image, this.geometry, { counts: mine, occupancy });
    const overlay = document.getElementById("overlay-toggle").checked;
    if (overlay) EA.overlay.draw(canvas, this.sight);
    const legend = document.getElementById("overlay-legend");
    legend.hidden = !overlay;
    legend.textContent = overlay ? EA.overlay.legend(this.sight) : "";
    EA.table(
      document.getElementById("zone-occupancy"),
      [t("camera.zone", "zone"), t("camera.objects_inside", "objects inside")],
      Object.entries(occupancy || {}).map(([zone, n]) => [zone, n])
    );
    EA.table(
      document.getElementById("line-counts"),
      [t("camera.col_line", "line"), t("camera.col_in", "in"), t("camera.col_out", "out")],
      Object.entries(mine).map(([line, c]) => [line, c.in || 0, c.out || 0])
    );
  },
};

// With the overlay on, every refresh; off, once a second (the zones' occupancy)
EA.pages.camera.refreshSight = async function (id) {
  const overlay = document.getElementById("overlay-toggle").checked;
  if (!EA.session.live_view || (!overlay && Date.now() - this.sightAt < 1000)) return;
  this.sightAt = Date.now();
  const sight = await EA.overlay.fetch(id);
  if (sight !== undefined) this.sight = sight && sight.camera === id ? sight : null;
};

EA.fillCameraSelect = function (select, onChange) {
  if (select.options.length === 0) {
    for (const id of EA.session.cameras) select.append(EA.el("option", { value: id }, id));
    select.addEventListener("change", onChange);
  }
};
