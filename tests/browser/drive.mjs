// Drives the ComfyUI frontend in headless Chromium for tests/test_browser.py.
//
//   node drive.mjs   (all settings in the environment)
//   SHOTCROP_URL       the ComfyUI server, e.g. http://127.0.0.1:8188
//   SHOTCROP_PROMPT    path of the API-format workflow to load and queue
//   SHOTCROP_OUT       folder for screenshots and result.json
//   SHOTCROP_PW_DIR    folder whose node_modules holds playwright-core
//   SHOTCROP_CHROMIUM  the browser (default /usr/bin/chromium)
//   SHOTCROP_TIMEOUT   ms for each wait (default 240000)
//
// Steps: load + queue the workflow from the page, wait for the Compose node's overlay, drag the
// close-up box's bottom-right corner, read the Edit Shots overrides, queue again, wait for that
// run, then feed the editor a description holding HTML and check it stays text. Prints
// result.json's content on stdout; any failure exits non-zero with the reason on stderr.
import { createRequire } from "node:module";
import { writeFileSync, readFileSync } from "node:fs";
import path from "node:path";

const env = process.env;
const URL = env.SHOTCROP_URL;
const OUT = env.SHOTCROP_OUT;
const TIMEOUT = Number(env.SHOTCROP_TIMEOUT || 240000);
const require = createRequire(path.join(path.resolve(env.SHOTCROP_PW_DIR || "."), "noop.js"));
const { chromium } = require("playwright-core");
const prompt = JSON.parse(readFileSync(env.SHOTCROP_PROMPT, "utf8"));
const composeId = Object.keys(prompt).find((k) => prompt[k].class_type === "ShotCropTripleShotCompose");
const editId = Object.keys(prompt).find((k) => prompt[k].class_type === "ShotCropEditShots");
const XSS = '<img src=x onerror=alert(1)>';

const result = { dialogs: [], console_errors: [] };
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
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.setDefaultTimeout(TIMEOUT);
  page.on("dialog", async (d) => { result.dialogs.push(d.message()); await d.dismiss(); });
  page.on("console", (m) => {
    if (m.type() === "error") result.console_errors.push(`${m.text()} @ ${m.location()?.url ?? ""}`);
  });
  page.on("pageerror", (e) => result.console_errors.push(String(e?.stack || e)));

  // A fresh user gets the template browser over the canvas on first load: mark it seen.
  for (const [key, value] of [["Comfy.TutorialCompleted", true]]) {
    await fetch(`${URL}/settings/${encodeURIComponent(key)}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(value),
    });
  }
  await page.goto(URL, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => window.app?.graph && window.ShotCrop?.editor);

  // Load the API workflow, lay it out so the Compose node is big and on screen, and queue it.
  await page.evaluate(async ([p, cid]) => {
    await window.app.loadApiJson(p, "shotcrop_browser_test.json");
    const app = window.app;
    const node = app.graph.getNodeById(Number(cid));
    node.pos = [40, 40];
    node.setSize([520, 820]);
    const ds = app.canvas.ds;
    ds.scale = 1;
    ds.offset = [0, 0];
    app.graph.setDirtyCanvas(true, true);
    await app.queuePrompt(0, 1);
  }, [prompt, composeId]);

  // Wait for the run to finish and the overlay to be drawn.
  await page.waitForFunction((cid) => {
    const ed = window.ShotCrop.editor(cid);
    if (!ed || !ed.drawn) return false;
    const img = ed.images[ed.index];
    if (img && img.complete && img.naturalWidth) return true;
    ed.render();
    return false;
  }, composeId, { polling: 250 });
  await page.waitForTimeout(500); // let the DOM widget settle at its final place
  await page.evaluate((cid) => window.ShotCrop.editor(cid).render(), composeId);
  const before = await page.evaluate(([cid, eid]) => {
    const ed = window.ShotCrop.editor(cid);
    const edit = window.app.graph.getNodeById(Number(eid));
    return {
      sets: ed.sets,
      drawn: ed.root.dataset.drawn,
      rect: ed.clientRect("close_up"),
      overrides: edit.widgets.find((w) => w.name === "overrides").value,
      // The colour on the canvas along each box's top edge (nearest to the shot colour).
      edge_rgb: Object.fromEntries(["establishing", "medium", "close_up"].map((name) => {
        const f = ed.frame(), b = ed.boxes()[name], dpr = window.devicePixelRatio || 1;
        const g = ed.canvas.getContext("2d");
        const x = Math.round((f.ox + ((b[0] + b[2]) / 2) * f.k) * dpr);
        const y = Math.round((f.oy + b[1] * f.k) * dpr);
        return [name, [-2, -1, 0, 1, 2].map((d) => [...g.getImageData(x, y + d, 1, 1).data.slice(0, 3)])];
      })),
      descriptions: [...ed.notes.querySelectorAll(".shotcrop-description")].map((e) => e.textContent),
    };
  }, [composeId, editId]);
  result.before = before;
  await page.screenshot({ path: path.join(OUT, "overlay.png") });

  // Drag the close-up box's bottom-right corner up and left.
  await page.keyboard.press("Escape"); // any dialog left over
  const r = before.rect;
  const sx = r.x1 - 1, sy = r.y1 - 1;
  const dx = -Math.round((r.x1 - r.x0) * 0.25), dy = -Math.round((r.y1 - r.y0) * 0.2);
  await page.mouse.move(sx, sy);
  await page.mouse.down();
  for (let i = 1; i <= 8; i++) await page.mouse.move(sx + (dx * i) / 8, sy + (dy * i) / 8);
  await page.mouse.up();
  result.drag = { from: [sx, sy], by: [dx, dy] };
  result.after = await page.evaluate(([cid, eid]) => {
    const ed = window.ShotCrop.editor(cid);
    const edit = window.app.graph.getNodeById(Number(eid));
    return { revision: ed.revision, boxes: ed.boxes(),
             overrides: edit.widgets.find((w) => w.name === "overrides").value };
  }, [composeId, editId]);
  await page.screenshot({ path: path.join(OUT, "dragged.png") });

  // Queue again from the page: the edit rides in the Edit Shots widget.
  const before2 = await page.evaluate(async () => {
    const h = await (await fetch(window.location.origin + "/history")).json();
    return Object.keys(h).length;
  });
  await page.evaluate(() => window.app.queuePrompt(0, 1));
  await page.waitForFunction(async (n) => {
    const h = await (await fetch(window.location.origin + "/history")).json();
    const done = Object.values(h).filter((e) => e.status?.completed !== undefined
      && ["success", "error"].includes(e.status?.status_str));
    return done.length > n;
  }, before2, { polling: 500 });
  result.after_rerun = await page.evaluate(([cid, eid]) => {
    const ed = window.ShotCrop.editor(cid);
    const saved = window.app.graph.serialize().nodes.find((n) => String(n.id) === String(eid));
    return { boxes: ed.boxes(), saved_widgets: saved?.widgets_values ?? null };
  }, [composeId, editId]);

  // Model text is shown as text: feed the editor a description holding HTML.
  result.xss = await page.evaluate(([cid, xss]) => {
    const ed = window.ShotCrop.editor(cid);
    const sets = JSON.parse(JSON.stringify(ed.sets));
    sets[0].shots[2].description = xss;
    sets[0].shots[0].description = "<b>bold</b> & <script>window.__pwned = 1</script>";
    const node = window.app.graph.getNodeById(Number(cid));
    node.onExecuted({ images: [], shotcrop_shots: [JSON.stringify(sets)] });
    const row = ed.notes.querySelector('[data-shot="close_up"]');
    return {
      text: row ? row.textContent : null,
      imgs: ed.root.querySelectorAll("img").length,
      scripts: ed.root.querySelectorAll("script").length,
      bolds_in_text: ed.notes.querySelector('[data-shot="establishing"]').querySelectorAll("b").length,
      pwned: window.__pwned ?? null,
    };
  }, [composeId, XSS]);
  await page.waitForTimeout(300); // an onerror handler, had one been created, would fire by now
  result.dialogs_after_xss = result.dialogs.slice();
  await page.screenshot({ path: path.join(OUT, "xss.png") });
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
