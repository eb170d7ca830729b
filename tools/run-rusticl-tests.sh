#!/usr/bin/env bash
# Optional: the kernel tests on a second OpenCL implementation, Mesa's
# rusticl on llvmpipe (a software rasteriser, reported as a CPU device),
# inside the Debian 13 chroot of tools/make-trixie-chroot.sh.  It runs
# the portable kernels (the GPUs' path: gemm_tiled, conv_tiled,
# attention_tiled, the split GroupNorm statistics) under a compiler other
# than PoCL's, with GPU-typical limits forced as on PoCL.  rusticl runs
# with RUSTICL_FEATURES=fp16, which exposes cl_khr_fp16: kernel-ext-fp16
# checks the half-arithmetic GEMM and convolution there, and
# kernel-gemm-tune-quick and kernel-gemm-config time half math and the
# sub-group reductions against the plain kernels as `sdcl tune` does
# (stderr: the medians and the verdict) and check that the verdict is
# stored and followed.  Then the
# chroot's PoCL 6, which has cl_khr_subgroups, runs the kernel-ext tests
# (kernel-ext-subgroups: the sub-group norms).
#
#   sudo bash tools/run-rusticl-tests.sh [CHROOT] [-- extra `meson test` args]
#
# It installs mesa-opencl-icd into the chroot when missing.  The source
# tree is bind-mounted read-only at /src-<name of its folder>; the build
# lives inside the chroot (/var/tmp/sdcl-build-rusticl-<name>).  Only the
# rusticl ICD is visible to the tests (OCL_ICD_VENDORS), with
# RUSTICL_ENABLE=llvmpipe; for the second run only PoCL's.
# Exit status: 0 when both `meson test` runs passed, else the first
# failing one's; 2 for setup problems.
# SPDX-License-Identifier: LGPL-3.0-or-later
set -euo pipefail

root=${SDCL_TRIXIE_ROOT:-/var/tmp/sdcl-trixie}
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  root=$1
  shift
fi
[ "${1:-}" = "--" ] && shift
test_args=("$@")

src=$(cd "$(dirname "$0")/.." && pwd)
name=$(basename "$src" | tr -c 'A-Za-z0-9_.\n-' _)
build=/var/tmp/sdcl-build-rusticl-$name
inner=/src-$name

if [ "$(id -u)" -ne 0 ]; then
  echo "run-rusticl-tests: needs root (mount and chroot)" >&2
  exit 2
fi
if [ ! -x "$root/usr/bin/meson" ]; then
  echo "run-rusticl-tests: no Debian 13 chroot at $root; make it with:" >&2
  echo "  sudo bash tools/make-trixie-chroot.sh $root" >&2
  exit 2
fi

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount -l "${mounted[$i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT
bind() { # bind SOURCE TARGET [ro]
  mkdir -p "$2"
  if ! mountpoint -q "$2"; then
    mount --bind "$1" "$2"
    mounted+=("$2")
    [ "${3:-}" = ro ] && mount -o remount,bind,ro "$2"
  fi
  return 0
}
bind /proc "$root/proc"
bind /sys "$root/sys"
bind /dev "$root/dev"
bind "$src" "$root$inner" ro

if [ ! -f "$root/etc/OpenCL/vendors/rusticl.icd" ]; then
  chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends mesa-opencl-icd || exit 2
fi

set +e
chroot "$root" /usr/bin/env -i \
  PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LC_ALL=C.UTF-8 TERM=dumb \
  RUSTICL_ENABLE=llvmpipe RUSTICL_FEATURES=fp16 \
  /bin/bash -euo pipefail -c '
    build=$1; inner=$2; shift 2
    if [ ! -f "$build/build.ninja" ]; then
      meson setup "$build" "$inner" -Dgimp=disabled -Dgegl=disabled -Dclblast=disabled
    fi
    ninja -C "$build" build.ninja >/dev/null
    ninja -C "$build" tests/kernels/test-ops tests/kernels/test-clrt tests/kernels/test-gemm-config \
      tests/kernels/test-ext
    export OCL_ICD_VENDORS=/etc/OpenCL/vendors/rusticl.icd
    clinfo -l || true
    # The kernel tests of the default suite that do not need oclgrind
    # (the CPU kernels too: rusticl reports llvmpipe as a CPU).
    if [ $# -eq 0 ]; then
      set -- $(meson test -C "$build" --list 2>/dev/null | sed -n "s/^.*\(kernel-[a-z0-9-]*\)$/\1/p" \
               | grep -v oclgrind | grep -v clblast)
    fi
    status=0
    # llvmpipe runs the CPU kernels far slower than PoCL: kernel-ops took
    # 989 s on 2 Zen 3 cores against its 600 s timeout (a later
    # --timeout-multiplier among the arguments wins).
    meson test -C "$build" --no-rebuild --num-processes 1 --print-errorlogs \
      --timeout-multiplier 3 "$@" || status=$?
    cp "$build/meson-logs/testlog.txt" "$build/meson-logs/testlog-rusticl.txt"
    # The extension variants on PoCL 6 (sub-groups; it lacks cl_khr_fp16,
    # so kernel-ext-fp16 must report a skip there).
    export OCL_ICD_VENDORS=/etc/OpenCL/vendors/pocl.icd
    clinfo -l || true
    meson test -C "$build" --no-rebuild --num-processes 1 --print-errorlogs \
      kernel-ext-subgroups kernel-ext-fp16 || { s2=$?; [ $status -ne 0 ] || status=$s2; }
    cp "$build/meson-logs/testlog.txt" "$build/meson-logs/testlog-pocl6.txt"
    exit $status
  ' run-rusticl-tests "$build" "$inner" "${test_args[@]}"
status=$?
set -e
echo "run-rusticl-tests: exit status $status (logs: $root$build/meson-logs/testlog-rusticl.txt," \
  "testlog-pocl6.txt)"
exit $status
