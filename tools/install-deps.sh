#!/usr/bin/env bash
# Installs everything sdcl needs to build and test on Debian 12 (run as root,
# or through sudo).  Safe to run again: packages already present are kept.
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config python3
  libglib2.0-dev libjson-glib-dev libpng-dev
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo libclblast-dev
  oclgrind valgrind
  clang libclang-rt-14-dev zlib1g-dev   # libFuzzer harnesses (tools/run-fuzzers.sh), sanitizers
  libgegl-dev libbabl-dev gegl   # GEGL operations; `gegl` runs their tests
  # GIMP 2.10 plug-in (GIMP 3.0 is built in the chroot of make-trixie-chroot.sh);
  # gimp provides gimp-console-2.10 for the batch tests, gettext the catalogs.
  libgimp2.0-dev gimp gettext
  # tests/gimp/dialog-screenshot.sh (fonts-nanum: Hangul for the Korean
  # dialog, 10 MB against fonts-noto-cjk's 57); debootstrap for
  # tools/make-trixie-chroot.sh
  xvfb xauth x11-utils imagemagick fonts-nanum debootstrap
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
