// Zones (with their live occupancy), lines and each line's in-side arrow, and motion masks, over a camera image,
// in normalized coordinates.
"use strict";
EA.draw = {};

EA.draw.scene = function (canvas, image, geometry, options) {
  const ctx = canvas.getContext("2d");
  if (image) {
    if (canvas.width !== image.width || canvas.height !== image.height) {
      canvas.width = image.width;
      canvas.height = image.height;
    }
    ctx.drawImage(image, 0, 0);
  } else {
    ctx.fillStyle = "#222";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  const W = canvas.width, H = canvas.height;
  const handles = options && options.handles;
  ctx.lineWidth = Math.max(2, W / 400);
  ctx.font = `${EA.draw.fontPx(canvas)}px sans-serif`;
  for (const [name, zone] of Object.entries(geometry.zones || {})) {
    const pts = zone.points || [];
    if (pts.length < 2) continue;
    ctx.strokeStyle = "#ffcc00";
    ctx.fillStyle = "rgba(255, 204, 0, 0.15)";
    ctx.beginPath();
    pts.forEach(([x, y], i) => (i ? ctx.lineTo(x * W, y * H) : ctx.moveTo(x * W, y * H)));
    ctx.closePath();
    ctx.fill();
    ctx.stroke();
    ctx.fillStyle = "#ffcc00";
    const occupancy = options && options.occupancy && options.occupancy[name];
    const label = occupancy === undefined ? name : `${name} · ${occupancy} ${t("camera.in_zone", "inside")}`;
    ctx.fillText(label, pts[0][0] * W + 4, pts[0][1] * H - 4);
    if (handles) EA.draw.handles(ctx, pts, W, H, "#ffcc00", options.selected);
  }
  if (options && options.masks) EA.draw.masks(ctx, geometry.masks || [], W, H, handles, options.selected);
  for (const [name, line] of Object.entries(geometry.lines || {})) {
    const [[ax, ay], [bx, by]] = line.points;
    ctx.strokeStyle = "#00e0ff";
    ctx.beginPath();
    ctx.moveTo(ax * W, ay * H);
    ctx.lineTo(bx * W, by * H);
    ctx.stroke();
    EA.draw.inArrow(ctx, line, W, H);
    const count = options && options.counts && options.counts[name];
    const label = count
      ? `${name}  ` + t("draw.counts", "in {in} / out {out}", { in: count.in || 0, out: count.out || 0 }) : name;
    ctx.fillStyle = "#00e0ff";
    ctx.fillText(label, ax * W + 4, ay * H - 6);
    if (handles) EA.draw.handles(ctx, line.points, W, H, "#00e0ff", options.selected);
  }
};

// Labels readable on a phone too: at least 13 CSS px, however far the canvas is scaled down
EA.draw.fontPx = function (canvas) {
  const width = canvas.getBoundingClientRect().width;
  return Math.round(Math.max(12, canvas.width / 60, width ? (13 * canvas.width) / width : 0));
};

// Motion masks: where the motion gate ignores change (grey, hatched), numbered as the config lists them
EA.draw.masks = function (ctx, masks, W, H, handles, selected) {
  masks.forEach((pts, i) => {
    if (pts.length < 2) return;
    ctx.save();
    ctx.strokeStyle = "#c0c0c0";
    ctx.fillStyle = "rgba(160, 160, 160, 0.35)";
    ctx.setLineDash([8, 6]);
    ctx.beginPath();
    pts.forEach(([x, y], j) => (j ? ctx.lineTo(x * W, y * H) : ctx.moveTo(x * W, y * H)));
    ctx.closePath();
    ctx.fill();
    ctx.stroke();
    ctx.restore();
    ctx.fillStyle = "#e0e0e0";
    ctx.fillText(`${t("edit.mask", "mask")} ${i + 1}`, pts[0][0] * W + 4, pts[0][1] * H + 16);
    if (handles) EA.draw.handles(ctx, pts, W, H, "#c0c0c0", selected);
  });
};

EA.draw.handles = function (ctx, points, W, H, color, selected) {
  points.forEach(([x, y], i) =>
    EA.draw.handle(ctx, x * W, y * H, color, selected && selected.shape.points === points && selected.index === i));
};

// At least 44 CSS px across on a touch screen (touch.js hits them at that size too)
EA.draw.handle = function (ctx, x, y, color, isSelected) {
  const radius = EA.touch ? EA.touch.handleRadius(ctx.canvas) : Math.max(6, ctx.canvas.width / 120);
  ctx.save();
  ctx.fillStyle = color;
  ctx.globalAlpha = 0.75;
  ctx.strokeStyle = isSelected ? "#ff00ff" : "#000";
  ctx.lineWidth = isSelected ? Math.max(3, radius / 4) : Math.max(1, radius / 10);
  ctx.beginPath();
  ctx.arc(x, y, radius, 0, 2 * Math.PI);
  ctx.fill();
  ctx.stroke();
  ctx.restore();
};

// From the line's middle, perpendicular to it, toward the side of `in_side`.
EA.draw.inArrow = function (ctx, line, W, H) {
  const [[ax, ay], [bx, by]] = line.points.map(([x, y]) => [x * W, y * H]);
  const [px, py] = [line.in_side[0] * W, line.in_side[1] * H];
  const [mx, my] = [(ax + bx) / 2, (ay + by) / 2];
  let [nx, ny] = [-(by - ay), bx - ax];
  const length = Math.hypot(nx, ny) || 1;
  [nx, ny] = [nx / length, ny / length];
  if ((px - mx) * nx + (py - my) * ny < 0) [nx, ny] = [-nx, -ny];
  const size = Math.max(30, W / 25);
  const [tx, ty] = [mx + nx * size, my + ny * size];
  ctx.strokeStyle = "#00ff66";
  ctx.fillStyle = "#00ff66";
  ctx.beginPath();
  ctx.moveTo(mx, my);
  ctx.lineTo(tx, ty);
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(tx, ty);
  ctx.lineTo(tx - nx * 10 + ny * 7, ty - ny * 10 - nx * 7);
  ctx.lineTo(tx - nx * 10 - ny * 7, ty - ny * 10 + nx * 7);
  ctx.closePath();
  ctx.fill();
  ctx.fillText(t("draw.in", "in"), tx + 4, ty);
};

// The newest live image of a camera as an ImageBitmap, or null (refused, none yet, disabled).
EA.draw.fetchImage = async function (cameraId) {
  const response = await EA.api("GET", `/api/live/${encodeURIComponent(cameraId)}`);
  if (!response.ok) return { image: null, status: response.status };
  const blob = await response.blob();
  return { image: await createImageBitmap(blob), status: response.status };
};

// Canvas pixel -> normalized [x, y]
EA.draw.normalized = function (canvas, event) {
  const box = canvas.getBoundingClientRect();
  const x = (event.clientX - box.left) / box.width;
  const y = (event.clientY - box.top) / box.height;
  const clamp = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
  return [clamp(x), clamp(y)];
};
