// What every demo shares: loading ONNX Runtime Web and a model's two exports on demand, from
// classic scripts only (a page opened from disk may not fetch() or import modules), and
// window.xdlDemos[model].run, which runs both exports on the same inputs.
(function () {
  if (window.xdlDemo) return; // a page with two demos loads this script twice
  window.xdlDemos = window.xdlDemos || {};
  window.xdlDemoModels = window.xdlDemoModels || {};
  window.xdlDemoVectors = window.xdlDemoVectors || {};
  const base = document.currentScript.src.replace(/[^/]*$/, "");
  const loaded = {};

  function loadScript(name) {
    if (!loaded[name]) {
      loaded[name] = new Promise((resolve, reject) => {
        const s = document.createElement("script");
        s.src = base + name;
        s.onload = resolve;
        s.onerror = () => reject(new Error("could not load " + base + name));
        document.head.appendChild(s);
      });
    }
    return loaded[name];
  }

  function bytes(b64) {
    const text = atob(b64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  let runtime = null;
  function ort() {
    if (!runtime) {
      runtime = (async () => {
        await loadScript("ort.wasm.min.js");
        await loadScript("ort-runtime.js");
        const env = window.ort.env.wasm;
        env.numThreads = 1; // threads need a cross-origin isolated page, which these are not
        env.proxy = false;
        env.wasmBinary = bytes(window.xdlOrtRuntime.wasm);
        // ONNX Runtime imports its Emscripten glue; a blob: URL is importable from file:// too.
        const glue = new Blob([window.xdlOrtRuntime.glue], { type: "text/javascript" });
        env.wasmPaths = { mjs: URL.createObjectURL(glue) };
        return window.ort;
      })();
    }
    return runtime;
  }

  const sessions = {};
  function session(model, framework) {
    const key = model + "/" + framework;
    if (!sessions[key]) {
      sessions[key] = (async () => {
        const o = await ort();
        await loadScript("models/" + model + "-" + framework + ".js");
        const m = window.xdlDemoModels[key];
        const s = await o.InferenceSession.create(bytes(m.onnx), { executionProviders: ["wasm"] });
        return { session: s, inputs: m.inputs, outputs: m.outputs };
      })();
    }
    return sessions[key];
  }

  function shapeOf(value) {
    const shape = [];
    for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
    return shape;
  }

  function tensor(o, spec, value) {
    const flat = Array.isArray(value) ? value.flat(Infinity) : [value];
    const shape = shapeOf(value);
    if (spec.dtype === "int64") return new o.Tensor("int64", BigInt64Array.from(flat, (x) => BigInt(x)), shape);
    return new o.Tensor("float32", Float32Array.from(flat), shape);
  }

  function nested(t) {
    const flat = Array.from(t.data, Number);
    let out = flat;
    for (let d = t.dims.length - 1; d > 0; d--) {
      const size = t.dims[d];
      const rows = [];
      for (let i = 0; i < out.length; i += size) rows.push(out.slice(i, i + size));
      out = rows;
    }
    return out;
  }

  // Both exports on the same inputs: {keras: {output: nested array}, torch: {...}}.
  async function run(model, inputs) {
    const result = {};
    for (const framework of ["keras", "torch"]) {
      const { session: s, inputs: specs } = await session(model, framework);
      const o = window.ort;
      const feeds = {};
      for (const spec of specs) feeds[spec.name] = tensor(o, spec, inputs[spec.name]);
      const outs = await s.run(feeds);
      result[framework] = {};
      for (const name of Object.keys(outs)) result[framework][name] = nested(outs[name]);
    }
    return result;
  }

  function register(model) {
    window.xdlDemos[model] = { run: (inputs) => run(model, inputs) };
  }

  // A sentence as the text models' Python side makes it (xdl/data/sentiment.py, the lessons'
  // encode): lower-cased words split at spaces (a word's surrounding punctuation dropped), START
  // first, OOV for a word outside the model's vocabulary, pre-padded and pre-truncated to the
  // model's length where it has one. Needs vocabulary.js (mount's `scripts`).
  function encode(model, sentence) {
    const v = window.xdlDemoVocabulary, m = v.models[model];
    const words = sentence.toLowerCase().split(/\s+/).map((w) => w.replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "")).filter(Boolean);
    const known = (w) => Object.prototype.hasOwnProperty.call(v.index, w) && v.index[w] < m.num_words;
    const ids = [v.start, ...words.map((w) => (known(w) ? v.index[w] : v.oov))];
    const unknown = words.filter((w) => !known(w));
    if (!m.length) return { ids, unknown };
    const kept = ids.slice(-m.length);
    return { ids: new Array(m.length - kept.length).fill(v.pad).concat(kept), unknown };
  }

  // The demo's box, with a button that loads the models (and `scripts`): nothing heavy loads
  // with the page.
  function mount(model, build, scripts = []) {
    register(model);
    for (const box of document.querySelectorAll('.xdl-demo[data-model="' + model + '"]')) {
      box.textContent = "";
      const button = document.createElement("button");
      button.className = "xdl-demo-start";
      button.textContent = "Run the Keras and PyTorch models in this page (loads " + box.dataset.megabytes + " MB)";
      const status = document.createElement("p");
      status.className = "xdl-demo-status";
      box.append(button, status);
      button.addEventListener("click", async () => {
        button.disabled = true;
        status.textContent = "Loading ONNX Runtime Web and both models...";
        try {
          await session(model, "keras");
          await session(model, "torch");
          for (const name of scripts) await loadScript(name);
        } catch (e) {
          status.textContent = location.protocol === "file:"
            ? "The demo could not start from a file: serve the site instead (xdl site --serve, or python -m http.server -d site)."
            : "The demo could not start: " + e.message;
          console.warn(e);
          return;
        }
        button.remove();
        status.remove();
        build(box);
      });
    }
  }

  // Two columns, Keras then PyTorch, each with a title and an element the demo fills.
  function columns(box, make) {
    const row = document.createElement("div");
    row.className = "xdl-demo-columns";
    const parts = {};
    for (const [framework, title] of [["keras", "Keras export"], ["torch", "PyTorch export"]]) {
      const col = document.createElement("div");
      col.className = "xdl-demo-column";
      const h = document.createElement("p");
      h.className = "xdl-demo-title";
      h.textContent = title;
      col.append(h);
      parts[framework] = make(col, framework);
      row.append(col);
    }
    box.append(row);
    return parts;
  }

  // A column's bars, one per class (`labels`), and showBars to fill them (null empties them).
  function bars(col, labels) {
    const list = document.createElement("div");
    list.className = "xdl-demo-bars";
    const rows = labels.map((name) => {
      const row = document.createElement("div");
      row.className = "xdl-demo-bar";
      const label = document.createElement("span");
      label.textContent = name;
      const bar = document.createElement("span");
      bar.className = "xdl-demo-fill";
      const value = document.createElement("span");
      value.className = "xdl-demo-value";
      row.append(label, bar, value);
      list.append(row);
      return { row, bar, value };
    });
    col.append(list);
    return rows;
  }

  function showBars(rows, probs) {
    const best = probs ? probs.indexOf(Math.max(...probs)) : -1;
    rows.forEach((r, k) => {
      const p = probs ? probs[k] : 0;
      r.bar.style.width = (p * 10).toFixed(2) + "em";
      r.value.textContent = probs ? p.toFixed(3) : "";
      r.row.classList.toggle("xdl-demo-best", k === best);
    });
  }

  // A column's one line of answer (the text demos).
  function answer(col) {
    const p = document.createElement("p");
    p.className = "xdl-demo-answer";
    col.append(p);
    return p;
  }

  // Strokes of the pointer on a canvas of size x size pixels, in its context's pen; `done` after each.
  function sketch(canvas, size, done) {
    const ctx = canvas.getContext("2d");
    let drawing = false;
    const at = (e) => {
      const r = canvas.getBoundingClientRect();
      return [(e.clientX - r.left) * (size / r.width), (e.clientY - r.top) * (size / r.height)];
    };
    canvas.addEventListener("pointerdown", (e) => {
      drawing = true;
      canvas.setPointerCapture(e.pointerId);
      ctx.beginPath();
      ctx.moveTo(...at(e));
      ctx.lineTo(...at(e));
      ctx.stroke();
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!drawing) return;
      ctx.lineTo(...at(e));
      ctx.stroke();
    });
    canvas.addEventListener("pointerup", () => { drawing = false; done(); });
  }

  window.xdlDemo = { run, mount, columns, loadScript, encode, bars, showBars, answer, sketch };
})();
