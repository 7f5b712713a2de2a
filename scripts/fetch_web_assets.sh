#!/usr/bin/env bash
# Fetch the JavaScript the built book needs to render math and widgets offline:
# MathJax 3 (SVG output), require.js, the ipywidgets HTML manager, anywidget's front
# end (the attention explorer and chapter 2's slider are anywidgets), and
# onnxruntime-web (the runtime that runs chapter 8's BERT-Tiny in the page). They come
# from the npm registry with `npm pack` and land in book/static/vendor/, which
# is git-ignored (third-party files are never committed) and is NOT the book's
# _static/ (Jupyter Book would add every .js there to every page).
# Without npm, say so and leave the folder empty: the book build then falls back
# to the CDN copies (the book still builds; math needs a network to render).
set -euo pipefail
cd "$(dirname "$0")/.."

MATHJAX=mathjax@3.2.2
REQUIREJS=requirejs@2.3.8
HTML_MANAGER=@jupyter-widgets/html-manager@1.0.6
ORT_WEB=onnxruntime-web@1.31.1
# The same version as the Python package anywidget in requirements.txt.
ANYWIDGET=anywidget@0.11.0
VENDOR=book/static/vendor
STAMP="$MATHJAX $REQUIREJS $HTML_MANAGER fonts $ORT_WEB $ANYWIDGET"

if [ -f "$VENDOR/.complete" ] && [ "$(cat "$VENDOR/.complete")" = "$STAMP" ]; then
  echo "Web assets already in $VENDOR."
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: the book will load MathJax, require.js and the widget manager from CDNs," >&2
  echo "so math and widgets render only with a network. Install Node.js/npm and rerun 'make book' for an offline book." >&2
  rm -rf "$VENDOR"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$MATHJAX" "$REQUIREJS" "$HTML_MANAGER" "$ORT_WEB" "$ANYWIDGET" >/dev/null)
for tarball in "$work"/*.tgz; do
  mkdir -p "${tarball%.tgz}" && tar -xzf "$tarball" -C "${tarball%.tgz}"
done

rm -rf "$VENDOR" && mkdir -p "$VENDOR/mathjax" "$VENDOR/widgets" "$VENDOR/ort" "$VENDOR/anywidget"
cp "$work"/mathjax-*/package/es5/tex-svg.js "$VENDOR/mathjax/"
cp "$work"/requirejs-*/package/require.js "$VENDOR/"
# The manager's scripts and the icon fonts its stylesheet loads next to them.
for pattern in '*.js' '*.woff2' '*.woff' '*.ttf' '*.eot' '*.svg'; do
  find "$work"/jupyter-widgets-html-manager-*/package/dist -maxdepth 1 -name "$pattern" \
    -exec cp {} "$VENDOR/widgets/" \;
done
# anywidget's front end: one AMD module (it defines itself over @jupyter-widgets/base,
# which the manager's embed-amd.js defines); book/static/js/widgets-offline.js points
# require.js at it, so the manager never asks a CDN for it. It loads each widget's own
# ES module (its _esm, stored in the widget state) from a blob: URL, which works from file://.
cp "$work"/anywidget-*/package/dist/index.js "$VENDOR/anywidget/"
# onnxruntime-web, WebAssembly backend only: its classic-script API (ort.wasm.min.js)
# and the single-module build of the runtime (the page runs it on one thread: a page
# from file:// is never cross-origin isolated, so it has no SharedArrayBuffer). A
# file:// page may not fetch() or import() its neighbours, only load classic scripts,
# so the runtime's ES module and its .wasm are stored as base64 (the .wasm gzipped) in
# scripts that set window.berteduAssets[name]; explorer.js loads them on first use.
ort="$(echo "$work"/onnxruntime-web-*/package/dist)"
cp "$ort/ort.wasm.min.js" "$VENDOR/ort/"
asset_script() {  # asset_script KEY < bytes: the script that stores them
  printf '// %s from %s (npm), as base64: see scripts/fetch_web_assets.sh.\n' "$1" "$ORT_WEB"
  printf '(window.berteduAssets = window.berteduAssets || {})["%s"] = "' "$1"
  base64 -w0
  printf '";\n'
}
asset_script ort-wasm-simd-threaded.mjs < "$ort/ort-wasm-simd-threaded.mjs" > "$VENDOR/ort/ort-glue.js"
gzip -9nc "$ort/ort-wasm-simd-threaded.wasm" | asset_script ort-wasm-simd-threaded.wasm.gz \
  > "$VENDOR/ort/ort-wasm.js"
echo "$STAMP" > "$VENDOR/.complete"
echo "Fetched $MATHJAX, $REQUIREJS, $HTML_MANAGER, $ANYWIDGET and $ORT_WEB into $VENDOR ($(du -sh "$VENDOR" | cut -f1))."
