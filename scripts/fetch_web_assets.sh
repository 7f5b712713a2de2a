#!/usr/bin/env bash
# Fetch the JavaScript the built book needs to render math and widgets offline:
# MathJax 3 (SVG output), require.js and the ipywidgets HTML manager. They come
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
VENDOR=book/static/vendor

if [ -f "$VENDOR/.complete" ] && [ "$(cat "$VENDOR/.complete")" = "$MATHJAX $REQUIREJS $HTML_MANAGER fonts" ]; then
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
(cd "$work" && npm pack --silent "$MATHJAX" "$REQUIREJS" "$HTML_MANAGER" >/dev/null)
for tarball in "$work"/*.tgz; do
  mkdir -p "${tarball%.tgz}" && tar -xzf "$tarball" -C "${tarball%.tgz}"
done

rm -rf "$VENDOR" && mkdir -p "$VENDOR/mathjax" "$VENDOR/widgets"
cp "$work"/mathjax-*/package/es5/tex-svg.js "$VENDOR/mathjax/"
cp "$work"/requirejs-*/package/require.js "$VENDOR/"
# The manager's scripts and the icon fonts its stylesheet loads next to them.
for pattern in '*.js' '*.woff2' '*.woff' '*.ttf' '*.eot' '*.svg'; do
  find "$work"/jupyter-widgets-html-manager-*/package/dist -maxdepth 1 -name "$pattern" \
    -exec cp {} "$VENDOR/widgets/" \;
done
echo "$MATHJAX $REQUIREJS $HTML_MANAGER fonts" > "$VENDOR/.complete"
echo "Fetched $MATHJAX, $REQUIREJS and $HTML_MANAGER into $VENDOR ($(du -sh "$VENDOR" | cut -f1))."
