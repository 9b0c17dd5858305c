#!/usr/bin/env bash
# Formatting and lint with the toolchain's own `swift format` and the committed .swift-format:
# every Swift file but the generated ones (scripts/embed-sql.py writes those). Any finding
# fails, so `scripts/test.sh` fails on it. `scripts/lint.sh --fix` formats in place first.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find Package.swift Sources Tests -name '*.swift' -not -path '*/Generated/*' | sort)
if [ "${1:-}" = "--fix" ]; then
    swift format format --in-place --parallel "${files[@]}"
fi
# --strict: warnings are errors. The formatter's own output must lint clean, so a file that
# is not formatted fails here too (`swift format lint` reports what `format` would change).
swift format lint --strict --parallel "${files[@]}"
