// similarity: two sentences; both exports' probability that they say the same thing. Each
// sentence becomes ids as the lesson's encode makes them (START, then the words' ids, no padding).
(function () {
  const PAIRS = [["the plot was not very good", "the plot seemed never great"],
    ["the plot was not very good", "the acting was not very good"]];

  window.xdlDemo.mount("similarity", (box) => {
    const hint = document.createElement("p");
    hint.className = "xdl-demo-status";
    hint.textContent = "Two sentences in the corpus's words ('the plot was not very good'): do they mean the same?";
    const inputs = PAIRS[0].map((sentence) => {
      const t = document.createElement("input");
      t.type = "text";
      t.className = "xdl-demo-text";
      t.value = sentence;
      return t;
    });
    const ids = document.createElement("p");
    ids.className = "xdl-demo-ids";
    box.append(hint, ...inputs, ids);
    const parts = window.xdlDemo.columns(box, window.xdlDemo.answer);
    async function ask() {
      const [a, b] = inputs.map((t) => window.xdlDemo.encode("similarity", t.value));
      const unknown = a.unknown.concat(b.unknown);
      ids.textContent = `ids: a = ${a.ids.join(" ")}; b = ${b.ids.join(" ")}` +
        (unknown.length ? "; unknown, id 2: " + unknown.join(", ") : "");
      const out = await window.xdlDemos.similarity.run({ a: [a.ids], b: [b.ids] });
      for (const f of ["keras", "torch"]) {
        const p = out[f].prob[0][0];
        parts[f].textContent = `P(same meaning) = ${p.toFixed(4)}: ${p >= 0.5 ? "paraphrases" : "different claims"}`;
      }
    }
    for (const t of inputs) t.addEventListener("input", ask);
    ask();
  }, ["vocabulary.js"]);
})();
