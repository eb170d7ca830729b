#!/usr/bin/env bash
# Builds sdcl and runs the default test suite; ends with "N passed, N failed".
#   tools/run-tests.sh [BUILD_DIR] [extra meson test arguments]
# Suites: the default run includes the kernel tests under oclgrind and the
# real-size 256x256 check (suite realsize); it excludes 'slow' (full-size
# model writing tests and a real `sdcl tune`, -Dslow_tests=true).
#   meson configure build -Dslow_tests=true && meson test -C build --suite slow
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true

if [ -f "$build/build.ninja" ]; then
  meson setup --reconfigure "$build" >/dev/null || exit 1
else
  meson setup "$build" || exit 1
fi
ninja -C "$build" || exit 1

meson test -C "$build" --num-processes 2 --print-errorlogs \
  --no-suite slow "$@"
status=$?
python3 tools/test-summary.py "$build/meson-logs/testlog.json" || status=1
exit $status
