#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of the JSON reader and the billing document decoder.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   default: 30 seconds, targets json documents
#
# Builds Tests/Fuzz/FuzzTargets.swift with the sources it exercises (ExactJSON, Sync's
# documents and money) into one binary with `swiftc -sanitize=fuzzer,address`, in
# .build-fuzz/ (gitignored). Not a SwiftPM target on purpose: -sanitize=fuzzer through
# `swift build` instruments and rebuilds every module of the package and its dependencies
# (minutes on two cores) and would need a conditional target in Package.swift; these
# sources need neither the queue nor libpq, so swiftc builds them alone in well under a
# minute, and `swift build`/`swift test` never see them.
#
# Each target runs for the given time over its committed corpus (Tests/Fuzz/corpus/<target>/,
# read only: new inputs go to .build-fuzz/corpus/<target>/). A crash stops the run with exit
# 1 and leaves the reproducer in .build-fuzz/crashes/: fix it, then add the reproducer to
# the committed corpus and a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(json documents)

out=.build-fuzz
mkdir -p "$out/crashes"
binary="$out/ledgersync-fuzz"
sources=(
    Sources/ExactJSON/*.swift
    Sources/Sync/Documents/*.swift
    Sources/Sync/Money/*.swift
    Sources/Sync/DocumentError.swift
    Tests/Fuzz/FuzzTargets.swift
)
# Rebuild only when a source is newer than the binary.
if [ ! -x "$binary" ] || [ -n "$(find "${sources[@]}" -newer "$binary" | head -n 1)" ]; then
    echo "==> building $binary (swiftc -sanitize=fuzzer,address)"
    start=$(date +%s)
    # ld.gold warns about ASan's local symbols on every link: shown only when the build fails.
    swiftc -parse-as-library -O -g -sanitize=fuzzer,address -module-name LedgersyncFuzz "${sources[@]}" -o "$binary" \
        >"$out/build.log" 2>&1 || { grep -v 'Cannot export local symbol' "$out/build.log" >&2; exit 1; }
    echo "    built in $(( $(date +%s) - start )) s"
fi

for target in "${targets[@]}"; do
    corpus=Tests/Fuzz/corpus/$target
    [ -d "$corpus" ] || { echo "fuzz.sh: no corpus $corpus (targets: json, documents)" >&2; exit 64; }
    mkdir -p "$out/corpus/$target"
    echo "==> fuzzing $target for ${seconds}s (corpus $corpus)"
    # -rss_limit_mb: ASan's shadow memory counts; a real leak or blow-up still stops the run.
    LEDGERSYNC_FUZZ_TARGET=$target "$binary" "$out/corpus/$target" "$corpus" \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix="$out/crashes/$target-" -print_final_stats=1 2>"$out/$target.log" || {
        tail -n 40 "$out/$target.log"
        echo "fuzz.sh: $target crashed; the reproducer is in $out/crashes/" >&2
        exit 1
    }
    grep -E 'DONE|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$out/$target.log" | sed 's/^/    /'
    echo "    corpus: $(ls "$out/corpus/$target" | wc -l) generated inputs + $(ls "$corpus" | wc -l) committed"
done
