// Drives the ComfyUI frontend in headless Chromium for tests/test_browser.py.
//
//   node drive.mjs   (all settings in the environment)
//   SHOTCROP_URL        the ComfyUI server, e.g. http://127.0.0.1:8188
//   SHOTCROP_PROMPT     path of the API-format workflow to load and queue
//   SHOTCROP_OUT        folder for screenshots and result.json
//   SHOTCROP_PW_DIR     folder whose node_modules holds playwright-core
//   SHOTCROP_CHROMIUM   the browser (default /usr/bin/chromium)
//   SHOTCROP_TIMEOUT    ms for each wait (default 240000)
//   SHOTCROP_VUE_NODES  "1": the frontend's Vue node rendering (Comfy.VueNodes.Enabled) on;
//                       "0" (default): off, the LiteGraph canvas draws the nodes
//
// Steps (one page, four runs):
//   0. load workflows whose Compose node carries a corrupt saved state (and one in the previous
//      version's string format): no error, the editor's empty state (the old format converted);
//   1. load + queue the workflow from the page; wait for the Compose node's overlay; the saved
//      state in the workflow is a compact object;
//   2. resize the close-up box by its bottom-right corner: Edit Shots' overrides change (widget
//      value and the text shown on the page);
//   3. queue again: the crop uses the edited box;
//   4. feed the editor descriptions holding HTML through onExecuted: they stay text;
//   5. reload the page: the editor shows the saved shot sets at once;
//   6. queue with nothing changed: ComfyUI answers Compose from its cache (no UI output for it)
//      and the editor still shows the shot sets;
//   7. move the close-up box (drag its inside): the overrides change again;
//   8. queue again: the crop uses the moved box.
// Writes result.json (also printed on stdout); any failure exits non-zero with the reason on
// stderr, screenshots in SHOTCROP_OUT.
import { createRequire } from "node:module";
import { writeFileSync, readFileSync } from "node:fs";
import path from "node:path";

const env = process.env;
const URL = env.SHOTCROP_URL;
const OUT = env.SHOTCROP_OUT;
const TIMEOUT = Number(env.SHOTCROP_TIMEOUT || 240000);
const VUE = (env.SHOTCROP_VUE_NODES || "0").trim() === "1";
const require = createRequire(path.join(path.resolve(env.SHOTCROP_PW_DIR || "."), "noop.js"));
const { chromium } = require("playwright-core");
const prompt = JSON.parse(readFileSync(env.SHOTCROP_PROMPT, "utf8"));
const composeId = Object.keys(prompt).find((k) => prompt[k].class_type === "ShotCropTripleShotCompose");
const editId = Object.keys(prompt).find((k) => prompt[k].class_type === "ShotCropEditShots");
const XSS = '<img src=x onerror=alert(1)>';
const XSS_BOLD = "<b>bold</b> & <script>window.__pwned = 1</script>";
const t0 = Date.now();

const result = { vue_nodes: VUE, dialogs: [], console_errors: [], shotcrop_warnings: [],
                 steps: [] };
const step = (name) => result.steps.push([name, Date.now() - t0]);

// Settings go through ComfyUI's settings API before the page loads.
async function setSetting(key, value) {
  const r = await fetch(`${URL}/settings/${encodeURIComponent(key)}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(value),
  });
  if (!r.ok) throw new Error(`POST /settings/${key} -> ${r.status}`);
}

// Functions evaluated in the page.
const PAGE = {
  // The Compose editor's state, and what is really on screen.
  editorState: ([cid, eid]) => {
    const ed = window.ShotCrop.editor(cid);
    if (!ed) return null;
    const edit = window.app.graph.getNodeById(Number(eid));
    const rect = ed.set ? ed.clientRect("close_up") : null;
    let on_top = false;
    if (rect) { // the overlay is what the user sees there (not hidden, not covered)
      const hit = document.elementFromPoint((rect.x0 + rect.x1) / 2, (rect.y0 + rect.y1) / 2);
      on_top = hit === ed.canvas;
    }
    const w = edit?.widgets?.find((x) => x.name === "overrides");
    // The overrides text as shown: every visible textarea belonging to the Edit Shots node.
    const areas = new Set([w?.inputEl, w?.element,
      ...document.querySelectorAll(`[data-node-id="${eid}"] textarea`)]);
    const shown = [...areas].filter((a) => a instanceof HTMLTextAreaElement && a.isConnected
      && a.getClientRects().length && getComputedStyle(a).visibility !== "hidden"
      && a.getBoundingClientRect().width > 0).map((a) => a.value);
    const node = window.app.graph.getNodeById(Number(cid));
    return {
      sets: ed.sets, source: ed.source, drawn: ed.root.dataset.drawn ?? "0",
      status: ed.status.textContent, revision: ed.revision, boxes: ed.boxes(), rect, on_top,
      overrides: w?.value ?? null, overrides_shown: shown,
      image_loaded: !!ed.images[ed.index]?.naturalWidth,
      descriptions: [...ed.notes.querySelectorAll(".shotcrop-description")].map((e) => e.textContent),
    };
  },
  // The Compose node's saved state as the workflow would store it (graph.serialize()).
  savedProperty: (cid) => {
    const n = window.app.graph.serialize().nodes.find((x) => String(x.id) === String(cid));
    const p = n?.properties?.shotcrop_last_output;
    const text = p === undefined ? "" : JSON.stringify(p);
    return {
      type: p === null ? "null" : Array.isArray(p) ? "array" : typeof p,
      bytes: new TextEncoder().encode(text).length,
      boxes: p && typeof p === "object"
        ? (p.sets ?? []).map((s) => (s.shots ?? []).map((x) => [x.shot, x.box])) : null,
      keys: p && typeof p === "object" ? (p.sets ?? []).map((s) => Object.keys(s).sort()) : null,
      shot_keys: p && typeof p === "object"
        ? [...new Set((p.sets ?? []).flatMap((s) => (s.shots ?? []).flatMap(Object.keys)))].sort()
        : null,
    };
  },
  // Load `graph` with the Compose node's saved property set to `prop` (undefined: removed),
  // and report the editor.
  loadWithSaved: async ([graph, cid, prop]) => {
    const app = window.app;
    const g = JSON.parse(JSON.stringify(graph));
    const n = g.nodes.find((x) => String(x.id) === String(cid));
    n.properties = { ...(n.properties ?? {}) };
    if (prop === undefined) delete n.properties.shotcrop_last_output;
    else n.properties.shotcrop_last_output = prop;
    await app.loadGraphData(g, true, true, "shotcrop_browser_test.json");
    await new Promise((r) => setTimeout(r, 50));
    const ed = window.ShotCrop.editor(cid);
    return { editor: !!ed, sets: ed?.sets.length ?? null, source: ed?.source ?? null,
             status: ed?.status.textContent ?? null, drawn: ed?.root.dataset.drawn ?? "0",
             saved_type: typeof app.graph.getNodeById(Number(cid))
               ?.properties?.shotcrop_last_output };
  },
  ready: (cid) => {
    const ed = window.ShotCrop?.editor(cid);
    if (!ed || !ed.drawn) {
      ed?.render();
      return false;
    }
    const img = ed.images[ed.index];
    if (img && img.complete && img.naturalWidth) return true;
    ed.render();
    return false;
  },
  // Compose big at the top-left of the view at zoom 1, Edit Shots to its right, the rest
  // further right (clear of the side bar and top menu of newer frontends; Vue nodes are wider).
  layout: ([cid, eid]) => {
    const app = window.app;
    const compose = app.graph.getNodeById(Number(cid));
    const edit = app.graph.getNodeById(Number(eid));
    compose.pos = [110, 110];
    compose.setSize([520, 780]);
    edit.pos = [720, 110];
    edit.setSize([440, 260]);
    let y = 110;
    for (const n of app.graph.nodes) {
      if (n === compose || n === edit) continue;
      n.pos = [1700, y];
      y += 600;
    }
    const ds = app.canvas.ds;
    ds.scale = 1;
    ds.offset = [0, 0];
    app.graph.setDirtyCanvas(true, true);
  },
};

const browser = await chromium.launch({
  executablePath: env.SHOTCROP_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  timeout: 60000,
});
const killer = setTimeout(() => {
  console.error("drive.mjs: overall time limit reached");
  browser.close().finally(() => process.exit(3));
}, TIMEOUT * 3);
try {
  // A fresh user gets the template browser over the canvas on first load: mark it seen.
  await setSetting("Comfy.TutorialCompleted", true);
  await setSetting("Comfy.VueNodes.Enabled", VUE);

  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.setDefaultTimeout(TIMEOUT);
  page.on("dialog", async (d) => {
    // "Leave the page?" on the reload: the workflow has unsaved edits, which the frontend keeps.
    if (d.type() === "beforeunload") return d.accept();
    result.dialogs.push(d.message());
    await d.dismiss();
  });
  page.on("console", (m) => {
    if (m.type() === "error") result.console_errors.push(`${m.text()} @ ${m.location()?.url ?? ""}`);
    if (m.type() === "warning" && m.text().startsWith("ShotCrop:")) result.shotcrop_warnings.push(m.text());
  });
  page.on("pageerror", (e) => result.console_errors.push(String(e?.stack || e)));
  // Server messages as the page receives them: which runs ended, what was cached / executed.
  const ws = [];
  page.on("websocket", (sock) => sock.on("framereceived", (f) => {
    if (typeof f.payload !== "string") return;
    try {
      const m = JSON.parse(f.payload);
      if (["executed", "execution_cached", "execution_success", "execution_error",
           "execution_interrupted"].includes(m.type)) ws.push(m);
    } catch { /* not JSON */ }
  }));
  const ends = () => ws.filter((m) => m.type !== "executed" && m.type !== "execution_cached"
    && m.data?.prompt_id).length;
  // Queue from the page and wait for that run's end (success or error) on the websocket.
  async function queueAndWait() {
    const n = ends(), from = ws.length;
    await page.evaluate(() => window.app.queuePrompt(0, 1));
    const deadline = Date.now() + TIMEOUT;
    while (ends() <= n) {
      if (Date.now() > deadline) throw new Error("run did not finish in time");
      await new Promise((r) => setTimeout(r, 100));
    }
    const msgs = ws.slice(from);
    return {
      end: msgs.filter((m) => m.type.startsWith("execution_") && m.type !== "execution_cached")
        .map((m) => m.type),
      cached: msgs.filter((m) => m.type === "execution_cached").flatMap((m) => m.data.nodes ?? []),
      executed: msgs.filter((m) => m.type === "executed").map((m) => String(m.data.node)),
    };
  }
  // Drag with the mouse in small steps.
  async function drag([x, y], [dx, dy]) {
    await page.mouse.move(x, y);
    await page.mouse.down();
    for (let i = 1; i <= 8; i++) await page.mouse.move(x + (dx * i) / 8, y + (dy * i) / 8);
    await page.mouse.up();
    await page.waitForTimeout(100);
  }
  const state = async () => {
    const st = await page.evaluate(PAGE.editorState, [composeId, editId]);
    if (st) st.saved = await page.evaluate(PAGE.savedProperty, composeId);
    return st;
  };
  const shot = (name) => page.screenshot({ path: path.join(OUT, `${name}.png`) });

  await page.goto(URL, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => window.app?.graph && window.ShotCrop?.editor);
  result.vue_setting = await page.evaluate(() =>
    window.app.extensionManager?.setting?.get?.("Comfy.VueNodes.Enabled") ?? null);
  result.frontend_version = await page.evaluate(() => window.__COMFYUI_FRONTEND_VERSION__ ?? null);
  step("page loaded");

  // 1. Load the API workflow, lay it out so the Compose node is big and on screen, and queue it.
  await page.evaluate(async ([p]) => {
    await window.app.loadApiJson(p, "shotcrop_browser_test.json");
  }, [prompt]);
  await page.waitForFunction((cid) => !!window.ShotCrop.editor(cid), composeId);

  // 0. Corrupt saved states never throw: the editor shows its empty state.
  const base = await page.evaluate(() => window.app.graph.serialize());
  const good = { width: 640, height: 422,
                 shots: [{ shot: "medium", box: [10, 10, 200, 300], description: "d" }] };
  const corrupt = {
    missing_box: [{ width: 640, height: 422, shots: [{ shot: "medium" }] }],
    nan_box: { v: 1, sets: [{ ...good, shots: [{ shot: "medium", box: [0, NaN, 9, 9] }] }] },
    string_width: { v: 1, sets: [{ ...good, width: "640" }] },
    unknown_shot: { v: 1, sets: [{ ...good, shots: [{ shot: "wide", box: [0, 0, 9, 9] }] }] },
    box_outside: { v: 1, sets: [{ ...good, shots: [{ shot: "medium", box: [0, 0, 641, 9] }] }] },
    inverted_box: { v: 1, sets: [{ ...good, shots: [{ shot: "medium", box: [9, 0, 1, 9] }] }] },
    description_number: { v: 1, sets: [{ ...good, shots: [{ ...good.shots[0], description: 5 }] }] },
    sets_not_array: { v: 1, sets: { 0: good } },
    shots_not_array: { v: 1, sets: [{ ...good, shots: "medium" }] },
    number: 42,
    old_format_missing_box: JSON.stringify({ shotcrop_shots: [JSON.stringify(
      [{ width: 640, height: 422, shots: [{ shot: "medium" }] }])], images: [] }),
    old_format_not_json: "{not json",
  };
  const errorsBefore = result.console_errors.length;
  result.corrupt = {};
  for (const [name, prop] of Object.entries(corrupt)) {
    result.corrupt[name] = await page.evaluate(PAGE.loadWithSaved, [base, composeId, prop]);
  }
  // The previous version's format (raw payload as JSON text) is read and converted.
  result.old_format = await page.evaluate(PAGE.loadWithSaved, [base, composeId, JSON.stringify({
    shotcrop_shots: [JSON.stringify([{ ...good, aspect: "4:5", warnings: [],
                                       subject: { box: [0, 0, 5, 5] } }])], images: [] })]);
  result.old_format.saved = await page.evaluate(PAGE.savedProperty, composeId);
  result.corrupt_console_errors = result.console_errors.slice(errorsBefore);
  // Over the 64 KB cap (a live payload): nothing is saved, and the editor says so.
  await page.evaluate(PAGE.loadWithSaved, [base, composeId, undefined]);
  result.too_big = await page.evaluate(([cid, set]) => {
    const node = window.app.graph.getNodeById(Number(cid));
    node.properties.shotcrop_last_output = { v: 1, sets: [set], images: [] }; // to be dropped
    const big = { ...set, shots: [{ ...set.shots[0], description: "x".repeat(70000) }] };
    node.onExecuted({ images: [], shotcrop_shots: [JSON.stringify([big])] });
    const ed = window.ShotCrop.editor(cid);
    return { sets: ed.sets.length, status: ed.status.textContent,
             saved: "shotcrop_last_output" in node.properties };
  }, [composeId, good]);
  await page.evaluate(PAGE.loadWithSaved, [base, composeId, undefined]);
  step("corrupt saved states");

  await page.evaluate(PAGE.layout, [composeId, editId]);
  // Load the laid-out graph again: some frontends' Vue nodes only take positions and sizes
  // from a loaded graph, not from later node.pos / setSize calls.
  await page.evaluate(async () => {
    const app = window.app;
    await app.loadGraphData(app.graph.serialize(), true, true, "shotcrop_browser_test.json");
  });
  await page.waitForFunction((cid) => !!window.ShotCrop.editor(cid), composeId);
  await page.evaluate(PAGE.layout, [composeId, editId]);
  await page.waitForTimeout(300); // Vue nodes: let the layout reach the DOM
  // Vue nodes render each node as an element carrying data-node-id; the canvas renders none.
  result.vue_dom_nodes = await page.evaluate((cid) =>
    !!document.querySelector(`[data-node-id="${cid}"]:not(.shotcrop-editor)`), composeId);
  result.run1 = await queueAndWait();
  // The run has ended: the overlay comes within seconds, or something is wrong (say what).
  await page.waitForFunction(PAGE.ready, composeId, { polling: 250, timeout: 30000 })
    .catch(async (e) => {
      await shot("not_ready");
      const why = await page.evaluate((cid) => {
        const ed = window.ShotCrop.editor(cid);
        return { editor_in_page: !!ed?.root.isConnected, sets: ed?.sets.length,
                 canvas_px: ed && [ed.canvas.clientWidth, ed.canvas.clientHeight],
                 status: ed?.status.textContent };
      }, composeId);
      throw new Error(`no overlay after the first run (${JSON.stringify(why)}; frontend `
        + `${result.frontend_version}, run ${JSON.stringify(result.run1)}): ${e.message}`);
    });
  await page.waitForTimeout(500); // let the DOM widget settle at its final place
  await page.evaluate((cid) => window.ShotCrop.editor(cid).render(), composeId);
  const before = await state();
  // The colour on the canvas along each box's top edge (nearest to the shot colour).
  before.edge_rgb = await page.evaluate((cid) => {
    const ed = window.ShotCrop.editor(cid);
    return Object.fromEntries(["establishing", "medium", "close_up"].map((name) => {
      const f = ed.frame(), b = ed.boxes()[name], dpr = window.devicePixelRatio || 1;
      const g = ed.canvas.getContext("2d");
      const x = Math.round((f.ox + ((b[0] + b[2]) / 2) * f.k) * dpr);
      const y = Math.round((f.oy + b[1] * f.k) * dpr);
      return [name, [-2, -1, 0, 1, 2].map((d) => [...g.getImageData(x, y + d, 1, 1).data.slice(0, 3)])];
    }));
  }, composeId);
  result.before = before;
  await shot("overlay");
  step("first run: overlay");

  // 2. Resize: drag the close-up box's bottom-right corner up and left.
  await page.keyboard.press("Escape"); // any dialog left over
  let r = before.rect;
  if (!r) throw new Error("no close-up box on the overlay");
  result.drag = { from: [r.x1 - 1, r.y1 - 1],
                  by: [-Math.round((r.x1 - r.x0) * 0.25), -Math.round((r.y1 - r.y0) * 0.2)] };
  await drag(result.drag.from, result.drag.by);
  result.after = await state();
  await shot("dragged");
  step("resized");

  // 3. Queue again from the page: the edit rides in the Edit Shots widget.
  result.run2 = await queueAndWait();
  result.after_rerun = await state();
  result.after_rerun.saved_widgets = await page.evaluate((eid) => window.app.graph.serialize()
    .nodes.find((n) => String(n.id) === String(eid))?.widgets_values ?? null, editId);
  step("second run");

  // 4. Model text is shown as text: feed the editor descriptions holding HTML (the preview
  // image stays the real one, so the rest of the session is unchanged).
  result.xss = await page.evaluate(([cid, xss, bold]) => {
    const ed = window.ShotCrop.editor(cid);
    const sets = JSON.parse(JSON.stringify(ed.sets));
    sets[0].shots[2].description = xss;
    sets[0].shots[0].description = bold;
    const node = window.app.graph.getNodeById(Number(cid));
    const images = ed.imageRefs;
    node.onExecuted({ images, shotcrop_shots: [JSON.stringify(sets)] });
    const row = ed.notes.querySelector('[data-shot="close_up"]');
    return {
      text: row ? row.textContent : null,
      imgs: ed.root.querySelectorAll("img").length,
      scripts: ed.root.querySelectorAll("script").length,
      bolds_in_text: ed.notes.querySelector('[data-shot="establishing"]').querySelectorAll("b").length,
      pwned: window.__pwned ?? null,
    };
  }, [composeId, XSS, XSS_BOLD]);
  await page.waitForTimeout(300); // an onerror handler, had one been created, would fire by now
  result.dialogs_after_xss = result.dialogs.slice();
  await shot("xss");
  step("html descriptions");

  // 5. Reload: the frontend restores the workflow it kept; the editor shows the saved sets.
  await page.reload({ waitUntil: "domcontentloaded" });
  await page.waitForFunction((cid) => window.app?.graph && window.ShotCrop?.editor(cid), composeId);
  await page.evaluate(PAGE.layout, [composeId, editId]);
  await page.waitForTimeout(300);
  // Bounded: an editor that lost its shot sets never gets ready (the state below says so).
  await page.waitForFunction(PAGE.ready, composeId, { polling: 250, timeout: 20000 })
    .catch(() => {});
  result.reloaded = await state();
  result.reloaded.xss = await page.evaluate((cid) => {
    const ed = window.ShotCrop.editor(cid);
    return { imgs: ed.root.querySelectorAll("img").length,
             scripts: ed.root.querySelectorAll("script").length,
             bolds_in_text: ed.notes.querySelector('[data-shot="establishing"]')
               ?.querySelectorAll("b").length ?? null,
             pwned: window.__pwned ?? null };
  }, composeId);
  await shot("reloaded");
  step("reloaded");

  // 6. Queue with nothing changed: Compose comes from ComfyUI's cache.
  result.run3 = await queueAndWait();
  await page.waitForTimeout(300);
  result.after_cached = await state();
  await shot("cached");
  step("cached run");

  // 7. Move: drag the inside of the close-up box right and down.
  r = result.after_cached.rect;
  if (!r) {
    throw new Error("after the reload and a cached run the editor shows no close-up box: "
      + JSON.stringify({ status: result.after_cached.status, sets: result.after_cached.sets }));
  }
  result.move = { from: [Math.round((r.x0 + r.x1) / 2), Math.round((r.y0 + r.y1) / 2)],
                  by: [Math.round((r.x1 - r.x0) * 0.3), Math.round((r.y1 - r.y0) * 0.2)] };
  await drag(result.move.from, result.move.by);
  result.after_move = await state();
  await shot("moved");
  step("moved");

  // 8. Queue: the crop uses the moved box.
  result.run4 = await queueAndWait();
  result.after_run4 = await state();
  step("fourth run");

  // 9. Shots past the photo: a 21:9 establishing shot that may reach past it; queue, then
  //    drag its left edge further left than the photo goes (the editor lets it, as far as the
  //    set allows), and queue once more.
  await page.evaluate(([cid]) => {
    const n = window.app.graph.getNodeById(Number(cid));
    for (const [name, v] of [["establishing_aspect", "21:9"], ["beyond_photo", "when needed"]]) {
      const w = n.widgets.find((x) => x.name === name);
      w.value = v;
      w.callback?.(v);
    }
    window.app.graph.setDirtyCanvas(true, true);
  }, [composeId]);
  result.run5 = await queueAndWait();
  await page.waitForFunction(PAGE.ready, composeId);
  result.beyond = await state();
  const er = await page.evaluate((cid) => window.ShotCrop.editor(cid).clientRect("establishing"),
                                 composeId);
  result.beyond_drag = { from: [Math.round(er.x0) + 1, Math.round((er.y0 + er.y1) / 2)], by: [-300, 0] };
  await drag(result.beyond_drag.from, result.beyond_drag.by);
  result.after_beyond_drag = await state();
  await shot("beyond");
  step("dragged past the photo");
  result.run6 = await queueAndWait();
  step("sixth run");
  result.dialogs_end = result.dialogs.slice();
  writeFileSync(path.join(OUT, "result.json"), JSON.stringify(result, null, 1));
  console.log(JSON.stringify(result));
} catch (e) {
  writeFileSync(path.join(OUT, "result.json"), JSON.stringify({ ...result, error: String(e) }, null, 1));
  console.error(String(e?.stack || e));
  process.exitCode = 1;
} finally {
  clearTimeout(killer);
  await browser.close();
}
