// What the detector sees, over the live image (GET /api/sight/<camera>: the chain's last detected frame, the same
// marks rules/annotate.py draws, held in memory only): detections (class, score), tracks with their ids and short
// trails, the motion gate's changed regions and its masks. Each zone's live occupancy comes with it.
"use strict";
EA.overlay = {
  COLOURS: { detection: "#ff4fd8", track: "#00ff00", motion: "#ff9900", mask: "#c0c0c0" },

  async fetch(cameraId) {
    const { ok, status, data } = await EA.json("GET", `/api/sight/${encodeURIComponent(cameraId)}`);
    return ok ? data : status === 429 ? undefined : null; // undefined: keep the last one (asked too soon)
  },

  draw(canvas, sight) {
    if (!sight) return;
    const ctx = canvas.getContext("2d");
    const W = canvas.width, H = canvas.height;
    ctx.save();
    ctx.font = `${EA.draw.fontPx(canvas)}px sans-serif`;
    EA.draw.masks(ctx, sight.masks || [], W, H, false, null);
    ctx.lineWidth = Math.max(1, W / 500);
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = this.COLOURS.motion;
    for (const [x1, y1, x2, y2] of sight.motion.regions) ctx.strokeRect(x1 * W, y1 * H, (x2 - x1) * W, (y2 - y1) * H);
    ctx.setLineDash([]);
    for (const d of sight.detections) this.box(ctx, d.box, W, H, this.COLOURS.detection, `${d.class} ${d.score.toFixed(2)}`, true);
    ctx.lineWidth = Math.max(2, W / 300);
    for (const track of sight.tracks) {
      this.box(ctx, track.box, W, H, this.COLOURS.track, track.label, false);
      if (track.trail.length > 1) {
        ctx.strokeStyle = this.COLOURS.track;
        ctx.beginPath();
        track.trail.forEach(([x, y], i) => (i ? ctx.lineTo(x * W, y * H) : ctx.moveTo(x * W, y * H)));
        ctx.stroke();
      }
    }
    ctx.restore();
  },

  // A detection is labelled above its box, a track inside its bottom edge (as annotate.py places it)
  box(ctx, [x1, y1, x2, y2], W, H, colour, label, above) {
    ctx.strokeStyle = colour;
    ctx.strokeRect(x1 * W, y1 * H, (x2 - x1) * W, (y2 - y1) * H);
    const size = parseInt(ctx.font, 10);
    const [lx, ly] = above ? [x1 * W, Math.max(size, y1 * H - 3)] : [x1 * W + 2, y2 * H - 4];
    ctx.fillStyle = "rgba(0, 0, 0, 0.6)";
    ctx.fillRect(lx, ly - size, ctx.measureText(label).width + 4, size + 3);
    ctx.fillStyle = colour;
    ctx.fillText(label, lx + 2, ly);
  },

  legend(sight) {
    if (!sight) return "";
    const motion = sight.motion.enabled
      ? `${t("overlay.motion", "motion")} ${(100 * sight.motion.fraction).toFixed(1)} % (${t("overlay.threshold", "threshold")} ` +
        `${(100 * sight.motion.min_area).toFixed(1)} %)`
      : t("overlay.motion_off", "motion gate off");
    return `${t("overlay.detections", "detections")} ${sight.detections.length} · ` +
      `${t("overlay.tracks", "tracks")} ${sight.tracks.length} · ${motion} · ${t("overlay.masks", "masks")} ${sight.masks.length}`;
  },
};
