#!/usr/bin/env bash
# Photographs the plug-in's dialog so its layout can be inspected: starts
# GIMP on a virtual X server (Xvfb) with the built plug-in in a fresh
# profile, opens a procedure's dialog interactively, waits until the
# dialog's window is mapped, saves the screen as a PNG and stops GIMP.
#
#   bash tests/gimp/dialog-screenshot.sh BUILD_DIR [MODE] [OUT.png] [LANG]
#
# MODE is txt2img (default), img2img, inpaint or outpaint; LANG (de, ko, or a locale
# such as de_DE) shows a translation under that real UTF-8 locale.  Needs
# xvfb-run, xwininfo (x11-utils), import (imagemagick) and, for LANG,
# localedef (locales) when the system lacks the locale.
# The models folder shown is tests/reference/fixtures/models, so the dialog
# lists the tiny test models and describes the first one.
set -euo pipefail

build=$(cd "${1:?usage: $0 BUILD_DIR [MODE] [OUT.png] [LANG]}" && pwd)
mode=${2:-txt2img}
out=$(realpath -m "${3:-dialog-$mode.png}")
lang=${4:-}
src=$(cd "$(dirname "$0")/../.." && pwd)

if [ -x "$(command -v gimp-console-3.0 || true)" ] && grep -q "gimp-3.0" "$build/meson-info/intro-dependencies.json" 2>/dev/null; then
  api=3 gimp=gimp-3.0
else
  api=2 gimp=gimp-2.10
fi
for tool in xvfb-run xwininfo import "$gimp"; do
  command -v "$tool" >/dev/null || { echo "dialog-screenshot: $tool is missing" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
profile=$work/profile
mkdir -p "$profile/plug-ins"
# The folder a user installs (tools/install-user.sh): the plug-in with
# libsdcl linked in, its catalogs and the demo model; no library path.
python3 "$src/tools/stage-user.py" gimp "$build" "$src" "$profile/plug-ins" >/dev/null

image=$src/tests/reference/fixtures/images/init-48x64.png
if [ "$api" = 2 ]; then
  load="(gimp-file-load RUN-NONINTERACTIVE \"$image\" \"$image\")"
  layer="(car (gimp-image-get-active-layer image))"
  # GIMP 2.10's Script-Fu wants every argument even for an interactive
  # run; the dialog ignores them and shows the last values.
  case $mode in
    txt2img) rest='20 7.5 -1 512 512 FALSE "default" "auto" 1 "" "" "a1111" ""' ;;
    img2img) rest='20 7.5 -1 0.6 FALSE "default" "auto" 1 "" "" "a1111" ""' ;;
    inpaint) rest='20 7.5 -1 1.0 4.0 FALSE 32 FALSE "default" "auto" 1 "" "" "a1111" ""' ;;
    *)       rest='20 7.5 -1 1.0 32 32 32 32 FALSE "default" "auto" 1 "" "" "a1111" ""' ;;
  esac
  call="(plug-in-sdcl-$mode RUN-INTERACTIVE image layer \"\" \"\" \"\" \"dpmpp_2m\" $rest)"
else
  load="(gimp-file-load RUN-NONINTERACTIVE \"$image\")"
  layer="(vector-ref (car (gimp-image-get-layers image)) 0)"
  call="(plug-in-sdcl-$mode #:run-mode RUN-INTERACTIVE #:image image #:drawables (vector layer) #:prompt \"a lighthouse on a cliff at sunset\")"
fi
select=""
[ "$mode" = inpaint ] && select="(gimp-image-select-rectangle image CHANNEL-OP-REPLACE 12 16 24 24)"
script="(let* ((image (car $load)) (layer $layer)) $select $call)"

export GIMP2_DIRECTORY=$profile GIMP3_DIRECTORY=$profile
export XDG_CONFIG_HOME=$work/xdg XDG_DATA_HOME=$work/xdg-data
export SDCL_MODELS_DIR=$src/tests/reference/fixtures/models
export SDCL_CACHE_DIR=${SDCL_CACHE_DIR:-$build/test-cache}
unset LANGUAGE LANG
export LC_ALL=C.UTF-8
# A real locale: glibc ignores LANGUAGE under C.UTF-8 (Debian 13 does), so
# LANG=de must become LC_ALL=de_DE.UTF-8.  Made with localedef into a
# private LOCPATH when the system lacks it.
if [ -n "$lang" ]; then
  case $lang in
    *_*) territory=${lang%%.*} ;;
    ko) territory=ko_KR ;;
    *) territory=${lang}_$(echo "$lang" | tr '[:lower:]' '[:upper:]') ;;
  esac
  name=$territory.UTF-8
  if ! locale -a 2>/dev/null | grep -qix "$territory.utf-\?8"; then
    mkdir -p "$work/locales"
    localedef -i "$territory" -f UTF-8 "$work/locales/$name" 2>/dev/null ||
      [ -d "$work/locales/$name" ] ||
      { echo "dialog-screenshot: cannot make the $name locale (install the locales package)" >&2; exit 2; }
    export LOCPATH=$work/locales
  fi
  export LC_ALL=$name 2>/dev/null # bash itself cannot use a LOCPATH locale; GIMP can
fi

# The whole session runs inside xvfb-run; GIMP gets its own process group
# so that it and its plug-ins can be stopped together.
xvfb-run -a -s "-screen 0 1100x900x24" bash -c '
  out=$1; gimp=$2; script=$3
  if [ "$gimp" = gimp-2.10 ]; then
    setsid "$gimp" -d -f -s -b "$script" >"$out.log" 2>&1 &
  else
    setsid "$gimp" -d -f -s --batch-interpreter=plug-in-script-fu-eval -b "$script" >"$out.log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 1 120); do
    # The dialog is the window whose role/class is the plug-in binary.
    # The dialog is the plug-in'"'"'s (WM_CLASS sdcl-gimp) largest window; GTK
    # also maps a group-leader window and tooltips with the same class.
    win=$(xwininfo -root -tree 2>/dev/null | grep "(\"sdcl-gimp\"" |
          awk '"'"'{ split($0, a, ") "); split(a[2], g, "[x+]");
                   if (g[1] * g[2] > best && g[2] > 200) { best = g[1] * g[2]; id = $1 } }
                 END { if (id) print id }'"'"')
    if [ -n "$win" ]; then
      # Xvfb starts with the pointer in the middle of the screen, over the
      # dialog, where it pops up a tooltip: move it to a corner (with GTK
      # through PyGObject, when there is one).
      python3 -c "import gi; gi.require_version(\"Gdk\", \"3.0\"); from gi.repository import Gdk
d = Gdk.Display.get_default(); d.get_default_seat().get_pointer().warp(d.get_default_screen(), 0, 0); d.flush()" 2>/dev/null || true
      sleep 3   # let it finish describing the model (and the tooltip go)
      import -window "$win" "$out"
      break
    fi
    sleep 1
  done
  kill -- -"$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -f "$out" ]
' screenshot "$out" "$gimp" "$script" || { echo "dialog-screenshot: no dialog appeared; see $out.log" >&2; exit 1; }
echo "dialog-screenshot: $out"
