// bertedu's attention explorer: the one drawing code of every attention view of the book.
// It is the front end (an ES module) of the Jupyter widget bertedu.viz.widget.AttentionExplorer
// (anywidget): in a kernel, Python sets the state and the maps and this module draws them;
// in the static book, the widget state stored in the page carries the maps of the shipped
// examples, and every control redraws from them in the browser, with no kernel and no
// network. bertedu/viz/widget.py sends this file, after browser_model.js, as the widget's
// _esm, and explorer.css as its _css.
//
// Data (the widget's `data`, made by bertedu/viz/explorer_data.py): models[m].examples[e]
// .weights is base64 of uint8 codes laid out [layer][head][query][key], and
// weight = code / 255 * scale, with one scale (the head's largest weight) per layer and
// head in .scales. An example added in the page (browser_model.js) holds its float32
// weights in .floats instead. The state (model, example, layer, head, view, hide_special)
// is six widget traits; a control sets them (and Python sees it), Python's changes redraw.
var nextId = 0; // names the radio group of each explorer on the page
var SVG_NS = "http://www.w3.org/2000/svg";
var LINE_COLOR = "#1f77b4"; // matplotlib's tab:blue, as in plot_head_view

function html(tag, attrs, parent, text) {
  var node = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function svg(tag, attrs, parent, text) {
  var node = document.createElementNS(SVG_NS, tag);
  Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function decode(base64) {
  var bytes = atob(base64), codes = new Uint8Array(bytes.length);
  for (var i = 0; i < bytes.length; i++) codes[i] = bytes.charCodeAt(i);
  return codes;
}

function parseColormap(hex) {
  var colors = [];
  for (var i = 0; i < hex.length; i += 6) colors.push("#" + hex.slice(i, i + 6));
  return colors;
}

function textWidth(tokens, fontSize) {
  var longest = 0;
  tokens.forEach(function (token) { longest = Math.max(longest, token.length); });
  return Math.ceil(longest * fontSize * 0.66) + 12;
}

// `state`: model (an index into data.models), example, layer, head, view, hide_special.
// `changed(state)` is called after every change a reader makes in the page.
function Explorer(root, payload, state, changed) {
  this.root = root;
  this.changed = changed || function () {};
  this.pinned = null;
  this.load(payload, state);
  this.build();
  this.draw();
}

// New data (from Python: an added sentence), keeping the state where it can.
Explorer.prototype.load = function (payload, state) {
  // The examples' lists are copied: a sentence run in the page joins this explorer's
  // copy, never the widget model's stored data.
  this.data = Object.assign({}, payload, {models: payload.models.map(function (model) {
    return Object.assign({}, model, {examples: model.examples.slice()});
  })});
  this.state = Object.assign({}, state);
  this.colors = parseColormap(payload.colormap);
  this.special = payload.special;
  this.codes = {}; // decoded weights, per "model/example"
};

Explorer.prototype.model = function () { return this.data.models[this.state.model]; };
Explorer.prototype.example = function () { return this.model().examples[this.state.example]; };

// The stored map of the current model and example: get(layer, head, query, key).
Explorer.prototype.maps = function () {
  var model = this.model(), example = this.example();
  var key = this.state.model + "/" + this.state.example;
  if (!example.floats && !this.codes[key]) this.codes[key] = decode(example.weights);
  var codes = this.codes[key], scales = example.scales, queries = example.queries;
  var floats = example.floats;
  var keys = example.keys || queries, heads = model.heads;
  var nq = queries.length, nk = keys.length;
  var hide = this.state.hide_special, special = this.special;
  function shown(tokens) { // positions kept on screen (all, or all but the special tokens)
    var kept = [];
    tokens.forEach(function (token, i) { if (!hide || special.indexOf(token) < 0) kept.push(i); });
    return kept;
  }
  return {
    queries: queries, keys: keys, q: shown(queries), k: shown(keys),
    get: function (layer, head, i, j) {
      var at = ((layer * heads + head) * nq + i) * nk + j;
      return floats ? floats[at] : codes[at] / 255 * scales[layer * heads + head];
    }
  };
};

Explorer.prototype.color = function (value, top) {
  var index = top > 0 ? Math.floor((value / top) * this.colors.length) : 0;
  return this.colors[Math.max(0, Math.min(this.colors.length - 1, index))];
};

Explorer.prototype.build = function () {
  var self = this, data = this.data, root = this.root;
  root.textContent = "";
  if (data.title) html("div", {"class": "bx-title"}, root, data.title);
  var controls = html("div", {"class": "bx-controls"}, root);
  // Three rows: what is shown (model, example), where (layer, head), how (view, hide).
  var rows = [0, 1, 2].map(function () { return html("div", {"class": "bx-row"}, controls); });
  this.controls = {};

  function field(label, control, row) {
    var wrap = html("label", {"class": "bx-field"}, rows[row]);
    html("span", {"class": "bx-label"}, wrap, label);
    wrap.appendChild(control);
    return wrap;
  }
  var modelMenu = html("select", {"data-control": "model"});
  data.models.forEach(function (model, i) { html("option", {value: String(i)}, modelMenu, model.name); });
  modelMenu.value = String(this.state.model);
  modelMenu.addEventListener("change", function () { self.set({model: Number(modelMenu.value)}); });
  field("Model", modelMenu, 0);
  this.controls.model = modelMenu;

  var exampleMenu = html("select", {"data-control": "example"});
  exampleMenu.addEventListener("change", function () { self.set({example: Number(exampleMenu.value)}); });
  field("Example", exampleMenu, 0);
  this.controls.example = exampleMenu;

  ["layer", "head"].forEach(function (name) {
    var slider = html("input", {type: "range", min: "0", step: "1", "data-control": name});
    var wrap = field(name === "layer" ? "Layer" : "Head", slider, 1);
    var value = html("output", {"class": "bx-value"}, wrap);
    slider.addEventListener("input", function () {
      var change = {}; change[name] = Number(slider.value); self.set(change);
    });
    self.controls[name] = slider;
    self.controls[name + "Value"] = value;
  });

  var views = html("div", {"class": "bx-views", role: "radiogroup", "aria-label": "View"}, rows[2]);
  this.viewButtons = {};
  var group = "bx-view-" + (nextId++);
  data.views.forEach(function (view) {
    var label = html("label", {"class": "bx-view"}, views);
    var radio = html("input", {type: "radio", name: group, value: view[0], "data-control": "view"}, label);
    html("span", {}, label, view[1]);
    radio.addEventListener("change", function () { if (radio.checked) self.set({view: view[0]}); });
    self.viewButtons[view[0]] = radio;
  });

  var hide = html("input", {type: "checkbox", "data-control": "hide_special"});
  hide.addEventListener("change", function () { self.set({hide_special: hide.checked}); });
  var hideLabel = html("label", {"class": "bx-field bx-hide"}, rows[2]);
  hideLabel.appendChild(hide);
  html("span", {}, hideLabel, "hide " + this.special.join(" "));
  this.controls.hide_special = hide;

  this.caption = html("div", {"class": "bx-caption", "aria-live": "polite"}, root);
  this.note = html("div", {"class": "bx-note"}, root);
  this.figure = html("div", {"class": "bx-figure"}, root);
  this.readout = html("div", {"class": "bx-readout"}, root);
  html("div", {"class": "bx-footer"}, root, data.kernel_note);
  this.panel = window.berteduBrowserModel ? window.berteduBrowserModel.mountPanel(this) : null;
};

// Add an example to a model's menu (a sentence run in the page); returns its index.
Explorer.prototype.addExample = function (modelIndex, example) {
  var examples = this.data.models[modelIndex].examples;
  examples.push(example);
  this.controls.example.dataset.model = ""; // the menu is rebuilt at the next draw
  return examples.length - 1;
};

// Apply a change of state, keep the controls in range and in step, redraw.
// `quiet`: the change came from outside (Python), so it is not reported back.
Explorer.prototype.set = function (change, quiet) {
  Object.assign(this.state, change);
  var model = this.model();
  this.state.layer = Math.max(0, Math.min(model.layers - 1, this.state.layer));
  this.state.head = Math.max(0, Math.min(model.heads - 1, this.state.head));
  this.state.example = Math.max(0, Math.min(model.examples.length - 1, this.state.example));
  if (change.model !== undefined || change.example !== undefined) this.pinned = null;
  this.draw();
  if (!quiet) this.changed(Object.assign({}, this.state));
};

Explorer.prototype.syncControls = function () {
  var c = this.controls, s = this.state, model = this.model();
  c.model.value = String(s.model);
  if (c.example.dataset.model !== String(s.model)) {
    c.example.textContent = "";
    model.examples.forEach(function (example, i) { html("option", {value: String(i)}, c.example, example.label); });
    c.example.dataset.model = String(s.model);
  }
  c.example.value = String(s.example);
  c.layer.max = String(model.layers - 1);
  c.head.max = String(model.heads - 1);
  c.layer.value = String(s.layer);
  c.head.value = String(s.head);
  c.layerValue.textContent = String(s.layer);
  c.headValue.textContent = String(s.head);
  this.viewButtons[s.view].checked = true;
  c.hide_special.checked = Boolean(s.hide_special);
};

Explorer.prototype.draw = function () {
  this.syncControls();
  var s = this.state, model = this.model(), example = this.example();
  var viewName = this.data.views.filter(function (v) { return v[0] === s.view; })[0][1];
  var where = s.view === "model" ? "every layer and head (layer " + s.layer + ", head " + s.head + " framed)"
    : "layer " + s.layer + ", head " + s.head;
  this.caption.textContent = model.name + " \u00b7 " + viewName + " \u00b7 " + where +
    (s.hide_special ? " \u00b7 special tokens hidden" : "");
  this.note.textContent = example.note || "";
  this.figure.textContent = "";
  this.readout.textContent = "";
  this.root.setAttribute("data-state", JSON.stringify(s));
  var maps = this.maps();
  if (!maps.q.length || !maps.k.length) {
    html("p", {"class": "bx-empty"}, this.figure, "Nothing to draw: one side has only special tokens. " +
      "Untick \u201chide\u201d to see them.");
  } else if (s.view === "head") this.drawHeadView(maps);
  else if (s.view === "heatmap") this.drawHeatmap(maps);
  else this.drawModelView(maps);
};

// bertviz's head view: queries on the left, keys on the right, a line per weight.
Explorer.prototype.drawHeadView = function (maps) {
  var self = this, s = this.state, threshold = this.data.threshold;
  var font = 13, row = 19, top = 26, gap = 8, span = 170;
  var left = maps.q.map(function (i) { return maps.queries[i]; });
  var right = maps.k.map(function (j) { return maps.keys[j]; });
  var axes = this.data.axes; // the column headings must fit as well as the tokens
  var leftWidth = Math.max(textWidth(left, font), textWidth([axes[0]], 11), 60);
  var rightWidth = Math.max(textWidth(right, font), textWidth([axes[1]], 11), 60);
  var x1 = leftWidth + gap, x2 = x1 + span, width = x2 + gap + rightWidth;
  var height = top + Math.max(left.length, right.length) * row + 6;
  var picture = svg("svg", {"class": "bx-svg bx-head-view", width: width, height: height,
    viewBox: "0 0 " + width + " " + height, role: "img",
    "aria-label": "head view of layer " + s.layer + ", head " + s.head}, this.figure);
  svg("text", {x: x1 - 4, y: 14, "text-anchor": "end", "class": "bx-axis"}, picture, this.data.axes[0]);
  svg("text", {x: x2 + 4, y: 14, "class": "bx-axis"}, picture, this.data.axes[1]);
  var lines = svg("g", {"class": "bx-lines"}, picture);
  var drawn = [];
  maps.q.forEach(function (i, a) {
    maps.k.forEach(function (j, b) {
      var weight = maps.get(s.layer, s.head, i, j);
      if (weight < threshold) return;
      var line = svg("line", {x1: x1, y1: top + a * row + row / 2, x2: x2, y2: top + b * row + row / 2,
        stroke: LINE_COLOR, "stroke-width": 2, "stroke-opacity": Math.min(weight, 1).toFixed(4),
        "data-q": i, "data-k": j}, lines);
      drawn.push({line: line, q: i, k: j, weight: weight});
    });
  });
  var tokens = [];
  function focus(side, index) {
    var active = index === null ? null : {side: side, index: index};
    drawn.forEach(function (d) {
      var keep = !active || (side === "q" ? d.q === index : d.k === index);
      d.line.style.display = keep ? "" : "none";
    });
    tokens.forEach(function (t) { t.node.classList.toggle("bx-active", Boolean(active) && t.side === side && t.index === index); });
    if (!active) { self.readout.textContent = "Hover a token to isolate its lines; click it to pin them."; return; }
    var list = drawn.filter(function (d) { return side === "q" ? d.q === index : d.k === index; })
      .sort(function (a, b) { return b.weight - a.weight; }).slice(0, 3)
      .map(function (d) { return (side === "q" ? maps.keys[d.k] : maps.queries[d.q]) + " " + d.weight.toFixed(2); });
    var name = side === "q" ? maps.queries[index] : maps.keys[index];
    self.readout.textContent = (side === "q" ? name + " attends to: " : "attending to " + name + ": ") +
      (list.length ? list.join(", ") : "no weight above " + threshold);
  }
  function token(side, index, position, x, anchor) {
    var text = svg("text", {x: x, y: top + position * row + row / 2 + 4, "text-anchor": anchor,
      "class": "bx-token", "data-side": side, "data-index": index}, picture,
      side === "q" ? maps.queries[index] : maps.keys[index]);
    tokens.push({node: text, side: side, index: index});
    text.addEventListener("mouseenter", function () { if (!self.pinned) focus(side, index); });
    text.addEventListener("mouseleave", function () { if (!self.pinned) focus(null, null); });
    text.addEventListener("click", function () {
      var same = self.pinned && self.pinned.side === side && self.pinned.index === index;
      self.pinned = same ? null : {side: side, index: index};
      focus(same ? null : side, same ? null : index);
    });
  }
  maps.q.forEach(function (i, a) { token("q", i, a, x1 - 4, "end"); });
  maps.k.forEach(function (j, b) { token("k", j, b, x2 + 4, "start"); });
  var pin = this.pinned;
  var stillThere = pin && (pin.side === "q" ? maps.q : maps.k).indexOf(pin.index) >= 0;
  if (!stillThere) this.pinned = null;
  focus(stillThere ? pin.side : null, stillThere ? pin.index : null);
};

// One head's map: queries down the side, keys along the top, colour scale 0 to its largest weight.
Explorer.prototype.drawHeatmap = function (maps) {
  var self = this, s = this.state;
  var nq = maps.q.length, nk = maps.k.length, font = 11;
  // Square cells for self-attention; a cross-attention map (few answer rows, many
  // source columns) gets rows and columns sized separately, so both stay readable.
  var cellW = Math.max(5, Math.min(22, Math.floor(560 / nk)));
  var cellH = Math.max(5, Math.min(22, Math.floor(440 / nq)));
  if (!this.example().keys) cellW = cellH = Math.min(cellW, cellH);
  var labelLeft = textWidth(maps.q.map(function (i) { return maps.queries[i]; }), font);
  var labelTop = textWidth(maps.k.map(function (j) { return maps.keys[j]; }), font);
  var barX = labelLeft + nk * cellW + 14, width = barX + 60;
  var height = labelTop + Math.max(nq * cellH, 60) + 8;
  var top = 0;
  maps.q.forEach(function (i) { maps.k.forEach(function (j) { top = Math.max(top, maps.get(s.layer, s.head, i, j)); }); });
  var scale = top > 0 ? top : 1;
  var picture = svg("svg", {"class": "bx-svg bx-heatmap", width: width, height: height,
    viewBox: "0 0 " + width + " " + height, role: "img",
    "aria-label": "heatmap of layer " + s.layer + ", head " + s.head}, this.figure);
  var cells = svg("g", {}, picture);
  maps.q.forEach(function (i, a) {
    maps.k.forEach(function (j, b) {
      var weight = maps.get(s.layer, s.head, i, j);
      svg("rect", {x: labelLeft + b * cellW, y: labelTop + a * cellH, width: cellW, height: cellH,
        fill: self.color(weight, scale), "data-q": i, "data-k": j}, cells);
    });
  });
  var rowFont = Math.min(font, cellH), columnFont = Math.min(font, cellW);
  maps.q.forEach(function (i, a) {
    svg("text", {x: labelLeft - 4, y: labelTop + a * cellH + cellH / 2 + rowFont / 3, "text-anchor": "end",
      "font-size": rowFont, "class": "bx-token"}, picture, maps.queries[i]);
  });
  maps.k.forEach(function (j, b) {
    var x = labelLeft + b * cellW + cellW / 2 + columnFont / 3, y = labelTop - 4;
    svg("text", {transform: "translate(" + x + "," + y + ") rotate(-90)", "font-size": columnFont,
      "class": "bx-token"}, picture, maps.keys[j]);
  });
  // Colour bar: 0 at the bottom, the largest weight at the top.
  var barTop = labelTop, barHeight = Math.max(nq * cellH, 60), steps = 32;
  for (var step = 0; step < steps; step++) {
    svg("rect", {x: barX, y: barTop + (barHeight * (steps - 1 - step)) / steps, width: 12,
      height: barHeight / steps + 0.5, fill: self.color(((step + 0.5) / steps) * scale, scale)}, picture);
  }
  svg("text", {x: barX + 16, y: barTop + 9, "class": "bx-tick"}, picture, scale.toFixed(2));
  svg("text", {x: barX + 16, y: barTop + barHeight, "class": "bx-tick"}, picture, "0");
  cells.addEventListener("mousemove", function (event) {
    var target = event.target, i = Number(target.getAttribute("data-q")), j = Number(target.getAttribute("data-k"));
    if (target.tagName !== "rect") return;
    self.readout.textContent = self.data.axes[0] + " " + maps.queries[i] + " (" + i + ") \u2192 " +
      self.data.axes[1] + " " + maps.keys[j] + " (" + j + "): " + maps.get(s.layer, s.head, i, j).toFixed(3);
  });
  this.readout.textContent = "Hover a cell to read its weight. Colour scale: 0 to this head's largest weight (" +
    scale.toFixed(2) + ").";
};

// bertviz's model view: every layer x head as a thumbnail, one colour scale for all.
Explorer.prototype.drawModelView = function (maps) {
  var self = this, s = this.state, model = this.model();
  var nq = maps.q.length, nk = maps.k.length, top = 0, layer, head;
  for (layer = 0; layer < model.layers; layer++) {
    for (head = 0; head < model.heads; head++) {
      maps.q.forEach(function (i) { maps.k.forEach(function (j) { top = Math.max(top, maps.get(layer, head, i, j)); }); });
    }
  }
  var scale = top > 0 ? top : 1;
  var grid = html("div", {"class": "bx-grid", role: "grid"}, this.figure);
  // Thumbnails up to 72 px wide for 12 heads, larger when there are few (at most 140 px).
  var widest = Math.max(72, Math.min(140, Math.floor(480 / model.heads)));
  var thumb = nk >= nq ? widest : Math.max(24, Math.round(widest * nk / nq));
  grid.style.gridTemplateColumns = "max-content repeat(" + model.heads + ", minmax(0, " + thumb + "px))";
  html("div", {"class": "bx-grid-corner"}, grid, "layer \\ head");
  for (head = 0; head < model.heads; head++) html("div", {"class": "bx-grid-head"}, grid, String(head));
  for (layer = 0; layer < model.layers; layer++) {
    html("div", {"class": "bx-grid-layer"}, grid, String(layer));
    for (head = 0; head < model.heads; head++) {
      var canvas = html("canvas", {width: nk, height: nq, "class": "bx-thumb", "data-layer": layer, "data-head": head,
        title: "layer " + layer + ", head " + head + " (click to select)"}, grid);
      // A cross-attention map is wide and flat: its thumbnail is stretched to at least 1:3.
      canvas.style.aspectRatio = nk + " / " + Math.max(nq, nk / 3);
      if (layer === s.layer && head === s.head) canvas.classList.add("bx-selected");
      var context = canvas.getContext("2d"), image = context.createImageData(nk, nq);
      maps.q.forEach(function (i, a) {
        maps.k.forEach(function (j, b) {
          var hex = self.color(maps.get(layer, head, i, j), scale), at = (a * nk + b) * 4;
          image.data[at] = parseInt(hex.slice(1, 3), 16);
          image.data[at + 1] = parseInt(hex.slice(3, 5), 16);
          image.data[at + 2] = parseInt(hex.slice(5, 7), 16);
          image.data[at + 3] = 255;
        });
      });
      context.putImageData(image, 0, 0);
      canvas.addEventListener("click", (function (l, h) {
        return function () { self.set({layer: l, head: h}); };
      })(layer, head));
    }
  }
  this.readout.textContent = "Rows are layers, columns heads; each thumbnail is a head's map (" +
    this.data.axes[0] + " down, " + this.data.axes[1] + " across), all on one colour scale (0 to " +
    scale.toFixed(2) + "). Click a thumbnail to select its layer and head.";
};

var STATE = ["model", "example", "layer", "head", "view", "hide_special"];

// The widget's data with its models parsed: they travel as a JSON string with every <, >
// and & escaped, so no token or label (an HTML comment opener, say) can change the page's
// script element that stores the widget state (explorer_data.py, pack_models).
function unpack(payload) {
  var models = typeof payload.models === "string" ? JSON.parse(payload.models) : payload.models;
  return Object.assign({}, payload, {models: models});
}

// The explorer's state from the widget model's traits (the model's name becomes its index).
function stateOf(model, data) {
  var state = {};
  STATE.forEach(function (name) { state[name] = model.get(name); });
  var index = data.models.map(function (m) { return m.name; }).indexOf(state.model);
  state.model = Math.max(0, index);
  return state;
}

// anywidget's entry point: draw the explorer in `el` and keep it and the traits in step.
function render(context) {
  var model = context.model, el = context.el;
  var root = html("div", {"class": "bx tex2jax_ignore mathjax_ignore"}, el);
  var data = unpack(model.get("data"));
  var explorer = new Explorer(root, data, stateOf(model, data), function (state) {
    STATE.forEach(function (name) {
      model.set(name, name === "model" ? explorer.data.models[state.model].name : state[name]);
    });
    model.save_changes(); // reaches Python in a kernel; in the static book there is none
  });
  root.explorer = explorer; // for the page's own scripts and tests
  // In Jupyter the text box asks the kernel to run the models (bertedu/viz/widget.py).
  explorer.kernel = {
    send: function (textA, textB) { model.send({type: "add_pair", text_a: textA, text_b: textB}); },
    message: function () { return model.get("message"); }
  };
  if (explorer.panel) explorer.panel.kernelReady();
  function fromPython() {
    var state = stateOf(model, explorer.data);
    if (JSON.stringify(state) !== JSON.stringify(explorer.state)) explorer.set(state, true);
  }
  function newData() {
    var fresh = unpack(model.get("data"));
    explorer.load(fresh, stateOf(model, fresh));
    explorer.controls.example.dataset.model = ""; // rebuild the example menu
    explorer.set({}, true);
  }
  function newMessage() { if (explorer.panel) explorer.panel.kernelMessage(model.get("message")); }
  STATE.forEach(function (name) { model.on("change:" + name, fromPython); });
  model.on("change:data", newData);
  model.on("change:message", newMessage);
  return function () {
    STATE.forEach(function (name) { model.off("change:" + name, fromPython); });
    model.off("change:data", newData);
    model.off("change:message", newMessage);
  };
}

export { Explorer };
export default { render: render };
