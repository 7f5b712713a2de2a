// The ipywidgets HTML manager (@jupyter-widgets/html-manager 1.0.x) typesets every
// widget label with MathJax 2's API, MathJax.Hub.Queue(["Typeset", MathJax.Hub, node]),
// whenever window.MathJax exists. The book loads MathJax 3, which has no Hub, so each
// labelled widget threw "Cannot read properties of undefined (reading 'Queue')".
// Whatever object window.MathJax holds (MathJax 3 replaces it when it loads) gets a
// Hub.Queue that forwards to MathJax 3's typesetPromise.
(function () {
  var hub = {
    Queue: function (job) {
      var mathjax = window.MathJax, node = job && job[2];
      if (node && mathjax && typeof mathjax.typesetPromise === "function") {
        mathjax.typesetPromise([node]).catch(function () {});
      }
    }
  };
  var current = window.MathJax;
  function withHub(value) {
    if (value && typeof value === "object" && !value.Hub) value.Hub = hub;
    return value;
  }
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); }
  });
  withHub(current);
})();

// The HTML manager loads its icon fonts relative to the URL requirejs gives its own
// module, "@jupyter-widgets/html-manager/dist/libembed-amd": by default a path relative
// to the page (notebooks/@jupyter-widgets/...: not found). Map that folder to the
// vendored copy (_static/vendor/widgets, next to this file's _static/js). The manager
// asks requirejs for a widget's front end by its module name first ("anywidget" for the
// book's explorer and sliders) and only then a CDN: map that name to the vendored copy
// (scripts/fetch_web_assets.sh) too. _config.yml
// loads this file after require.js and before embed-amd.js, and the manager requires
// its module only once the page has loaded, so configuring requirejs here is in time.
(function () {
  var here = document.currentScript && document.currentScript.src;
  if (!here) return;
  var paths = {
    "@jupyter-widgets/html-manager/dist": new URL("../vendor/widgets", here).href,
    "anywidget": new URL("../vendor/anywidget/index", here).href
  };
  if (typeof window.requirejs === "function") {
    window.requirejs.config({paths: paths});
  } else if (!window.require) {
    window.require = {paths: paths};  // read by require.js when it loads later
  }
})();
