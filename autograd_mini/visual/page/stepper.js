/* The stepper page's script: steps through the backward pass recorded in #stepper-data.
 *
 * The data (made by autograd_mini/visual/backward_page.py): steps[k-1] is step k, in the order
 * backward() ran them, each with the key of its box in the drawing, the gradient that came
 * from above, and what it passed to each input; units[key] is what a box of the drawing
 * holds (its forward value, its gradient and the step after which it is known).
 * Every text is put in with textContent, never as markup: a name is shown as written and
 * cannot run anything.
 */
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("stepper-data").textContent);
  const steps = data.steps;
  const N = steps.length;
  const PLAY_EVERY_MS = 900;

  // Graphviz names each node's and edge's <g> by a <title>: the box's key, "tail->head".
  const boxes = new Map();
  const arrows = new Map();
  const svg = document.querySelector("#drawing svg");
  if (svg) {
    for (const g of svg.querySelectorAll("g.node, g.edge")) {
      const title = g.querySelector("title");
      if (title) (g.classList.contains("node") ? boxes : arrows).set(title.textContent, g);
    }
  }

  let current = 0; // 0: before backward; k: step k has run
  let timer = null;
  let selected = null;

  // ------------------------------------------------------------------------------------
  // Small helpers
  // ------------------------------------------------------------------------------------

  function el(tag, text, className) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (className) e.className = className;
    return e;
  }

  function num(v) {
    // JSON has no NaN or Infinity: they come as the strings "NaN", "Infinity", "-Infinity".
    return typeof v === "number" ? v : Number(v);
  }

  function fmt(v) {
    const x = num(v);
    if (Number.isNaN(x)) return "nan";
    if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
    if (x === 0) return "0";
    const size = Math.abs(x);
    return size < 1e-3 || size >= 1e5 ? x.toExponential(3) : x.toPrecision(4); // 4 digits
  }

  function shapeText(shape) {
    return "(" + shape.join(", ") + (shape.length === 1 ? ",)" : ")");
  }

  // ------------------------------------------------------------------------------------
  // Arrays: every number when small, else statistics and a heat-map
  // ------------------------------------------------------------------------------------

  function arrayBlock(view, role) {
    const box = el("div", null, "array");
    box.dataset.array = role;
    box.append(el("div", shapeText(view.shape) + " " + view.dtype, "muted"));
    if (view.values) {
      box.append(numberTable(view));
    } else {
      box.append(statsLine(view.stats));
      box.append(heatMap(view.heat));
    }
    return box;
  }

  function numberTable(view) {
    const shape = view.shape;
    // rows × columns: a 2-D array as it is, a vector 8 to a row, more axes flattened
    let cols = shape.length === 0 ? 1 : shape[shape.length - 1];
    if (shape.length === 1) cols = Math.min(cols, 8);
    const rows = cols === 0 ? 0 : Math.ceil(view.values.length / cols);
    const table = el("table", null, "numbers");
    for (let r = 0; r < rows; r++) {
      const tr = document.createElement("tr");
      for (let c = 0; c < cols && r * cols + c < view.values.length; c++) {
        const v = view.values[r * cols + c];
        const td = el("td", fmt(v));
        td.title = String(num(v)); // every digit, on hover
        tr.append(td);
      }
      table.append(tr);
    }
    return table;
  }

  function statsLine(stats) {
    return el(
      "div",
      `min ${fmt(stats.min)}   max ${fmt(stats.max)}   mean ${fmt(stats.mean)}   ` +
        `norm ${fmt(stats.norm)}`,
      "stats",
    );
  }

  function heatMap(heat) {
    const box = el("div");
    const canvas = el("canvas", null, "heat");
    canvas.width = heat.cols;
    canvas.height = heat.rows;
    const cells = heat.cells.map(num);
    let scale = 0;
    for (const x of cells) if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
    const context = canvas.getContext("2d");
    const image = context.createImageData(heat.cols, heat.rows);
    cells.forEach((x, i) => {
      let rgb = [0, 0, 0]; // not finite: black
      if (Number.isFinite(x)) {
        const t = scale ? Math.abs(x) / scale : 0;
        const fade = Math.round(255 * (1 - t));
        rgb = x >= 0 ? [255, fade, fade] : [fade, fade, 255];
      }
      image.data.set([...rgb, 255], 4 * i);
    });
    context.putImageData(image, 0, 0);
    const zoom = Math.max(1, Math.floor(240 / Math.max(heat.cols, heat.rows)));
    canvas.style.width = heat.cols * zoom + "px";
    canvas.style.height = heat.rows * zoom + "px";
    box.append(canvas);
    box.append(
      el(
        "div",
        `heat-map: ${heat.rows} × ${heat.cols} block means; blue < 0 < red, ` +
          `full colour at ±${fmt(scale)}`,
        "muted",
      ),
    );
    return box;
  }

  // ------------------------------------------------------------------------------------
  // The drawing at the current step
  // ------------------------------------------------------------------------------------

  function markDrawing() {
    for (const g of boxes.values()) g.classList.remove("current", "done", "partial");
    for (const g of arrows.values()) g.classList.remove("lit", "flowed");
    for (const [key, unit] of Object.entries(data.units)) {
      const g = boxes.get(key);
      if (!g) continue;
      if (unit.grad_step !== undefined && unit.grad_step <= current) {
        g.classList.add("done");
      } else if (unit.contributions && unit.contributions.some((k) => k <= current)) {
        g.classList.add("partial"); // a leaf that has some of its contributions
      }
    }
    for (let k = 1; k <= current; k++) {
      for (const [tail, head] of steps[k - 1].edges) {
        const g = arrows.get(tail + "->" + head);
        if (g) g.classList.add(k === current ? "lit" : "flowed");
      }
    }
    if (current) {
      const g = boxes.get(steps[current - 1].unit);
      if (g) g.classList.add("current");
    }
  }

  // ------------------------------------------------------------------------------------
  // The panel: what step k does
  // ------------------------------------------------------------------------------------

  function renderPanel() {
    const panel = document.getElementById("panel");
    panel.replaceChildren();
    if (!current) {
      panel.append(el("h2", "Before backward"));
      panel.append(
        el(
          "p",
          `The backward pass has ${N} step${N === 1 ? "" : "s"}, in the order backward() ` +
            "runs them: each runs the VJPs of one op, which turn the gradient of its output " +
            "into the gradients of its inputs. Press → (or Next) to run the first.",
        ),
      );
      return;
    }
    const step = steps[current - 1];
    panel.append(el("h2", `Step ${current}: ${step.op}`));
    if (step.box) {
      panel.append(el("p", `a collapsed box (${step.box}): its ${step.ops} ops step as one`));
    }
    if (step.scope) panel.append(el("p", "in " + step.scope, "muted"));
    panel.append(
      el("p", "output " + shapeText(step.output.shape) + " " + step.output.dtype, "muted"),
    );
    panel.append(el("h3", "Gradient from above: ∂L/∂output"));
    panel.append(el("p", step.fan_in, "fan-in"));
    panel.append(arrayBlock(step.upstream, "upstream"));
    panel.append(
      el("h3", step.box ? "Gradients passed out of the box" : "Gradients of the inputs (VJPs)"),
    );
    step.inputs.forEach((input, i) => panel.append(inputBlock(input, i)));
    if (step.more) panel.append(el("p", `… and ${step.more} more`, "muted"));
  }

  function inputBlock(input, i) {
    const box = el("div", null, "input");
    box.dataset.input = String(i);
    box.append(el("div", `${input.name} ${shapeText(input.shape)}`, "input-name"));
    const rule = el("div");
    rule.append(el("span", input.rule, "rule"));
    box.append(rule);
    if (input.shapes) box.append(el("div", input.shapes, "muted"));
    if (input.code && input.code.length) {
      // the lines of ag.backward_code(loss) that compute this gradient
      box.append(el("pre", input.code.join("\n"), "code"));
    }
    if (input.broadcast) box.append(el("div", "un-broadcast: " + input.broadcast, "broadcast"));
    if (input.grad) box.append(arrayBlock(input.grad, "input-" + i));
    if (input.note) box.append(el("div", input.note, "muted"));
    if (input.to) box.append(el("div", "→ " + input.to, "muted"));
    return box;
  }

  // ------------------------------------------------------------------------------------
  // The inspector: a clicked box's forward value and gradient
  // ------------------------------------------------------------------------------------

  function inspect(key) {
    selected = key;
    for (const [k, g] of boxes) g.classList.toggle("selected", k === key);
    const unit = data.units[key];
    const box = document.getElementById("inspector");
    box.replaceChildren();
    box.append(el("h2", unit.title, "unit-title"));
    if (unit.note) box.append(el("p", unit.note, "muted"));
    if (unit.value) {
      box.append(el("h3", "Forward value"));
      box.append(arrayBlock(unit.value, "value"));
    }
    if (unit.grad_step === undefined) return;
    box.append(el("h3", "Gradient: ∂L/∂(this tensor)"));
    if (unit.grad_step <= current) {
      box.append(arrayBlock(unit.grad, "grad"));
    } else {
      box.append(
        el("p", `not computed yet: known after step ${unit.grad_step} (now: step ${current})`, "hint"),
      );
    }
  }

  for (const [key, g] of boxes) {
    if (!(key in data.units)) continue; // the legend
    g.classList.add("clickable");
    g.addEventListener("click", () => inspect(key));
  }

  // ------------------------------------------------------------------------------------
  // Stepping: buttons and keys
  // ------------------------------------------------------------------------------------

  function show(k) {
    current = Math.max(0, Math.min(N, k));
    document.getElementById("counter").textContent = `step ${current} of ${N}`;
    document.getElementById("step-op").textContent = current
      ? steps[current - 1].op
      : "before backward";
    markDrawing();
    renderPanel();
    if (selected !== null) inspect(selected);
  }

  function pause() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    document.getElementById("play").textContent = "▶ Play";
  }

  function play() {
    if (timer !== null) return pause();
    if (current >= N) show(0);
    document.getElementById("play").textContent = "⏸ Pause";
    timer = setInterval(() => (current >= N ? pause() : show(current + 1)), PLAY_EVERY_MS);
  }

  const actions = {
    first: () => (pause(), show(0)),
    back: () => (pause(), show(current - 1)),
    play: play,
    next: () => (pause(), show(current + 1)),
    last: () => (pause(), show(N)),
  };
  for (const [id, action] of Object.entries(actions)) {
    const button = document.getElementById(id);
    button.addEventListener("click", () => {
      action();
      button.blur(); // keys go to the page, not to the button
    });
  }
  const keys = {
    ArrowRight: actions.next,
    ArrowLeft: actions.back,
    Home: actions.first,
    End: actions.last,
    " ": actions.play,
  };
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || !(event.key in keys)) return;
    event.preventDefault();
    keys[event.key]();
  });

  const notes = document.getElementById("notes");
  for (const note of data.notes) notes.append(el("li", note));
  show(0);
})();
