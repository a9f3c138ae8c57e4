// digitkit drawing page: strokes on a canvas -> PNG -> POST /api/predict -> bars.
// No framework and no build step: the page must work offline from the package's own files.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  const result = $("result");
  const SIZES = { digit: [280, 280], number: [560, 280] };
  // Predict while drawing, but not on every pointer event: wait for a short pause, and force
  // one at least every MAX_WAIT ms during a long stroke so the bars keep up.
  const DEBOUNCE_MS = 120;
  const MAX_WAIT_MS = 400;
  const ACCEPTED = ["image/png", "image/jpeg", "image/bmp", "image/webp"];

  const state = {
    strokes: [],        // [{size, points: [[x, y], ...]}], canvas pixels; replayed on undo
    background: null,   // an uploaded image (ImageBitmap) drawn under the strokes
    upload: null,       // the uploaded File: predicted as is while nothing is drawn over it
    current: null,      // stroke being drawn
    mode: "digit",
    seq: 0,             // request counter: an older answer never overwrites a newer one
    timer: null,
    firstPending: 0,
    controller: null,
  };

  // ----- drawing -----------------------------------------------------------------------
  function paintBackground() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    if (state.background) {
      const bg = state.background;
      const scale = Math.min(pad.width / bg.width, pad.height / bg.height);
      const w = bg.width * scale, h = bg.height * scale;
      ctx.drawImage(bg, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    }
  }

  function strokeSegment(size, a, b) {
    ctx.strokeStyle = "#000";
    ctx.fillStyle = "#000";
    ctx.lineWidth = size;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    if (a === b || (a[0] === b[0] && a[1] === b[1])) {
      ctx.beginPath();
      ctx.arc(a[0], a[1], size / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  }

  function redraw() {
    paintBackground();
    for (const s of state.strokes) {
      const p = s.points;
      strokeSegment(s.size, p[0], p[0]);
      for (let i = 1; i < p.length; i++) strokeSegment(s.size, p[i - 1], p[i]);
    }
    $("drop").classList.toggle("has-ink", !isEmpty());
  }

  function isEmpty() {
    return state.strokes.length === 0 && !state.background;
  }

  function toCanvas(ev) {
    const r = pad.getBoundingClientRect();
    return [(ev.clientX - r.left) * (pad.width / r.width),
            (ev.clientY - r.top) * (pad.height / r.height)];
  }

  pad.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    ev.preventDefault();
    pad.setPointerCapture(ev.pointerId);
    const p = toCanvas(ev);
    state.current = { size: Number($("brush").value), points: [p] };
    state.strokes.push(state.current);
    strokeSegment(state.current.size, p, p);
    $("drop").classList.add("has-ink");
    schedule();
  });

  pad.addEventListener("pointermove", (ev) => {
    if (!state.current) return;
    ev.preventDefault();
    // Coalesced events keep fast strokes smooth where the browser batches pointer moves.
    const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
    for (const e of (events.length ? events : [ev])) {
      const p = toCanvas(e);
      const pts = state.current.points;
      strokeSegment(state.current.size, pts[pts.length - 1], p);
      pts.push(p);
    }
    schedule();
  });

  function endStroke() {
    if (!state.current) return;
    state.current = null;
    schedule(0);
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("lostpointercapture", endStroke);

  // ----- prediction --------------------------------------------------------------------
  function schedule(delay = DEBOUNCE_MS) {
    // aria-busy: the shown result is about to change (tests wait for it to clear, too).
    result.setAttribute("aria-busy", "true");
    const now = performance.now();
    if (!state.timer) state.firstPending = now;
    clearTimeout(state.timer);
    const wait = Math.max(0, Math.min(delay, state.firstPending + MAX_WAIT_MS - now));
    state.timer = setTimeout(() => { state.timer = null; predict(); }, wait);
  }

  function canvasBlob() {
    return new Promise((resolve) => pad.toBlob(resolve, "image/png"));
  }

  async function predict() {
    if (isEmpty()) { showEmpty(); return; }
    const seq = ++state.seq;
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    result.setAttribute("aria-busy", "true");
    // An untouched upload goes as the original bytes, so the answer matches `digitkit
    // predict` on that file; anything drawn is sent as the canvas PNG.
    const original = state.strokes.length === 0 ? state.upload : null;
    const blob = original || await canvasBlob();
    const form = new FormData();
    form.append("file", blob, original ? original.name : "drawing.png");
    const params = new URLSearchParams();
    const model = $("model").value;
    if (model) params.set("model", model);
    const number = state.mode === "number";
    if (!number) params.set("preview", "true");
    // Strokes alone on the plain canvas: a drawing, nothing in it is print or a crop's cut
    // (a digit drawn to the edges keeps its strokes). An opened image is judged as a file is.
    if (!number && !state.upload) params.set("drawing", "true");
    const url = (number ? "/api/predict/number" : "/api/predict") + "?" + params;
    try {
      const resp = await fetch(url, { method: "POST", body: form, signal: controller.signal });
      const body = await resp.json().catch(() => ({ detail: `HTTP ${resp.status}` }));
      if (seq !== state.seq) return;
      if (!resp.ok) { showError(body.detail || `HTTP ${resp.status}`); return; }
      if (isEmpty()) { showEmpty(); return; }  // cleared while the request was running
      number ? showNumber(body) : showDigit(body);
    } catch (err) {
      if (err.name !== "AbortError" && seq === state.seq) showError("cannot reach the server");
    } finally {
      if (seq === state.seq && !state.timer) result.removeAttribute("aria-busy");
    }
  }

  // ----- result display ----------------------------------------------------------------
  const bars = [];
  for (let d = 0; d < 10; d++) {
    const li = document.createElement("li");
    li.innerHTML = `<span class="d">${d}</span><span class="track"><span class="fill"></span>` +
      `</span><span class="pct">0%</span>`;
    $("bars").appendChild(li);
    bars.push(li);
  }

  function setBars(probs) {
    const best = probs ? probs.indexOf(Math.max(...probs)) : -1;
    bars.forEach((li, d) => {
      const p = probs ? probs[d] : 0;
      // The stylesheet turns --p into a width (bars) or, on phones, a height (columns).
      li.style.setProperty("--p", `${(p * 100).toFixed(1)}%`);
      li.querySelector(".pct").textContent = `${Math.round(p * 100)}%`;
      li.classList.toggle("best", d === best && p > 0);
      li.setAttribute("aria-label", `digit ${d}: ${Math.round(p * 100)} percent`);
    });
  }

  function setPreview(grid) {
    const pctx = $("preview").getContext("2d");
    const img = pctx.createImageData(28, 28);
    for (let i = 0; i < 28 * 28; i++) {
      const v = grid ? grid[Math.floor(i / 28)][i % 28] : 0;
      img.data.set([v, v, v, 255], i * 4);
    }
    pctx.putImageData(img, 0, 0);
  }

  function show(stateName, top, status) {
    result.dataset.state = stateName;
    $("top").textContent = top;
    $("status").textContent = status;
  }

  function showEmpty() {
    state.seq++;  // drop answers still on the way
    clearTimeout(state.timer);
    state.timer = null;
    if (state.controller) state.controller.abort();
    result.removeAttribute("aria-busy");
    show("empty", "", "Nothing drawn yet.");
    setBars(null);
    setPreview(null);
    $("digits").replaceChildren();
  }

  function showError(detail) {
    show("error", "", `Error: ${detail}`);
    setBars(null);
  }

  function showDigit(p) {
    setBars(p.digit === null ? null : p.probabilities);
    setPreview(p.preview);
    if (p.digit === null && p.reason === "not_a_digit") {
      show("blank", "", `That is not a digit (${Math.round(p.confidence * 100)}% sure).`);
    } else if (p.digit === null) {
      show("blank", "", p.reason ? `No digit: ${p.reason}` : "No digit found.");
    } else if (p.uncertain) {
      show("uncertain", String(p.digit),
           `Not sure: maybe ${p.digit} (${Math.round(p.confidence * 100)}%)`);
    } else {
      show("ok", String(p.digit), `It is a ${p.digit} (${Math.round(p.confidence * 100)}%)`);
    }
  }

  function showNumber(n) {
    const list = $("digits");
    list.replaceChildren();
    for (const d of n.digits || []) {
      const li = document.createElement("li");
      const digit = d.digit === null ? "?" : d.digit;
      li.textContent = `${digit} · ${Math.round((d.confidence || 0) * 100)}%`;
      if (d.uncertain || d.digit === null) li.classList.add("unsure");
      list.appendChild(li);
    }
    setBars(null);
    const written = n.formatted || n.text;
    if (!n.text) {
      // Say why (no ink, or nothing read surely), as the digit mode does.
      show("blank", "", n.reason ? `No number: ${n.reason}` : "No digits found.");
    } else if ((n.digits || []).some((d) => d.uncertain || d.digit === null)) {
      show("number", written, `Not sure about every digit: ${written}`);
    } else {
      show("number", written, `It reads ${written}`);
    }
  }

  // ----- controls ----------------------------------------------------------------------
  function undo() {
    if (state.strokes.length) state.strokes.pop();
    else if (state.background) { state.background = null; state.upload = null; }
    else return;
    redraw();
    schedule(0);
  }

  function clearAll() {
    state.strokes = [];
    state.background = null;
    state.upload = null;
    redraw();
    showEmpty();
  }

  function setBrush(value) {
    const brush = $("brush");
    brush.value = String(value);
    $("brush-out").textContent = brush.value;
  }

  async function openFile(file) {
    if (!file) return;
    if (!ACCEPTED.includes(file.type)) {
      showError(`unsupported file type ${file.type || "(unknown)"}: use PNG, JPEG, BMP or WebP`);
      return;
    }
    try {
      state.background = await createImageBitmap(file);
    } catch {
      state.background = null;  // the server still judges the bytes and explains the problem
    }
    state.strokes = [];
    state.upload = file;
    redraw();
    $("drop").classList.add("has-ink");
    predict();
  }

  function setMode(mode) {
    state.mode = mode;
    [pad.width, pad.height] = SIZES[mode];
    $("digits").hidden = mode !== "number";
    $("bars").hidden = mode === "number";
    $("preview-box").hidden = mode === "number";
    redraw();
    if (isEmpty()) showEmpty(); else schedule(0);
  }

  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", clearAll);
  $("open").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", (ev) => { openFile(ev.target.files[0]); ev.target.value = ""; });
  $("brush").addEventListener("input", (ev) => setBrush(ev.target.value));
  $("model").addEventListener("change", () => { if (!isEmpty()) schedule(0); });
  for (const radio of document.querySelectorAll("input[name=mode]")) {
    radio.addEventListener("change", (ev) => setMode(ev.target.value));
  }

  const drop = $("drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("dragover"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("dragover"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("dragover");
    openFile(ev.dataTransfer.files[0]);
  });

  document.addEventListener("keydown", (ev) => {
    // Someone with a keyboard: show the key hints even where the pointer is a finger.
    document.documentElement.dataset.keyboard = "true";
    const typing = ev.target instanceof HTMLInputElement && ev.target.type !== "radio" &&
                   ev.target.type !== "range";
    if (typing || ev.target instanceof HTMLSelectElement) return;
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "z") { ev.preventDefault(); undo(); }
    else if (ev.key === "Escape" || (ev.key === "Delete" && ev.target === pad)) clearAll();
    else if (ev.key === "[") setBrush(Number($("brush").value) - 2);
    else if (ev.key === "]") setBrush(Number($("brush").value) + 2);
  });

  // The model menu opens on the default, and names every model as its card describes it
  // ("Default: 2-model ensemble ..., 99.63% on MNIST test"); an older server that sends
  // bare names gets them as they are.
  function modelEntries({ default: def, models, details }) {
    if (Array.isArray(details) && details.length) return details;
    return [def, ...models.filter((name) => name !== def)]
      .map((name) => ({ name, label: name === def ? "Default model" : name, default: name === def }));
  }

  function modelOption(entry) {
    const opt = document.createElement("option");
    opt.value = entry.default ? "" : entry.name;  // "" = whatever the server's default is
    opt.textContent = entry.label;
    opt.selected = Boolean(entry.default);
    return opt;
  }

  async function loadModels() {
    try {
      const resp = await fetch("/api/models");
      if (!resp.ok) return;
      const select = $("model");
      select.replaceChildren(...modelEntries(await resp.json()).map(modelOption));
    } catch {
      // Keep the built-in default option: predictions still work without the list.
    }
  }

  setBrush($("brush").value);
  redraw();
  showEmpty();
  // "ready" once the model list is in, so nobody (tests included) sees the bare select.
  loadModels().finally(() => { document.documentElement.dataset.ready = "true"; });
})();
