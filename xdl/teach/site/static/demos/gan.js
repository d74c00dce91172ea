// gan: the same random latent vectors through both exported generators, side by side. The
// noise is what training drew: 32 standard normal numbers per image (Box-Muller on a seeded
// generator, so one seed gives both columns the very same latents).
(function () {
  const COUNT = 8, LATENT = 32;

  function generator(seed) {
    let s = seed >>> 0;
    const uniform = () => { // mulberry32: small, seedable, good enough for a demo's noise
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  }

  function latents(seed) {
    const normal = generator(seed);
    return Array.from({ length: COUNT }, () => Array.from({ length: LATENT }, normal));
  }

  function paint(canvas, image) { // image: 28 rows of 28 values in [0, 1], ink high
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(28, 28);
    image.flat().forEach((v, i) => {
      const g = 255 * (1 - Math.min(1, Math.max(0, v)));
      img.data.set([g, g, g, 255], i * 4);
    });
    ctx.putImageData(img, 0, 0);
  }

  window.xdlDemo.mount("gan", (box) => {
    const sample = document.createElement("button");
    sample.textContent = "Sample new latents";
    const status = document.createElement("p");
    status.className = "xdl-demo-status";
    box.append(sample, status);
    const parts = window.xdlDemo.columns(box, (col) => {
      const grid = document.createElement("div");
      grid.className = "xdl-demo-images";
      const canvases = Array.from({ length: COUNT }, () => {
        const c = document.createElement("canvas");
        c.width = c.height = 28;
        grid.append(c);
        return c;
      });
      col.append(grid);
      return canvases;
    });
    let seed = 1;
    async function draw() {
      const noise = latents(seed);
      status.textContent = `Latents of seed ${seed}: the same ${COUNT} vectors of ${LATENT} normal numbers go into both generators (two generators trained apart: the same latent need not give the same digit).`;
      const out = await window.xdlDemos.gan.run({ noise });
      for (const framework of ["keras", "torch"]) {
        out[framework].image.forEach((image, i) => paint(parts[framework][i], image[0]));
      }
      seed += 1;
    }
    sample.addEventListener("click", draw);
    draw();
  });
})();
