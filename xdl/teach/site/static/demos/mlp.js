// mlp: draw a digit; both exports' class probabilities side by side. The drawing is made into
// what the model was trained on (xdl/data/digits.py): scikit-learn's digits are 32x32 bitmaps
// counted in 4x4 blocks (0..16), divided by 16, enlarged 8x8 -> 20x20 bilinearly
// (scipy.ndimage.zoom, order 1) and centred in a 28x28 frame.
(function () {
  const SIZE = 224;

  // The ink's bounding box, scaled so its longer side fills the 32x32 bitmap, centred, thresholded.
  function bitmap(canvas) {
    const ctx = canvas.getContext("2d");
    const pixels = ctx.getImageData(0, 0, SIZE, SIZE).data;
    let x0 = SIZE, y0 = SIZE, x1 = -1, y1 = -1;
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        if (pixels[(y * SIZE + x) * 4 + 3] > 0) {
          x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
        }
      }
    }
    if (x1 < 0) return null;
    const w = x1 - x0 + 1, h = y1 - y0 + 1, scale = 32 / Math.max(w, h);
    const small = document.createElement("canvas");
    small.width = small.height = 32;
    const sctx = small.getContext("2d");
    sctx.imageSmoothingQuality = "high"; // a 7x reduction: average, do not skip, the strokes
    sctx.drawImage(canvas, x0, y0, w, h, (32 - w * scale) / 2, (32 - h * scale) / 2, w * scale, h * scale);
    const data = sctx.getImageData(0, 0, 32, 32).data;
    const bits = new Float32Array(32 * 32);
    for (let i = 0; i < 32 * 32; i++) bits[i] = data[i * 4 + 3] >= 128 ? 1 : 0;
    return bits;
  }

  // The 32x32 bitmap counted in 4x4 blocks, as scikit-learn's digits were made, over 16.
  function blocks(bits) {
    const eight = new Float32Array(64);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) eight[(y >> 2) * 8 + (x >> 2)] += bits[y * 32 + x];
    return Array.from(eight, (v) => v / 16);
  }

  // 8x8 values in [0, 1] -> the model's input, [[28 rows of 28]]: digits.load's zoom and frame.
  function enlarge(eight) {
    const image = [];
    for (let y = 0; y < 28; y++) image.push(new Array(28).fill(0));
    for (let oy = 0; oy < 20; oy++) {
      const fy = (oy * 7) / 19, iy = Math.min(Math.floor(fy), 6), dy = fy - iy;
      for (let ox = 0; ox < 20; ox++) {
        const fx = (ox * 7) / 19, ix = Math.min(Math.floor(fx), 6), dx = fx - ix;
        const at = (r, c) => eight[r * 8 + c];
        const v = (1 - dy) * ((1 - dx) * at(iy, ix) + dx * at(iy, ix + 1)) +
          dy * ((1 - dx) * at(iy + 1, ix) + dx * at(iy + 1, ix + 1));
        image[4 + oy][4 + ox] = Math.min(1, Math.max(0, v));
      }
    }
    return [[image]]; // NCHW: one sample, one channel
  }

  window.xdlDemo.mount("mlp", (box) => {
    const pad = document.createElement("div");
    pad.className = "xdl-demo-pad";
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = SIZE;
    canvas.className = "xdl-demo-canvas";
    const seen = document.createElement("canvas");
    seen.width = seen.height = 28;
    seen.className = "xdl-demo-seen";
    seen.title = "what the models see: 28x28, as in training";
    const clear = document.createElement("button");
    clear.textContent = "Clear";
    const hint = document.createElement("p");
    hint.className = "xdl-demo-status";
    hint.textContent = "Draw a digit, 0 to 9, tall as on a form (the data set's 0 is an upright oval, not a circle); " +
      "the small square is what the models see.";
    pad.append(canvas, seen, clear);
    box.append(hint, pad);
    const digits = Array.from({ length: 10 }, (_, k) => String(k));
    const parts = window.xdlDemo.columns(box, (col) => window.xdlDemo.bars(col, digits));
    const ctx = canvas.getContext("2d");
    ctx.lineWidth = 18;
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.strokeStyle = "#000";

    async function predict() {
      const bits = bitmap(canvas);
      if (!bits) return;
      const input = enlarge(blocks(bits));
      const sctx = seen.getContext("2d");
      const img = sctx.createImageData(28, 28);
      input[0][0].flat().forEach((v, i) => {
        img.data.set([255 * (1 - v), 255 * (1 - v), 255 * (1 - v), 255], i * 4);
      });
      sctx.putImageData(img, 0, 0);
      const out = await window.xdlDemos.mlp.run({ x: input });
      window.xdlDemo.showBars(parts.keras, out.keras.probs[0]);
      window.xdlDemo.showBars(parts.torch, out.torch.probs[0]);
    }
    window.xdlDemo.sketch(canvas, SIZE, predict);
    clear.addEventListener("click", () => {
      ctx.clearRect(0, 0, SIZE, SIZE);
      seen.getContext("2d").clearRect(0, 0, 28, 28);
      window.xdlDemo.showBars(parts.keras, null);
      window.xdlDemo.showBars(parts.torch, null);
    });
  });
  window.xdlDemos.mlp.enlarge = enlarge; // for the test that checks it against digits.load
})();
