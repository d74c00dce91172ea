// textcnn: type a review; both exports' probability that it is positive, side by side. The text
// becomes ids as the Python side makes them (window.xdlDemo.encode), 500 ids, pre-padded.
(function () {
  const EXAMPLE = "w3 w17 the acting was not very good w8 w1 the music was brilliant w2 the ending felt never dull";

  window.xdlDemo.mount("textcnn", (box) => {
    const hint = document.createElement("p");
    hint.className = "xdl-demo-status";
    hint.textContent = "Write a review in the corpus's words: 'the <noun> <verb> [not] [very] <adjective>' clauses " +
      "(movie, plot, acting...; was, seemed...; good, dull...) among filler words w0 to w999.";
    const text = document.createElement("input");
    text.type = "text";
    text.className = "xdl-demo-text";
    text.value = EXAMPLE;
    const ids = document.createElement("p");
    ids.className = "xdl-demo-ids";
    box.append(hint, text, ids);
    const parts = window.xdlDemo.columns(box, window.xdlDemo.answer);
    async function ask() {
      const { ids: tokens, unknown } = window.xdlDemo.encode("textcnn", text.value);
      const first = tokens.findIndex((t) => t !== 0);
      ids.textContent = "ids: " + tokens.slice(first).join(" ") + ` (after ${first} pads)` +
        (unknown.length ? "; unknown, id 2: " + unknown.join(", ") : "");
      const out = await window.xdlDemos.textcnn.run({ tokens: [tokens] });
      for (const f of ["keras", "torch"]) {
        const p = out[f].prob[0][0];
        parts[f].textContent = `P(positive) = ${p.toFixed(4)}: ${p >= 0.5 ? "positive" : "negative"}`;
      }
    }
    text.addEventListener("input", ask);
    ask();
  }, ["vocabulary.js"]);
})();
