#!/bin/sh
# Runs a test under oclgrind and fails when oclgrind reports anything
# (out-of-bounds accesses, data races, uninitialised values, API errors):
# oclgrind logs such errors but does not change the exit status.
# usage: oclgrind_check.sh OCLGRIND TEST [ARGS...]
# SPDX-License-Identifier: LGPL-3.0-or-later
set -u
oclgrind=$1
shift
log=$(mktemp "${TMPDIR:-/tmp}/sdcl-oclgrind.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT
"$oclgrind" --log "$log" --check-api --data-races "$@"
status=$?
if [ -s "$log" ]; then
  echo "oclgrind reported errors:" >&2
  head -c 20000 "$log" >&2
  exit 1
fi
exit $status
