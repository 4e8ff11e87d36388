// Pointer editing of shapes on a canvas (mouse, touch and pen alike, through pointer events):
// - press a corner (a zone's, a mask's, a line's end) and drag it;
// - tap an edge of a zone or mask: a corner is added there (and can be dragged on at once);
// - hold a corner still for LONG_PRESS_MS: it is removed (a polygon keeps at least 3);
// - the last touched corner is "selected" (the Remove corner button removes it).
// Handles are hit (and drawn, draw.js) at HANDLE_TOUCH_PX across on touch screens, HANDLE_MOUSE_PX with a mouse.
"use strict";
EA.touch = {
  LONG_PRESS_MS: 600,
  HANDLE_TOUCH_PX: 44,
  HANDLE_MOUSE_PX: 16,
  MOVE_SLOP_PX: 8, // a press that moves less than this is a tap or a hold, not a drag

  coarse() {
    return window.matchMedia("(pointer: coarse)").matches;
  },

  // The handle's radius in canvas pixels, for drawing (the canvas is scaled to its box on screen)
  handleRadius(canvas) {
    const box = canvas.getBoundingClientRect();
    const across = this.coarse() ? this.HANDLE_TOUCH_PX : this.HANDLE_MOUSE_PX;
    return (across / 2) * (box.width ? canvas.width / box.width : 1);
  },

  // editor: { shapes() -> [{points, closed}], changed(), selected: {shape, index} | null, refused(message) }
  attach(canvas, editor) {
    const state = { press: null };
    canvas.style.touchAction = "none"; // a finger on the picture edits, it does not scroll
    canvas.addEventListener("pointerdown", (e) => this.down(canvas, editor, state, e));
    canvas.addEventListener("pointermove", (e) => this.move(canvas, editor, state, e));
    const end = (e) => this.up(editor, state, e);
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
  },

  down(canvas, editor, state, event) {
    const box = canvas.getBoundingClientRect();
    const radius = (event.pointerType === "mouse" ? this.HANDLE_MOUSE_PX : this.HANDLE_TOUCH_PX) / 2;
    const at = EA.draw.normalized(canvas, event);
    const px = ([x, y]) => [x * box.width, y * box.height];
    let hit = this.nearestCorner(editor.shapes(), px(at), px, radius);
    if (!hit) {
      hit = this.nearestEdge(editor.shapes(), px(at), px, radius);
      if (!hit) return;
      hit.shape.points.splice(hit.index, 0, at); // a new corner where the edge was tapped
      editor.changed();
    }
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    editor.selected = { shape: hit.shape, index: hit.index };
    state.press = { ...hit, x: event.clientX, y: event.clientY, t: event.timeStamp, moved: false, done: false };
    const press = state.press;
    press.timer = setTimeout(() => this.hold(editor, state, press), this.LONG_PRESS_MS);
    editor.changed({ redrawOnly: true });
  },

  move(canvas, editor, state, event) {
    const press = state.press;
    if (!press || press.done) return;
    if (!press.moved && Math.hypot(event.clientX - press.x, event.clientY - press.y) < this.MOVE_SLOP_PX) return;
    press.moved = true;
    clearTimeout(press.timer);
    press.shape.points[press.index] = EA.draw.normalized(canvas, event);
    editor.changed();
  },

  up(editor, state, event) {
    const press = state.press;
    if (!press) return;
    clearTimeout(press.timer);
    state.press = null;
    // a hold is judged by the events' own times too: a busy page may run the timer late, never early
    if (!press.moved && !press.done && event.timeStamp - press.t >= this.LONG_PRESS_MS) this.hold(editor, state, press);
  },

  hold(editor, state, press) {
    if (press.moved || press.done) return;
    press.done = true;
    this.removeCorner(editor, press.shape, press.index);
  },

  removeCorner(editor, shape, index) {
    if (!shape || !shape.closed) return editor.refused(t("edit.line_needs_two", "A line has exactly two ends."));
    if (shape.points.length <= 3) return editor.refused(t("edit.polygon_needs_three", "A shape needs at least 3 corners."));
    shape.points.splice(index, 1);
    editor.selected = null;
    editor.changed();
  },

  nearestCorner(shapes, at, px, radius) {
    let best = null;
    for (const shape of shapes) {
      shape.points.forEach((point, index) => {
        const [x, y] = px(point);
        const d = Math.hypot(x - at[0], y - at[1]);
        if (d <= radius && (!best || d < best.d)) best = { shape, index, d };
      });
    }
    return best;
  },

  // The closest edge of a closed shape within `radius`; index is where a corner inserted on it goes
  nearestEdge(shapes, at, px, radius) {
    let best = null;
    for (const shape of shapes.filter((s) => s.closed)) {
      const n = shape.points.length;
      for (let i = 0; i < n; i++) {
        const d = this.segmentDistance(at, px(shape.points[i]), px(shape.points[(i + 1) % n]));
        if (d <= radius && (!best || d < best.d)) best = { shape, index: i + 1, d };
      }
    }
    return best;
  },

  segmentDistance([x, y], [ax, ay], [bx, by]) {
    const [dx, dy] = [bx - ax, by - ay];
    const length2 = dx * dx + dy * dy;
    const k = length2 ? Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / length2)) : 0;
    return Math.hypot(x - (ax + k * dx), y - (ay + k * dy));
  },
};
