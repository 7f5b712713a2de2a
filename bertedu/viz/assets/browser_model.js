// bertedu's BERT-Tiny in the page: the reader types a sentence (pair), the shipped
// BERT-Tiny runs in the browser through onnxruntime-web, and the pair joins the
// attention explorer (explorer.js) with its fill-mask top-5 and NSP probability.
// bertedu/viz/widget.py puts this file before explorer.js in the explorer widget's front
// end (its _esm). Nothing is loaded before the first press of the button.
//
// Files (under the book's _static/, made by the build; see bertedu/viz/browser_model.py
// and scripts/fetch_web_assets.sh): classic scripts that each store base64 bytes in
// window.berteduAssets[name]. A page opened from file:// may not fetch() or import()
// its neighbours, but it may load classic scripts (a script element), so this works
// from disk and over http.
(function () {
  "use strict";
  var SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
  var SPECIAL_SPLIT = /(\[(?:PAD|UNK|CLS|SEP|MASK)\])/;
  // "Control" as the tokenizers library has it: Cc, Cf and Co, not unassigned code points
  // (Cn). Its Unicode tables are older than a browser's: a character assigned since (such
  // as U+0890, Cf since Unicode 14) may be treated differently; nothing common is.
  var CONTROL = /[\p{Cc}\p{Cf}\p{Co}]/u, MARK = /\p{Mn}/u, PUNCT = /\p{P}/u;
  // Unicode White_Space (Rust's char::is_whitespace), as the tokenizers library uses.
  var WHITE = /[\t\n\u000B\u000C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]/;
  // BERT's "CJK" blocks: each such character becomes a word of its own. The tokenizers
  // library (which the book's tokenizer runs) starts its sixth block at 0x2B920, not at
  // 0x2B820 as Google's code does.
  var CJK = [[0x4E00, 0x9FFF], [0x3400, 0x4DBF], [0x20000, 0x2A6DF], [0x2A700, 0x2B73F],
    [0x2B740, 0x2B81F], [0x2B920, 0x2CEAF], [0xF900, 0xFAFF], [0x2F800, 0x2FA1F]];
  var MAX_CHARS_PER_WORD = 100;

  function isCjk(cp) {
    for (var i = 0; i < CJK.length; i++) if (cp >= CJK[i][0] && cp <= CJK[i][1]) return true;
    return false;
  }
  function isPunctuation(ch) {
    var cp = ch.codePointAt(0);
    return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
      (cp >= 123 && cp <= 126) || PUNCT.test(ch);
  }

  // bert-base-uncased's WordPiece tokenizer (BertNormalizer, BertPreTokenizer, WordPiece),
  // as bertedu.tokenization.load_tokenizer() runs it: the same vocabulary, the same pieces.
  function Tokenizer(vocabText) {
    this.vocab = vocabText.replace(/\n$/, "").split("\n");
    this.ids = new Map();
    for (var i = 0; i < this.vocab.length; i++) this.ids.set(this.vocab[i], i);
  }

  // Clean (drop control characters, whitespace to spaces), space out CJK characters,
  // strip accents (NFD, drop nonspacing marks), lower-case character by character.
  Tokenizer.prototype.normalize = function (text) {
    var out = [];
    Array.from(text).forEach(function (ch) {
      var cp = ch.codePointAt(0);
      if (cp === 0 || cp === 0xFFFD || (CONTROL.test(ch) && !"\t\n\r".includes(ch))) return;
      if (WHITE.test(ch)) out.push(" ");
      else if (isCjk(cp)) out.push(" ", ch, " ");
      else out.push(ch);
    });
    return Array.from(out.join("").normalize("NFD"))
      .filter(function (ch) { return !MARK.test(ch); })
      .map(function (ch) { return ch.toLowerCase(); }).join("");
  };

  // Words: split at whitespace, every punctuation character a word of its own.
  Tokenizer.prototype.words = function (text) {
    var words = [], current = "";
    Array.from(text).forEach(function (ch) {
      if (WHITE.test(ch) || isPunctuation(ch)) {
        if (current) words.push(current);
        current = "";
        if (!WHITE.test(ch)) words.push(ch);
      } else current += ch;
    });
    if (current) words.push(current);
    return words;
  };

  // Greedy longest-match-first WordPieces of one word (## marks a continuation).
  Tokenizer.prototype.wordpiece = function (word) {
    var chars = Array.from(word), pieces = [], start = 0;
    if (chars.length > MAX_CHARS_PER_WORD) return ["[UNK]"];
    while (start < chars.length) {
      var end = chars.length, found = null;
      while (end > start) {
        var piece = (start > 0 ? "##" : "") + chars.slice(start, end).join("");
        if (this.ids.has(piece)) { found = piece; break; }
        end--;
      }
      if (found === null) return ["[UNK]"];
      pieces.push(found);
      start = end;
    }
    return pieces;
  };

  // The text's WordPieces; [CLS], [SEP], [MASK], [PAD], [UNK] typed as such stay whole.
  Tokenizer.prototype.tokenize = function (text) {
    var self = this, tokens = [];
    String(text).split(SPECIAL_SPLIT).forEach(function (part) {
      if (SPECIAL.indexOf(part) >= 0) { tokens.push(part); return; }
      self.words(self.normalize(part)).forEach(function (word) {
        Array.prototype.push.apply(tokens, self.wordpiece(word));
      });
    });
    return tokens;
  };

  // [CLS] a [SEP] (b [SEP]) cut to maxLength as the tokenizers library's "longest_first"
  // cuts a pair; the note says what was cut (bertedu.viz.attention.encode_for's words).
  Tokenizer.prototype.encode = function (textA, textB, maxLength) {
    var a = this.tokenize(textA), b = textB ? this.tokenize(textB) : [];
    var pair = b.length > 0, budget = maxLength - (pair ? 3 : 2);
    var full = a.length + b.length + (pair ? 3 : 2), n1 = a.length, n2 = b.length;
    if (!pair) n1 = Math.min(n1, budget);
    else if (n1 + n2 > budget) {
      var swap = n1 > n2, short = Math.min(n1, n2), long;
      long = short > budget ? short : Math.max(short, budget - short);
      if (short + long > budget) { short = Math.floor(budget / 2); long = short + budget % 2; }
      n1 = swap ? long : short;
      n2 = swap ? short : long;
    }
    a = a.slice(0, n1);
    b = b.slice(0, n2);
    var tokens = ["[CLS]"].concat(a, ["[SEP]"]), types = tokens.map(function () { return 0; });
    if (pair) {
      tokens = tokens.concat(b, ["[SEP]"]);
      for (var i = 0; i <= b.length; i++) types.push(1);
    }
    var ids = this.ids, note = null;
    if (tokens.length < full) {
      note = "Input truncated: it has " + full + " tokens, the model is shown the first " +
        tokens.length + " (max_length=" + maxLength + "); WordPieces were cut from " +
        (pair ? "the end of the longer sentence." : "the end.");
    }
    return {tokens: tokens, ids: tokens.map(function (t) { return ids.get(t); }), types: types,
      pair: pair, note: note, fullLength: full};
  };

  // ----- loading the runtime and the model, once ---------------------------------------------
  var assets = window.berteduAssets = window.berteduAssets || {};
  var loading = null;

  function loadScript(url) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = url;
      script.onload = function () { resolve(); };
      script.onerror = function () { reject(new Error("could not load " + url)); };
      document.head.appendChild(script);
    });
  }

  function base64Bytes(text) {
    var binary = atob(text), bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  // The bytes a file stores under `key` (gunzipped when the key ends in .gz).
  function asset(url, key) {
    return loadScript(url).then(function () {
      if (typeof assets[key] !== "string") throw new Error(url + " did not define " + key);
      var bytes = base64Bytes(assets[key]);
      delete assets[key]; // the page keeps the bytes, not a second copy as text
      if (!/\.gz$/.test(key)) return bytes;
      var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      return new Response(stream).arrayBuffer().then(function (buffer) { return new Uint8Array(buffer); });
    });
  }

  // The book's _static/ folder, from the page's Sphinx root; null outside the built book.
  function staticRoot() {
    var root = document.documentElement.getAttribute("data-content_root");
    return root === null ? null : new URL(root + "_static/", document.baseURI).href;
  }

  function load(files) {
    if (loading) return loading;
    var base = staticRoot(), started = performance.now();
    if (base === null) {
      return Promise.reject(new Error("the model's files are part of the built book, not of this notebook"));
    }
    var ort = base + files.ort, model = base + files.model;
    loading = Promise.all([
      loadScript(ort + "ort.wasm.min.js"),
      asset(ort + "ort-glue.js", "ort-wasm-simd-threaded.mjs"),
      asset(ort + "ort-wasm.js", "ort-wasm-simd-threaded.wasm.gz"),
      asset(model + "model.js", "bert-tiny.onnx.gz"),
      asset(model + "vocab.js", "vocab.txt.gz")
    ]).then(function (parts) {
      var ortApi = window.ort;
      // One thread: a page from file:// (or http without cross-origin isolation) has no
      // SharedArrayBuffer. The runtime's ES module comes from a blob: URL, its .wasm as bytes.
      ortApi.env.wasm.numThreads = 1;
      ortApi.env.wasm.proxy = false;
      ortApi.env.wasm.wasmPaths = {mjs: URL.createObjectURL(new Blob([parts[1]], {type: "text/javascript"}))};
      ortApi.env.wasm.wasmBinary = parts[2];
      return ortApi.InferenceSession.create(parts[3], {executionProviders: ["wasm"]}).then(function (session) {
        return {session: session, ort: ortApi, modelBytes: parts[3].length,
          tokenizer: new Tokenizer(new TextDecoder().decode(parts[4])),
          seconds: (performance.now() - started) / 1000};
      });
    });
    loading.catch(function () { loading = null; }); // a failed load may be tried again
    return loading;
  }

  function softmax(row) {
    var top = -Infinity, sum = 0, out = new Float64Array(row.length), i;
    for (i = 0; i < row.length; i++) top = Math.max(top, row[i]);
    for (i = 0; i < row.length; i++) { out[i] = Math.exp(row[i] - top); sum += out[i]; }
    for (i = 0; i < row.length; i++) out[i] /= sum;
    return out;
  }

  function topK(probabilities, k, vocab) {
    var best = [];
    for (var i = 0; i < probabilities.length; i++) {
      if (best.length < k || probabilities[i] > best[best.length - 1].probability) {
        best.push({id: i, token: vocab[i], probability: probabilities[i]});
        best.sort(function (x, y) { return y.probability - x.probability; });
        if (best.length > k) best.pop();
      }
    }
    return best;
  }

  // Run BERT-Tiny on a sentence (pair): tokens, every attention map, MLM and NSP outputs.
  // Rejects with a message for the reader when there is nothing to run on.
  function run(files, textA, textB, maxLength) {
    textA = String(textA || "");
    textB = String(textB || "");
    if (!textA.trim()) return Promise.reject(new Error("Sentence A is empty: type a sentence to see its attention maps."));
    return load(files).then(function (loaded) {
      var tokenizer = loaded.tokenizer;
      if (!tokenizer.tokenize(textA).length) {
        throw new Error("Sentence A has no WordPieces after tokenization (only whitespace or " +
          "control characters): type some words.");
      }
      var encoded = tokenizer.encode(textA, textB.trim() ? textB : "", maxLength);
      var n = encoded.ids.length, ort = loaded.ort;
      var feeds = {
        input_ids: new ort.Tensor("int64", BigInt64Array.from(encoded.ids, BigInt), [1, n]),
        token_type_ids: new ort.Tensor("int64", BigInt64Array.from(encoded.types, BigInt), [1, n])
      };
      var started = performance.now();
      return loaded.session.run(feeds).then(function (out) {
        var dims = out.attentions.dims, vocabSize = out.mlm_logits.dims[2];
        var logits = out.mlm_logits.data, nsp = Array.from(out.nsp_logits.data);
        var masks = [];
        encoded.tokens.forEach(function (token, position) {
          if (token !== "[MASK]") return;
          var row = logits.subarray(position * vocabSize, (position + 1) * vocabSize);
          masks.push({position: position, top: topK(softmax(row), 5, tokenizer.vocab)});
        });
        return {
          tokens: encoded.tokens, ids: encoded.ids, token_type_ids: encoded.types, note: encoded.note,
          pair: encoded.pair, layers: dims[1], heads: dims[2], attentions: out.attentions.data,
          mlm_logits: logits, vocab_size: vocabSize, nsp_logits: nsp, is_next: softmax(nsp)[0],
          masks: masks, run_seconds: (performance.now() - started) / 1000, load_seconds: loaded.seconds
        };
      });
    });
  }

  // ----- the panel inside an explorer ---------------------------------------------------------
  function node(tag, attrs, parent, text) {
    var element = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { element.setAttribute(name, attrs[name]); });
    if (text !== undefined) element.textContent = text; // text only: typed markup stays text
    if (parent) parent.appendChild(element);
    return element;
  }

  function shorten(text, limit) {
    text = text.split(/\s+/).filter(Boolean).join(" ");
    return text.length <= limit ? text : text.slice(0, limit - 1).trimEnd() + "\u2026";
  }

  function showResult(box, result) {
    box.textContent = "";
    result.masks.forEach(function (mask, index) {
      var line = node("div", {"class": "bx-fill"}, box);
      node("b", {}, line, "[MASK] " + (index + 1) + " (position " + mask.position + "): ");
      node("span", {}, line, mask.top.map(function (p) {
        return p.token + " " + p.probability.toFixed(3);
      }).join(", "));
    });
    if (!result.masks.length) node("div", {"class": "bx-fill"}, box, "No [MASK] in the input: type [MASK] where a word is hidden to see BERT-Tiny's top 5.");
    if (result.pair) node("div", {"class": "bx-fill"}, box, "Next-sentence probability (B follows A): " + result.is_next.toFixed(3));
  }

  // The text box of an explorer, above its picture. In the built book it runs BERT-Tiny
  // in the page (data.browser names the model); in Jupyter it asks the kernel, which runs
  // every model of the explorer (data.kernel_input: the explorer can add sentences). It
  // returns the panel (kernelReady, kernelMessage), or null when neither can run.
  function mountPanel(explorer) {
    var spec = explorer.data.browser, inBook = staticRoot() !== null;
    if (inBook ? !spec : !explorer.data.kernel_input) return null;
    var panel = node("div", {"class": "bx-run"});
    explorer.root.insertBefore(panel, explorer.caption);
    var title = inBook ? "Your own sentences, in this page: " + explorer.data.models[spec.model].name
      : "Your own sentences, in the kernel: every model of the explorer";
    node("div", {"class": "bx-run-title"}, panel, title);
    var inputs = node("div", {"class": "bx-row"}, panel);
    function box(label, placeholder, control) {
      var wrap = node("label", {"class": "bx-field bx-text"}, inputs);
      node("span", {"class": "bx-label"}, wrap, label);
      return node("input", {type: "text", placeholder: placeholder, "data-control": control, maxlength: "20000"}, wrap);
    }
    var textA = box("Sentence A", "the capital of france is [MASK].", "text_a");
    var textB = box("Sentence B", "optional", "text_b");
    var button = node("button", {type: "button", "class": "bx-button", "data-control": "run"}, inputs,
      inBook ? "Run BERT-Tiny here" : "Run in the kernel");
    node("div", {"class": "bx-run-note"}, panel, inBook ? spec.note :
      "Type a sentence (and, if you like, a second one) and press the button: the kernel runs " +
      "every model of the explorer on it and adds it to the example menu.");
    var status = node("div", {"class": "bx-status", "aria-live": "polite", "data-role": "status"}, panel);
    var results = node("div", {"class": "bx-results", "data-role": "results"}, panel);
    function say(text, state) {
      status.textContent = text;
      status.setAttribute("data-state", state);
    }
    function runHere() {
      if (button.disabled) return; // a run is under way (Enter pressed again)
      button.disabled = true;
      results.textContent = ""; // never leave the last sentence's top 5 under a new input
      status.textContent = loading ? "Running BERT-Tiny ..." : "Loading the runtime and the model (once) ...";
      run(spec.files, textA.value, textB.value, spec.max_length).then(function (result) {
        var label = shorten(result.pair ? textA.value + " | " + textB.value : textA.value, 70);
        var index = explorer.addExample(spec.model, {label: label, queries: result.tokens, note: result.note,
          floats: result.attentions});
        explorer.set({model: spec.model, example: index});
        showResult(results, result);
        say("Added as example " + (index + 1) + " of " + explorer.data.models[spec.model].name +
          " (loaded in " + result.load_seconds.toFixed(1) + " s; this run " + (result.run_seconds * 1000).toFixed(0) + " ms).",
          "done");
      }).catch(function (error) {
        say("Nothing added: " + (error && error.message ? error.message : String(error)), "error");
      }).then(function () { button.disabled = false; });
    }
    function runInKernel() {
      results.textContent = "";
      status.removeAttribute("data-state");
      status.textContent = "Running the models in the kernel ...";
      explorer.kernel.send(textA.value, textB.value);
    }
    var submit = inBook ? runHere : runInKernel;
    button.addEventListener("click", function () { submit(); });
    [textA, textB].forEach(function (input) {
      input.addEventListener("keydown", function (event) { if (event.key === "Enter") submit(); });
    });
    return {
      // In Jupyter the button works once the widget is connected to its kernel model.
      kernelReady: function () { if (!inBook && explorer.kernel.message()) say(explorer.kernel.message(), "done"); },
      // The kernel's answer: what was added, or why nothing was.
      kernelMessage: function (text) {
        if (!inBook) say(text, /^Nothing added/.test(text) ? "error" : "done");
      }
    };
  }

  window.berteduBrowserModel = {Tokenizer: Tokenizer, load: load, run: run, mountPanel: mountPanel};
})();
