#!/usr/bin/env python3
"""Prints 'N passed, N failed, N skipped' from a meson testlog.json.

meson writes one JSON object per test; OK and EXPECTEDFAIL count as passed,
SKIP as skipped, everything else (FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS) as
failed.  Exits 1 when any test failed or none ran.
"""
import json
import sys


def main(path):
    passed = failed = skipped = 0
    failures = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            result = rec.get('result')
            if result in ('OK', 'EXPECTEDFAIL'):
                passed += 1
            elif result == 'SKIP':
                skipped += 1
            else:
                failed += 1
                failures.append('%s (%s)' % (rec.get('name'), result))
    for name in failures:
        print('failed: ' + name)
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
    return 1 if failed or passed == 0 else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else 'build/meson-logs/testlog.json'))
