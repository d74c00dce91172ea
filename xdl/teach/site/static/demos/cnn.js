// cnn: paint a shape; both exports' class probabilities side by side. The painting is made into
// what the cnn was trained on (xdl/data/shapes.py): a 32x32 RGB image in [0, 1], a shape of one
// colour on a background of another, as NCHW. The 256x256 canvas is averaged over 8x8 blocks.
(function () {
  const SIZE = 256, BLOCK = SIZE / 32;

  function input(canvas) {
    const data = canvas.getContext("2d").getImageData(0, 0, SIZE, SIZE).data;
    const image = [0, 1, 2].map(() => Array.from({ length: 32 }, () => new Array(32).fill(0)));
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        for (let c = 0; c < 3; c++) image[c][Math.floor(y / BLOCK)][Math.floor(x / BLOCK)] += data[(y * SIZE + x) * 4 + c];
      }
    }
    for (const plane of image) for (const row of plane) for (let i = 0; i < 32; i++) row[i] /= 255 * BLOCK * BLOCK;
    return [image];
  }

  const hex = (rgb) => "#" + rgb.map((v) => Math.round(v * 255).toString(16).padStart(2, "0")).join("");

  function colours() { // as the data set draws them: the shape at least 0.35 away from the background
    const bg = [0, 1, 2].map(() => Math.random());
    let fg = [0, 1, 2].map(() => Math.random());
    if (fg.reduce((s, v, i) => s + Math.abs(v - bg[i]), 0) / 3 < 0.35) fg = bg.map((v) => 1 - v);
    return [hex(bg), hex(fg)];
  }

  window.xdlDemo.mount("cnn", (box) => {
    const labels = JSON.parse(box.dataset.labels);
    const hint = document.createElement("p");
    hint.className = "xdl-demo-status";
    hint.textContent = "Paint one of the ten shapes (" + labels.join(", ") + "), filled, anywhere in the box.";
    const pad = document.createElement("div");
    pad.className = "xdl-demo-pad";
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = SIZE;
    canvas.className = "xdl-demo-canvas";
    const clear = document.createElement("button");
    clear.textContent = "New colours";
    pad.append(canvas, clear);
    box.append(hint, pad);
    const parts = window.xdlDemo.columns(box, (col) => {
      const list = document.createElement("div");
      list.className = "xdl-demo-bars";
      const rows = labels.map((name) => {
        const row = document.createElement("div");
        row.className = "xdl-demo-bar";
        const label = document.createElement("span");
        label.textContent = name.padEnd(13, "\u00a0");
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
    });
    const ctx = canvas.getContext("2d");
    ctx.lineWidth = 28;
    ctx.lineCap = ctx.lineJoin = "round";
    function reset() {
      const [bg, fg] = colours();
      ctx.fillStyle = bg;
      ctx.fillRect(0, 0, SIZE, SIZE);
      ctx.strokeStyle = fg;
    }
    reset();
    function show(rows, probs) {
      const best = probs.indexOf(Math.max(...probs));
      probs.forEach((p, k) => {
        rows[k].bar.style.width = (p * 10).toFixed(2) + "em";
        rows[k].value.textContent = p.toFixed(3);
        rows[k].row.classList.toggle("xdl-demo-best", k === best);
      });
    }
    async function predict() {
      const out = await window.xdlDemos.cnn.run({ x: input(canvas) });
      show(parts.keras, out.keras.probs[0]);
      show(parts.torch, out.torch.probs[0]);
    }
    let drawing = false;
    const at = (e) => {
      const r = canvas.getBoundingClientRect();
      return [(e.clientX - r.left) * (SIZE / r.width), (e.clientY - r.top) * (SIZE / r.height)];
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
    canvas.addEventListener("pointerup", () => { drawing = false; predict(); });
    clear.addEventListener("click", reset);
  });
})();
