#!/usr/bin/env bash
# Builds sdcl and runs the default test suite; ends with "N passed, N failed".
#   tools/run-tests.sh [BUILD_DIR] [extra meson test arguments]
# Suites: the default run excludes 'slow' (real-size models) and 'oclgrind'
# (kernel tests on the simulated device); run them with
#   meson test -C build --suite oclgrind      (or --suite slow, after
#   meson configure build -Dslow_tests=true)
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
  --no-suite slow --no-suite oclgrind "$@"
status=$?
python3 tools/test-summary.py "$build/meson-logs/testlog.json" || status=1
exit $status
