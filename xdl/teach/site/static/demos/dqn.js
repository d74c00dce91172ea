// dqn: CartPole played by each exported policy, from the same starting state. The physics is
// gymnasium's CartPole-v1 (Euler steps of 0.02 s, in float64, the policy seeing float32): the
// episode ends when the pole leans past 12 degrees or the cart leaves +-2.4, or after 500 steps.
(function () {
  const G = 9.8, MASSCART = 1.0, MASSPOLE = 0.1, TOTAL = MASSCART + MASSPOLE, LENGTH = 0.5;
  const POLEMASS_LENGTH = MASSPOLE * LENGTH, FORCE = 10.0, TAU = 0.02;
  const THETA_LIMIT = (12 * 2 * Math.PI) / 360, X_LIMIT = 2.4, MAX_STEPS = 500;

  function step(state, action) {
    const [x, xDot, theta, thetaDot] = state;
    const force = action === 1 ? FORCE : -FORCE;
    const cos = Math.cos(theta), sin = Math.sin(theta);
    const temp = (force + POLEMASS_LENGTH * thetaDot * thetaDot * sin) / TOTAL;
    const thetaAcc = (G * sin - cos * temp) / (LENGTH * (4.0 / 3.0 - (MASSPOLE * cos * cos) / TOTAL));
    const xAcc = temp - (POLEMASS_LENGTH * thetaAcc * cos) / TOTAL;
    const next = [x + TAU * xDot, xDot + TAU * xAcc, theta + TAU * thetaDot, thetaDot + TAU * thetaAcc];
    const terminated = next[0] < -X_LIMIT || next[0] > X_LIMIT || next[2] < -THETA_LIMIT || next[2] > THETA_LIMIT;
    return { state: next, terminated };
  }

  function start() { // gymnasium's reset: each of the four numbers uniform in [-0.05, 0.05)
    return Array.from({ length: 4 }, () => Math.random() * 0.1 - 0.05);
  }

  function draw(canvas, state, steps, over) {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, scale = w / (2 * X_LIMIT), ground = h * 0.75;
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = "#999";
    ctx.beginPath(); ctx.moveTo(0, ground); ctx.lineTo(w, ground); ctx.stroke();
    const cx = w / 2 + state[0] * scale;
    ctx.fillStyle = "#333";
    ctx.fillRect(cx - 20, ground - 12, 40, 24);
    const pole = 2 * LENGTH * scale;
    ctx.strokeStyle = over ? "#c0392b" : "#ca9865";
    ctx.lineWidth = 6;
    ctx.beginPath(); ctx.moveTo(cx, ground - 6);
    ctx.lineTo(cx + pole * Math.sin(state[2]), ground - 6 - pole * Math.cos(state[2])); ctx.stroke();
    ctx.lineWidth = 1;
    ctx.fillStyle = "#000";
    ctx.font = "14px sans-serif";
    const end = over ? (steps >= MAX_STEPS ? " (500: the episode's limit)" : " (the pole fell or the cart left)") : "";
    ctx.fillText("steps: " + steps + end, 8, 18);
    canvas.dataset.steps = steps; // the count, readable by a reader's tools (and the page's test)
  }

  window.xdlDemo.mount("dqn", (box) => {
    const play = document.createElement("button");
    play.textContent = "Play an episode";
    const status = document.createElement("p");
    status.className = "xdl-demo-status";
    status.textContent = "Both policies start from the same random state; each chooses, every 0.02 s, the push with the larger Q-value.";
    box.append(play, status);
    const canvases = window.xdlDemo.columns(box, (col) => {
      const c = document.createElement("canvas");
      c.width = 300; c.height = 160;
      c.className = "xdl-demo-cart";
      col.append(c);
      return c;
    });
    let episode = 0;
    async function run() {
      const mine = ++episode; // a new press ends the episode being played
      const first = start();
      const games = { keras: { state: first, steps: 0, over: false }, torch: { state: first.slice(), steps: 0, over: false } };
      for (const f of ["keras", "torch"]) draw(canvases[f], games[f].state, 0, false);
      while (mine === episode && !(games.keras.over && games.torch.over)) {
        const out = await window.xdlDemos.dqn.run({ state: [games.keras.state, games.torch.state] });
        ["keras", "torch"].forEach((f, row) => {
          const g = games[f];
          if (g.over) return;
          const [left, right] = out[f].q_values[row];
          const next = step(g.state, right > left ? 1 : 0);
          g.state = next.state;
          g.steps += 1;
          g.over = next.terminated || g.steps >= MAX_STEPS;
          draw(canvases[f], g.state, g.steps, g.over);
        });
        await new Promise((r) => setTimeout(r, TAU * 1000)); // real time: one step every 0.02 s
      }
    }
    play.addEventListener("click", run);
    run();
  });
  window.xdlDemos.dqn.step = step; // for the test that checks the physics against gymnasium
})();
