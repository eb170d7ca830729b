#!/usr/bin/env bash
# Makes (or brings up to date) a Debian 13 "trixie" chroot with GIMP 3.0 and
# everything sdcl needs to build, so the GIMP 3 plug-in can be built and
# batch-tested on a Debian 12 host whose own apt sources stay untouched.
#
#   sudo bash tools/make-trixie-chroot.sh [DIR]      (default /var/tmp/sdcl-trixie)
#
# About 2 GB and a few minutes the first time.  Running it again only installs
# what is missing, so it is safe to repeat after the package list below grows.
# tools/run-gimp3-tests.sh uses the result.
set -euo pipefail

root=${1:-${SDCL_TRIXIE_ROOT:-/var/tmp/sdcl-trixie}}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ "$(id -u)" -ne 0 ]; then
  echo "make-trixie-chroot: needs root (debootstrap and chroot)" >&2
  exit 2
fi

# The repository must never contain a 2 GB root file system (meson would also
# trip over it), so refuse a target inside the source tree.
src=$(cd "$(dirname "$0")/.." && pwd)
case "$(realpath -m "$root")/" in
  "$src"/*) echo "make-trixie-chroot: $root is inside the source tree; pick another folder" >&2; exit 2 ;;
esac

# Build and test dependencies inside the chroot: the same set as
# tools/install-deps.sh, with GIMP 3's development files instead of 2.10's.
packages=(
  build-essential meson ninja-build pkg-config python3 gettext
  libglib2.0-dev libjson-glib-dev libpng-dev
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
  libgegl-dev libbabl-dev libgimp-3.0-dev gimp
  locales
  # tests/gimp/dialog-screenshot.sh (the GTK 3 dialog under Xvfb; fonts-nanum
  # draws the Korean one, whose Hangul the default fonts lack)
  xvfb xauth x11-utils imagemagick fonts-nanum
)

if ! command -v debootstrap >/dev/null; then
  echo "make-trixie-chroot: installing debootstrap on the host"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
fi

if [ ! -x "$root/usr/bin/apt-get" ]; then
  echo "make-trixie-chroot: debootstrap trixie into $root"
  mkdir -p "$root"
  debootstrap --variant=minbase trixie "$root" "$mirror"
fi

mounted=()
cleanup() {
  # Unmount in reverse order; a lazy unmount copes with processes that linger.
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount -l "${mounted[$i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT
for fs in proc sys dev; do
  if ! mountpoint -q "$root/$fs"; then
    mount --bind "/$fs" "$root/$fs"
    mounted+=("$root/$fs")
  fi
done
cp /etc/resolv.conf "$root/etc/resolv.conf"

missing=()
for p in "${packages[@]}"; do
  chroot "$root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "make-trixie-chroot: installing ${missing[*]}"
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  chroot "$root" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The translation tests need German and Korean UTF-8 locales.
if ! chroot "$root" locale -a 2>/dev/null | grep -qi '^de_DE.utf8$'; then
  sed -i -e 's/^# *\(de_DE.UTF-8\)/\1/' -e 's/^# *\(ko_KR.UTF-8\)/\1/' -e 's/^# *\(en_US.UTF-8\)/\1/' \
    "$root/etc/locale.gen"
  chroot "$root" locale-gen >/dev/null
fi

echo "make-trixie-chroot: ready: $root ($(chroot "$root" gimp-console-3.0 --version 2>/dev/null | head -1))"
