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
    const names = labels.map((name) => name.padEnd(13, "\u00a0"));
    const parts = window.xdlDemo.columns(box, (col) => window.xdlDemo.bars(col, names));
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
    async function predict() {
      const out = await window.xdlDemos.cnn.run({ x: input(canvas) });
      window.xdlDemo.showBars(parts.keras, out.keras.probs[0]);
      window.xdlDemo.showBars(parts.torch, out.torch.probs[0]);
    }
    window.xdlDemo.sketch(canvas, SIZE, predict);
    clear.addEventListener("click", reset);
  });
})();
