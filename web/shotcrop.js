// ShotCrop frontend extension: the shot editor on Triple-Shot Compose.
//
// After a run, the Compose node shows its preview with the three boxes drawn over it (same
// colours as the Python renderer) and each shot's description. Dragging a box edge, corner or
// the box itself writes the edited box, in source pixels, into the `overrides` widget of the
// Edit Shots node(s) fed by Compose's `shots` output, so the next queue uses it. The edits live
// in that widget, which is saved with the workflow, so they survive re-runs and reloads.
//
// The shot sets the node last received are kept in node.properties in a compact form (per set
// its size and fallback flag, per shot its name, box and description, plus the preview image
// reference; at most 64 KB, above that nothing is kept), so they are saved with the workflow:
// after a page reload, on reopening a saved workflow, and on a run ComfyUI answers from its cache
// (which sends no UI output for the cached node), the editor still shows them and still writes
// overrides. A fresh payload from a real execution replaces them. Saved and live payloads are
// validated before use; an invalid one is ignored whole.
//
// The editor is a DOM widget, so it shows both on the LiteGraph canvas and with Vue nodes
// ("Nodes 2.0"), where anything drawn in onDrawForeground is not visible.
//
// Only public frontend APIs are used (registerExtension, setup, beforeRegisterNodeDef,
// onExecuted, onConfigure, addDOMWidget, widgets, node.properties, the api's
// "execution_cached" event, LGraphCanvas.emitBeforeChange/emitAfterChange), each
// feature-detected. Model text is only ever set as textContent or drawn with
// fillText, never parsed as HTML.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const COMPOSE = "ShotCropTripleShotCompose";
const EDIT = "ShotCropEditShots";
const SHOTS = ["establishing", "medium", "close_up"];
// Keep in step with shotcrop_core/render.py SHOT_COLORS / SHOT_LABELS.
const COLORS = { establishing: "#56B4E9", medium: "#E69F00", close_up: "#CC79A7" };
const LABELS = { establishing: "establishing", medium: "medium", close_up: "close-up" };
const GRAB = 7; // px on screen around an edge that grabs it
const MIN_SIDE = 8; // source px
// node.properties key holding the last shot sets, compact: {v: 1, sets: [{width, height,
// fallback?, shots: [{shot, box, description}]}], images: [{filename, subfolder, type}]}.
// (The previous version stored the raw UI payload there as JSON text; restore() converts it.)
const PROP = "shotcrop_last_output";
const PROP_MAX_BYTES = 64 * 1024; // larger states (big batches) are not kept in the workflow
const HINT_EMPTY = "Run the workflow to edit the shots.";
const HINT_CACHED = "ComfyUI reused its cached result and sent no shots: change any Compose " +
  "input and run again to edit them.";

/** For tests and other extensions: window.ShotCrop.editor(nodeId) -> a Compose node's editor. */
window.ShotCrop = Object.assign(window.ShotCrop || {}, {
  editor: (id) => app.graph?.getNodeById(Number(id) || id)?.shotcropEditor ?? null,
});

function linkOf(graph, id) {
  const links = graph?.links;
  if (!links) return null;
  return typeof links.get === "function" ? links.get(id) : links[id];
}

/** Edit Shots nodes fed directly by this Compose node's `shots` output. */
function editNodes(node) {
  const graph = node.graph ?? app.graph;
  const out = [];
  for (const id of node.outputs?.[0]?.links ?? []) {
    const link = linkOf(graph, id);
    const target = link && graph.getNodeById(link.target_id);
    if (target && (target.comfyClass === EDIT || target.type === EDIT)) out.push(target);
  }
  return out;
}

function overridesWidget(editNode) {
  return editNode.widgets?.find((w) => w.name === "overrides");
}

function readOverrides(editNode) {
  const w = overridesWidget(editNode);
  try {
    const data = JSON.parse(String(w?.value ?? "").trim() || "{}");
    return data && typeof data === "object" && !Array.isArray(data) ? data : {};
  } catch {
    return null; // hand-typed, not valid JSON: left alone
  }
}

/** Tell the frontend the graph changed (undo step, "modified" mark, the workflow kept for a
 * reload). Our pointer handlers cancel the pointerdown, so no mouseup reaches the frontend's own
 * change tracking: signal it the way LiteGraph's own edits do. */
function graphChanged(node, change) {
  const canvas = app.canvas;
  const graph = node.graph ?? app.graph;
  const viaCanvas = typeof canvas?.emitBeforeChange === "function"
    && typeof canvas?.emitAfterChange === "function";
  if (viaCanvas) canvas.emitBeforeChange();
  else graph?.beforeChange?.();
  try {
    change();
  } finally {
    if (viaCanvas) canvas.emitAfterChange();
    else graph?.afterChange?.();
    graph?.setDirtyCanvas?.(true, true);
  }
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}

/** One validated shot set in compact form, or null. Boxes are [x0, y0, x1, y1] in source px,
 * x1/y1 exclusive, so 0 <= x0 < x1 <= width (same for y); with beyond_photo (a share of the
 * photo, 0..1) as far past each side as that allows. */
function compactSet(s) {
  if (!isObject(s)) return null;
  const { width, height } = s;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    return null;
  }
  const beyond = s.beyond_photo ?? 0;
  if (!Number.isFinite(beyond) || beyond < 0 || beyond > 1) return null;
  const rx = Math.floor(beyond * width), ry = Math.floor(beyond * height);
  if (!Array.isArray(s.shots) || s.shots.length > SHOTS.length) return null;
  const shots = [];
  const seen = new Set();
  for (const x of s.shots) {
    if (!isObject(x) || !SHOTS.includes(x.shot) || seen.has(x.shot)) return null;
    seen.add(x.shot);
    const b = x.box;
    if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => Number.isFinite(v))) return null;
    if (!(b[0] >= -rx && b[1] >= -ry && b[0] < b[2] && b[1] < b[3] && b[2] <= width + rx
          && b[3] <= height + ry)) return null;
    const d = x.description;
    if (d !== undefined && d !== null && typeof d !== "string") return null;
    const shot = { shot: x.shot, box: b.slice() };
    if (typeof d === "string") shot.description = d;
    shots.push(shot);
  }
  const out = { width, height, shots };
  if (s.fallback === true) out.fallback = true;
  if (beyond) out.beyond_photo = beyond;
  return out;
}

/** Validated compact state {v: 1, sets, images} from shot sets and preview image references, or
 * null when the sets are not a non-empty array of valid shot sets (rejected whole). */
function compactState(rawSets, rawImages) {
  if (!Array.isArray(rawSets) || !rawSets.length) return null;
  const sets = [];
  for (const s of rawSets) {
    const c = compactSet(s);
    if (!c) return null;
    sets.push(c);
  }
  const images = (Array.isArray(rawImages) ? rawImages : [])
    .filter((im) => isObject(im) && typeof im.filename === "string" && im.filename)
    .map((im) => ({ filename: im.filename, subfolder: String(im.subfolder ?? ""),
                    type: String(im.type ?? "temp") }));
  return { v: 1, sets, images };
}

class ShotEditor {
  constructor(node) {
    this.node = node;
    this.sets = []; // parsed shots JSON (one object per image)
    this.images = []; // preview images, one per image index
    this.index = 0;
    this.drag = null;
    this.drawn = false;
    this.revision = 0; // bumps on every overrides write (tests wait on it)
    this.source = "none"; // where the shown sets came from: none | executed | saved
    this.cachedWithoutShots = false; // a cached run came and we have nothing to show
    this.lastPayload = null; // JSON of the last state shown (the same one twice is a no-op)
    this.imageRefs = []; // the preview images' {filename, subfolder, type}
    this.tooBigToKeep = false; // the last shot sets were over PROP_MAX_BYTES: not saved
    this.imageMissing = false;

    this.root = el("div", "shotcrop-editor");
    this.root.dataset.shotcropNode = String(node.id);
    Object.assign(this.root.style, {
      display: "flex", flexDirection: "column", gap: "4px", width: "100%", height: "100%",
      boxSizing: "border-box", font: "12px sans-serif", color: "#ddd", pointerEvents: "auto",
    });
    const bar = el("div", "shotcrop-bar");
    Object.assign(bar.style, { display: "flex", gap: "6px", alignItems: "center" });
    this.picker = el("select", "shotcrop-image");
    this.picker.style.display = "none";
    this.picker.addEventListener("change", () => {
      this.index = Number(this.picker.value) || 0;
      this.render();
    });
    this.status = el("span", "shotcrop-status", HINT_EMPTY);
    bar.append(this.picker, this.status);
    this.canvas = el("canvas", "shotcrop-overlay");
    Object.assign(this.canvas.style, {
      flex: "1 1 auto", minHeight: "120px", width: "100%", touchAction: "none", cursor: "crosshair",
    });
    this.notes = el("div", "shotcrop-descriptions");
    Object.assign(this.notes.style, { overflowY: "auto", maxHeight: "96px", lineHeight: "1.3" });
    this.root.append(bar, this.canvas, this.notes);

    this.canvas.addEventListener("pointerdown", (e) => this.onDown(e));
    this.canvas.addEventListener("pointermove", (e) => this.onMove(e));
    this.canvas.addEventListener("pointerup", (e) => this.onUp(e));
    this.canvas.addEventListener("pointercancel", (e) => this.onUp(e, true));
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(() => this.render()).observe(this.canvas);
    }
  }

  // -- data ---------------------------------------------------------------------------------
  /** Show a live UI payload ({shotcrop_shots: [json], images: [...]}) from an execution, and
   * keep its compact form in node.properties. An invalid payload is rejected whole. */
  setOutput(output) {
    const text = output?.shotcrop_shots?.[0];
    if (typeof text !== "string") return false;
    let raw;
    try {
      raw = JSON.parse(text);
    } catch {
      return false;
    }
    const state = compactState(raw, output?.images);
    if (!state) {
      console.warn("ShotCrop: ignored a shot payload that is not a valid list of shot sets");
      return false;
    }
    return this.show(state, "executed");
  }

  /** Show a compact state ({v, sets, images}); `from` is "executed" or "saved". Only executed
   * states are stored (a saved one is already in the properties). */
  show(state, from) {
    const payload = JSON.stringify(state);
    const same = payload === this.lastPayload;
    this.lastPayload = payload;
    this.source = from;
    this.cachedWithoutShots = false;
    if (from === "executed") this.persist(state, payload);
    if (same) {
      this.render();
      return true;
    }
    this.sets = state.sets;
    this.imageRefs = state.images;
    this.index = Math.min(this.index, Math.max(0, this.sets.length - 1));
    this.imageMissing = false;
    this.images = state.images.map((im) => {
      const img = new Image();
      img.onload = () => this.render();
      img.onerror = () => {
        this.imageMissing = true; // e.g. ComfyUI restarted and emptied its temp folder
        this.render();
      };
      img.src = api.apiURL(`/view?${new URLSearchParams(im)}`);
      return img;
    });
    this.picker.replaceChildren(...this.sets.map((_, i) => {
      const o = el("option", null, `image ${i}`);
      o.value = String(i);
      return o;
    }));
    this.picker.value = String(this.index);
    this.picker.style.display = this.sets.length > 1 ? "" : "none";
    this.render();
    return true;
  }

  /** Keep the compact state in node.properties (saved with the workflow, restored by
   * onConfigure) when it fits PROP_MAX_BYTES; above that, keep nothing and say so. */
  persist(state, payload) {
    const props = this.node.properties ?? (this.node.properties = {});
    const current = props[PROP];
    const fits = utf8Length(payload) <= PROP_MAX_BYTES;
    this.tooBigToKeep = !fits;
    if (fits ? isObject(current) && JSON.stringify(current) === payload : current === undefined) {
      return;
    }
    graphChanged(this.node, () => this.writeProp(payload));
  }

  /** Store the compact state (JSON text) in node.properties, or nothing when it is over
   * PROP_MAX_BYTES; sets tooBigToKeep. Recording the change is the caller's business. */
  writeProp(payload) {
    const props = this.node.properties ?? (this.node.properties = {});
    this.tooBigToKeep = utf8Length(payload) > PROP_MAX_BYTES;
    if (this.tooBigToKeep) delete props[PROP];
    else props[PROP] = JSON.parse(payload); // a copy: the editor's state stays its own
  }

  /** Restore what persist() stored (called when the node is configured from a workflow). A
   * workflow saved by the previous version holds the raw payload as JSON text: it is read and
   * replaced by the compact form. Anything invalid is ignored (the next run replaces it). */
  restore() {
    const props = this.node.properties;
    const saved = props?.[PROP];
    let state = null;
    if (typeof saved === "string" && saved) { // previous format
      try {
        const old = JSON.parse(saved);
        const text = old?.shotcrop_shots?.[0];
        if (typeof text === "string") state = compactState(JSON.parse(text), old.images);
      } catch {
        state = null;
      }
      if (state) this.writeProp(JSON.stringify(state));
    } else if (isObject(saved)) {
      state = compactState(saved.sets, saved.images);
    }
    if (!state) return false;
    return this.show(state, "saved");
  }

  /** A run in which ComfyUI answered this node from its cache (no UI output comes). */
  onCached() {
    if (!this.set) this.cachedWithoutShots = true;
    this.render();
  }

  get set() {
    return this.sets[this.index];
  }

  /** The boxes shown: Compose's, with the Edit Shots overrides for this image on top. */
  boxes() {
    const s = this.set;
    if (!s) return {};
    const out = {};
    for (const shot of s.shots ?? []) out[shot.shot] = shot.box.slice();
    const edit = editNodes(this.node)[0];
    const o = edit && readOverrides(edit);
    const mine = o?.[String(this.index)];
    if (mine && typeof mine === "object") {
      for (const name of SHOTS) {
        const key = name in mine ? name : name === "close_up" && "close-up" in mine ? "close-up"
          : null;
        const b = key && mine[key];
        if (Array.isArray(b) && b.length === 4 && b.every(Number.isFinite)) out[name] = b.slice();
      }
    }
    if (this.drag) out[this.drag.shot] = this.drag.box.slice();
    return out;
  }

  /** Where boxes may go (source px): the photo, and with Compose's beyond_photo as far past
   *  each side as the set allows (the padding an outpainting model fills). */
  limits() {
    const s = this.set;
    const b = Number.isFinite(s?.beyond_photo) ? Math.max(0, Math.min(1, s.beyond_photo)) : 0;
    const rx = Math.floor(b * s.width), ry = Math.floor(b * s.height);
    return { x0: -rx, y0: -ry, x1: s.width + rx, y1: s.height + ry };
  }

  /** Where the image sits on the canvas (CSS px): its reachable area fitted, centred. */
  frame() {
    const s = this.set;
    const cw = this.canvas.clientWidth, ch = this.canvas.clientHeight;
    if (!s || !cw || !ch) return null;
    const L = this.limits();
    const k = Math.min(cw / (L.x1 - L.x0), ch / (L.y1 - L.y0));
    return { k, ox: (cw - (L.x1 - L.x0) * k) / 2 - L.x0 * k, oy: (ch - (L.y1 - L.y0) * k) / 2 - L.y0 * k };
  }

  toSource(e) {
    const f = this.frame();
    const r = this.canvas.getBoundingClientRect();
    // The node may be zoomed: client px -> canvas CSS px first.
    const sx = this.canvas.clientWidth / (r.width || 1), sy = this.canvas.clientHeight / (r.height || 1);
    const x = (e.clientX - r.left) * sx, y = (e.clientY - r.top) * sy;
    return { x: (x - f.ox) / f.k, y: (y - f.oy) / f.k, tol: GRAB * sx / f.k };
  }

  /** A shot's box in client (page) coordinates: for tests driving the mouse. */
  clientRect(shot) {
    const f = this.frame();
    const b = this.boxes()[shot];
    if (!f || !b) return null;
    const r = this.canvas.getBoundingClientRect();
    const sx = r.width / this.canvas.clientWidth, sy = r.height / this.canvas.clientHeight;
    return { x0: r.left + (f.ox + b[0] * f.k) * sx, y0: r.top + (f.oy + b[1] * f.k) * sy,
             x1: r.left + (f.ox + b[2] * f.k) * sx, y1: r.top + (f.oy + b[3] * f.k) * sy };
  }

  // -- drawing ------------------------------------------------------------------------------
  render() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr)), h = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
    }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, c.clientWidth, c.clientHeight);
    this.root.dataset.shotcropNode = String(this.node.id);
    this.renderNotes();
    const f = this.frame();
    const s = this.set;
    if (!f || !s) {
      this.drawn = false;
      this.root.dataset.drawn = "0";
      return;
    }
    const L = this.limits();
    if (L.x0 < 0 || L.y0 < 0) {  // past the photo: padding, shown in grey
      g.fillStyle = "#4a4a4a";
      g.fillRect(f.ox + L.x0 * f.k, f.oy + L.y0 * f.k, (L.x1 - L.x0) * f.k, (L.y1 - L.y0) * f.k);
    }
    const img = this.images[this.index] ?? this.images[0];
    if (img?.complete && img.naturalWidth) {
      // Where Compose's shots reach past the photo its preview grew by as much on each side;
      // in a batch of different sizes ("largest") it was scaled to fit and centred.
      const pl = Math.max(0, ...s.shots.map((x) => -x.box[0]));
      const pt = Math.max(0, ...s.shots.map((x) => -x.box[1]));
      const pr = Math.max(0, ...s.shots.map((x) => x.box[2] - s.width));
      const pb = Math.max(0, ...s.shots.map((x) => x.box[3] - s.height));
      const pw = s.width + pl + pr, ph = s.height + pt + pb;
      const nw = img.naturalWidth, nh = img.naturalHeight;
      const sk = nw === pw && nh === ph ? 1 : Math.min(nw / pw, nh / ph);
      g.drawImage(img, (nw - pw * sk) / 2 * (sk !== 1), (nh - ph * sk) / 2 * (sk !== 1), pw * sk, ph * sk,
                  f.ox - pl * f.k, f.oy - pt * f.k, pw * f.k, ph * f.k);
    } else {
      g.fillStyle = "#222";
      g.fillRect(f.ox, f.oy, s.width * f.k, s.height * f.k);
    }
    const boxes = this.boxes();
    g.font = "bold 11px sans-serif";
    g.textBaseline = "top";
    for (const name of SHOTS) {
      const b = boxes[name];
      if (!b) continue;
      const x0 = f.ox + b[0] * f.k, y0 = f.oy + b[1] * f.k;
      const bw = (b[2] - b[0]) * f.k, bh = (b[3] - b[1]) * f.k;
      g.lineWidth = 4;
      g.strokeStyle = "rgba(0,0,0,0.45)";
      g.strokeRect(x0, y0, bw, bh);
      g.lineWidth = 2;
      g.strokeStyle = COLORS[name];
      g.strokeRect(x0, y0, bw, bh);
      g.fillStyle = COLORS[name];
      for (const [hx, hy] of [[x0, y0], [x0 + bw, y0], [x0, y0 + bh], [x0 + bw, y0 + bh]]) {
        g.fillRect(hx - 3, hy - 3, 6, 6);
      }
      const label = LABELS[name];
      const tw = g.measureText(label).width + 6;
      g.fillRect(x0 + 2, y0 + 2, tw, 14);
      g.fillStyle = name === "medium" ? "#000" : "#fff";
      g.fillText(label, x0 + 5, y0 + 3);
    }
    this.drawn = true;
    this.root.dataset.drawn = "1";
  }

  renderNotes() {
    const s = this.set;
    const rows = [];
    for (const shot of s?.shots ?? []) {
      const row = el("div", "shotcrop-description");
      row.dataset.shot = shot.shot;
      const tag = el("b", null, `${LABELS[shot.shot] ?? shot.shot}: `);
      tag.style.color = COLORS[shot.shot] ?? "#ddd";
      row.append(tag, document.createTextNode(String(shot.description ?? "")));
      rows.push(row);
    }
    if (s?.fallback) rows.push(el("div", "shotcrop-warning", "fallback framing: no person found"));
    this.notes.replaceChildren(...rows);
    const edits = editNodes(this.node);
    this.status.textContent = !s ? (this.cachedWithoutShots ? HINT_CACHED : HINT_EMPTY)
      : (edits.length ? "Drag a box or its edges; the next run uses the edit."
        : "Connect shots to an Edit Shots node to edit the boxes.")
        + (this.imageMissing ? " (Preview image gone from the server: run again to see it.)"
          : "")
        + (this.tooBigToKeep ? " (Too many shots to save with the workflow: they will not "
          + "survive a reload.)" : "");
  }

  // -- mouse --------------------------------------------------------------------------------
  hit(p) {
    const boxes = this.boxes();
    for (const name of [...SHOTS].reverse()) { // the smallest shot wins
      const b = boxes[name];
      if (!b) continue;
      const inY = p.y >= b[1] - p.tol && p.y <= b[3] + p.tol;
      const inX = p.x >= b[0] - p.tol && p.x <= b[2] + p.tol;
      const edges = {
        l: inY && Math.abs(p.x - b[0]) <= p.tol, r: inY && Math.abs(p.x - b[2]) <= p.tol,
        t: inX && Math.abs(p.y - b[1]) <= p.tol, b: inX && Math.abs(p.y - b[3]) <= p.tol,
      };
      if (edges.l || edges.r || edges.t || edges.b) return { shot: name, edges, box: b };
    }
    for (const name of [...SHOTS].reverse()) {
      const b = boxes[name];
      if (b && p.x > b[0] && p.x < b[2] && p.y > b[1] && p.y < b[3]) {
        return { shot: name, edges: null, box: b };
      }
    }
    return null;
  }

  onDown(e) {
    if (e.button !== 0 || !this.frame() || !editNodes(this.node).length) return;
    const p = this.toSource(e);
    const h = this.hit(p);
    if (!h) return;
    e.preventDefault();
    e.stopPropagation();
    this.canvas.setPointerCapture?.(e.pointerId);
    this.drag = { ...h, start: p, from: h.box.slice(), box: h.box.slice() };
  }

  onMove(e) {
    if (!this.drag) {
      if (this.frame() && this.set) {
        const h = this.hit(this.toSource(e));
        const ed = h?.edges;
        this.canvas.style.cursor = !h ? "crosshair" : !ed ? "move"
          : (ed.l && ed.t) || (ed.r && ed.b) ? "nwse-resize"
          : (ed.r && ed.t) || (ed.l && ed.b) ? "nesw-resize"
          : ed.l || ed.r ? "ew-resize" : "ns-resize";
      }
      return;
    }
    e.preventDefault();
    e.stopPropagation();
    const p = this.toSource(e);
    const d = this.drag, s = this.set;
    const dx = p.x - d.start.x, dy = p.y - d.start.y;
    let [x0, y0, x1, y1] = d.from;
    const L = this.limits();
    if (!d.edges) {
      const mx = Math.max(L.x0 - x0, Math.min(L.x1 - x1, dx)), my = Math.max(L.y0 - y0, Math.min(L.y1 - y1, dy));
      x0 += mx; x1 += mx; y0 += my; y1 += my;
    } else {
      if (d.edges.l) x0 = Math.max(L.x0, Math.min(x1 - MIN_SIDE, x0 + dx));
      if (d.edges.r) x1 = Math.min(L.x1, Math.max(x0 + MIN_SIDE, x1 + dx));
      if (d.edges.t) y0 = Math.max(L.y0, Math.min(y1 - MIN_SIDE, y0 + dy));
      if (d.edges.b) y1 = Math.min(L.y1, Math.max(y0 + MIN_SIDE, y1 + dy));
    }
    d.box = [x0, y0, x1, y1].map(Math.round);
    this.render();
  }

  onUp(e, cancelled = false) {
    const d = this.drag;
    if (!d) return;
    this.drag = null;
    this.canvas.releasePointerCapture?.(e.pointerId);
    e.stopPropagation();
    if (!cancelled && d.box.some((v, i) => v !== d.from[i])) this.writeOverride(d.shot, d.box);
    this.render();
  }

  /** Store one edited box (source px ints) in every connected Edit Shots node's overrides. */
  writeOverride(shot, box) {
    for (const edit of editNodes(this.node)) {
      const w = overridesWidget(edit);
      const data = readOverrides(edit);
      if (!w || data === null) {
        this.status.textContent = "Edit Shots' overrides is not valid JSON: fix or clear it first.";
        continue;
      }
      const key = String(this.index);
      const mine = data[key] && typeof data[key] === "object" ? data[key] : {};
      if (shot === "close_up") delete mine["close-up"];
      mine[shot] = box.map((v) => Math.round(v));
      data[key] = mine;
      const value = JSON.stringify(data);
      graphChanged(edit, () => {
        w.value = value;
        w.callback?.(value, app.canvas, edit);
      });
      this.revision += 1;
      this.root.dataset.revision = String(this.revision);
    }
  }
}

/** Root-graph Compose node an execution message names (execution ids of nodes inside
 * subgraphs hold a ":"; their editors still show their saved sets, only the hint is skipped). */
function composeByExecutionId(id) {
  if (id === undefined || id === null || String(id).includes(":")) return null;
  const node = app.graph?.getNodeById?.(Number(id)) ?? app.graph?.getNodeById?.(id);
  return node?.shotcropEditor ? node : null;
}

function onApiEvent(type, handler) {
  if (typeof api?.addEventListener !== "function") return;
  api.addEventListener(type, (e) => {
    try {
      handler(e?.detail);
    } catch (err) {
      console.warn(`ShotCrop: ${type} handler:`, err);
    }
  });
}

app.registerExtension({
  name: "ShotCrop.Core",
  setup() {
    // A cache hit sends no "executed" for the node (unless the ComfyUI re-sends cached UI
    // output): the saved shot sets stay in the editor; with none saved, say how to get them.
    onApiEvent("execution_cached", (d) => {
      for (const id of d?.nodes ?? []) composeByExecutionId(id)?.shotcropEditor.onCached();
    });
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.name !== COMPOSE) return;
    const created = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = created?.apply(this, arguments);
      const editor = new ShotEditor(this);
      this.shotcropEditor = editor;
      const widget = this.addDOMWidget("shotcrop_editor", "shotcrop_editor", editor.root, {
        serialize: false,
        hideOnZoom: false,
        getValue: () => "",
        setValue: () => {},
        getMinHeight: () => 300,
      });
      if (widget) widget.serialize = false;
      this.setSize?.([Math.max(this.size[0], 340), Math.max(this.size[1], 520)]);
      return r;
    };
    // Loading a workflow (page reload, reopening it, undo, switching tabs) configures the node
    // from its saved state: show the shot sets it last received.
    const configure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function () {
      const r = configure?.apply(this, arguments);
      try {
        this.shotcropEditor?.restore();
      } catch (err) { // never break loading a workflow
        console.warn("ShotCrop: could not restore the saved shot sets:", err);
      }
      return r;
    };
    const executed = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (output) {
      const r = executed?.apply(this, arguments);
      try {
        if (output?.shotcrop_shots) this.shotcropEditor?.setOutput(output);
      } catch (err) {
        console.warn("ShotCrop: could not show the shot sets:", err);
      }
      return r;
    };
  },
});
