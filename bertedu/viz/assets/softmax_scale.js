// Chapter 2's softmax-scale slider: the weights softmax(scores / divisor) of one query over
// its keys, drawn as bars, for a divisor the reader picks. The front end (an ES module)
// of the Jupyter widget bertedu.viz.softmax_scale.SoftmaxScale (anywidget): in a kernel
// Python reads and sets `divide_by`; in the static book the stored state carries the
// scores and the slider redraws in the browser, with no kernel.
var SVG_NS = "http://www.w3.org/2000/svg";
var BAR_COLOR = "#2563eb";

function element(ns, tag, attrs, parent, text) {
  var node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

export function softmax(scores, divisor) {
  var scaled = scores.map(function (s) { return s / divisor; });
  var top = Math.max.apply(null, scaled), sum = 0;
  var out = scaled.map(function (s) { var e = Math.exp(s - top); sum += e; return e; });
  return out.map(function (e) { return e / sum; });
}

// The bars of one divisor: keys along x, weight 0 to 1 up y, the uniform 1/n dotted.
function drawBars(figure, weights, divisor) {
  var width = 560, height = 210, left = 44, bottom = 34, top = 26, right = 10;
  var plotW = width - left - right, plotH = height - top - bottom, n = weights.length;
  figure.textContent = "";
  var picture = element(SVG_NS, "svg", {width: width, height: height, viewBox: "0 0 " + width + " " + height,
    role: "img", "class": "ss-bars"}, figure);
  var largest = Math.max.apply(null, weights);
  element(SVG_NS, "text", {x: left + plotW / 2, y: 16, "text-anchor": "middle", "class": "ss-title"}, picture,
    "softmax(q\u00b7k / " + divisor.toFixed(1) + "): largest weight " + largest.toFixed(2));
  function y(value) { return top + plotH * (1 - value); }
  [0, 0.5, 1].forEach(function (tick) {
    element(SVG_NS, "line", {x1: left - 4, x2: left, y1: y(tick), y2: y(tick), stroke: "#555"}, picture);
    element(SVG_NS, "text", {x: left - 7, y: y(tick) + 4, "text-anchor": "end", "class": "ss-tick"}, picture,
      String(tick));
  });
  element(SVG_NS, "line", {x1: left, x2: left, y1: top, y2: top + plotH, stroke: "#555"}, picture);
  element(SVG_NS, "line", {x1: left, x2: left + plotW, y1: top + plotH, y2: top + plotH, stroke: "#555"}, picture);
  var slot = plotW / n;
  weights.forEach(function (weight, key) {
    element(SVG_NS, "rect", {x: left + key * slot + slot * 0.1, y: y(weight), width: slot * 0.8,
      height: plotH * weight, fill: BAR_COLOR, "data-weight": weight.toFixed(6)}, picture);
    element(SVG_NS, "text", {x: left + (key + 0.5) * slot, y: top + plotH + 14, "text-anchor": "middle",
      "class": "ss-tick"}, picture, String(key));
  });
  element(SVG_NS, "line", {x1: left, x2: left + plotW, y1: y(1 / n), y2: y(1 / n), stroke: "gray",
    "stroke-dasharray": "2 3"}, picture);
  element(SVG_NS, "text", {x: left + plotW / 2, y: height - 4, "text-anchor": "middle", "class": "ss-tick"},
    picture, "key (dotted: the uniform weight 1/" + n + ")");
}

function render(context) {
  var model = context.model, el = context.el;
  var root = element(null, "div", {"class": "ss tex2jax_ignore mathjax_ignore"}, el);
  var row = element(null, "label", {"class": "ss-row"}, root);
  element(null, "span", {"class": "ss-label"}, row, "divide by");
  var slider = element(null, "input", {type: "range", "data-control": "divide_by",
    min: String(model.get("min_exponent")), max: String(model.get("max_exponent")),
    step: String(model.get("step"))}, row);
  var readout = element(null, "output", {"class": "ss-value"}, row);
  var figure = element(null, "div", {"class": "ss-figure"}, root);
  function draw() {
    var divisor = model.get("divide_by");
    slider.value = String(Math.log2(divisor));
    readout.textContent = divisor.toFixed(1);
    drawBars(figure, softmax(model.get("scores"), divisor), divisor);
  }
  slider.addEventListener("input", function () {
    model.set("divide_by", Math.pow(2, Number(slider.value)));
    model.save_changes(); // reaches Python in a kernel; in the static book there is none
  });
  model.on("change:divide_by", draw);
  model.on("change:scores", draw);
  draw();
  return function () { model.off("change:divide_by", draw); model.off("change:scores", draw); };
}

export default { render: render };
