#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-3.0-or-later
# Per-user install: builds the GIMP plug-in or the GEGL module and copies it,
# with its translations and the demo model, into your own profile.  Nothing
# else to set: libsdcl is linked in, and the plug-in finds its catalogs and
# data beside itself (tools/stage-user.py describes the layout).
#
#   tools/install-user.sh gimp3|gimp2|gegl [--stage DIR] [--build-dir DIR]
#
#   gimp3  -> ${GIMP3_DIRECTORY:-~/.config/GIMP/3.0}/plug-ins/sdcl-gimp
#   gimp2  -> ${GIMP2_DIRECTORY:-~/.config/GIMP/2.10}/plug-ins/sdcl-gimp
#   gegl   -> ${XDG_DATA_HOME:-~/.local/share}/gegl-0.4/plug-ins/sdcl-gegl
#             and .../sdcl (the demo model; GIMP 3 and any GEGL program)
#
# --stage DIR writes the same folders into DIR instead (to copy by hand, or
# to another machine with the same libraries).  --build-dir defaults to
# build-user/ in the source tree.  Restart GIMP afterwards.
set -euo pipefail

usage() {
  sed -n '4,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

target=${1:-}
case $target in gimp3|gimp2|gegl) shift ;; *) usage ;; esac
src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build-user
stage=
while [ $# -gt 0 ]; do
  case $1 in
    --stage) stage=${2:?--stage needs a folder}; shift 2 ;;
    --build-dir) build=${2:?--build-dir needs a folder}; shift 2 ;;
    *) usage ;;
  esac
done

config=${XDG_CONFIG_HOME:-$HOME/.config}
case $target in
  gimp3) dest=${stage:-${GIMP3_DIRECTORY:-$config/GIMP/3.0}/plug-ins}
         option=-Dgimp=enabled want=3 ;;
  gimp2) dest=${stage:-${GIMP2_DIRECTORY:-$config/GIMP/2.10}/plug-ins}
         option=-Dgimp=enabled want=2 ;;
  gegl)  dest=${stage:-${XDG_DATA_HOME:-$HOME/.local/share}}
         option=-Dgegl=enabled ;;
esac

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$src" --buildtype=release "$option" >/dev/null
else
  meson configure "$build" "$option" >/dev/null
fi

if [ "$target" = gegl ]; then
  ninja -C "$build" plugin/gegl/sdcl-gegl.so sdcl-gmo
  kind=gegl
else
  # One source tree builds either API: the one whose libgimp is installed.
  if grep -q '"gimp-3.0"' "$build/meson-info/intro-dependencies.json"; then api=3; else api=2; fi
  if [ "$api" != "$want" ]; then
    echo "install-user: this system has the development files of GIMP $api," \
         "not GIMP $want: install libgimp-$([ "$want" = 3 ] && echo 3.0 || echo 2.0)-dev" \
         "or run tools/install-user.sh gimp$api" >&2
    exit 1
  fi
  ninja -C "$build" plugin/gimp/sdcl-gimp sdcl-gmo
  kind=gimp
fi

mkdir -p "$dest"
python3 "$src/tools/stage-user.py" "$kind" "$build" "$src" "$dest"
if [ -z "$stage" ]; then
  echo "install-user: done; restart GIMP (the menus: Filters > Generative for the plug-in," \
       "Filters > Stable Diffusion (GEGL) for the GEGL operations in GIMP 3)"
fi
exit 0
