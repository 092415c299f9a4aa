#!/usr/bin/env bash
# Long fuzzing runs under libFuzzer: tools/fuzz.sh TARGET[,TARGET...]|all [SECONDS] (per target,
# default 60).
#
# Builds etcd-fuzz with -sanitize=fuzzer into .build-fuzz (FUZZ_CONFIG=debug|release, default
# release), then runs libFuzzer on each target with Tests/FuzzCorpus/<target> as seeds. New inputs
# go to .build-fuzz/corpus/<target>, crashes to .build-fuzz/crashes/<target>-*; a crash input,
# once fixed, belongs in Tests/FuzzCorpus/<target>/ as a regression case. Extra libFuzzer flags
# may follow in FUZZ_FLAGS (e.g. FUZZ_FLAGS="-jobs=2 -workers=2"). Exit status 1 if any crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:?usage: tools/fuzz.sh TARGET[,TARGET...]|all [SECONDS]}
seconds=${2:-60}
scratch=.build-fuzz
config=${FUZZ_CONFIG:-release}
build=(swift build -c "$config" --scratch-path "$scratch" --product etcd-fuzz
       -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
       # SwiftPM links the executable's entry as `main`; libFuzzer brings its own (see LibFuzzerEntry.swift).
       -Xlinker --allow-multiple-definition)

start=$(date +%s)
nice -n 19 "${build[@]}"
echo "fuzz build took $(( $(date +%s) - start )) s"
bin="$("${build[@]}" --show-bin-path)/etcd-fuzz"

if [[ $target == all ]]; then
    targets=$(FUZZ_TARGET=list "$bin")
else
    targets=${target//,/ }
fi

# Inputs larger than libFuzzer's default 4 KB only matter for whole files.
max_len() {
    case $1 in
        bbolt|etcd-wal|etcd-snap) echo 16384 ;;
        *) echo 4096 ;;
    esac
}

failed=()
summary=()
for t in $targets; do
    mkdir -p "$scratch/corpus/$t" "$scratch/crashes" "Tests/FuzzCorpus/$t"
    log="$scratch/fuzz-$t.log"
    echo "== $t: ${seconds}s"
    set +e
    # SWIFT_BACKTRACE off: libFuzzer's own handler must see the trap to save the input.
    FUZZ_TARGET=$t SWIFT_BACKTRACE=enable=no nice -n 19 "$bin" "$scratch/corpus/$t" "Tests/FuzzCorpus/$t" \
        -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$scratch/crashes/$t-" -print_final_stats=1 ${FUZZ_FLAGS:-} >"$log" 2>&1
    rc=$?
    set -e
    # A run that crashes at once prints no stats: the greps may find nothing.
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    corpus=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 || true)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)
    line="$t: exit $rc, ${execs:-?} execs in ${seconds}s, ${cov:-cov: ?}, ${corpus:-corp: ?}"
    if [[ $rc != 0 ]]; then
        failed+=("$t")
        line+=", CRASH: $(ls -t "$scratch"/crashes/"$t"-* 2>/dev/null | head -1) (log $log)"
        grep -m3 -E 'Fatal error|Precondition failed|ERROR: libFuzzer|SUMMARY' "$log" || true
    fi
    echo "$line"
    summary+=("$line")
done

echo
printf '%s\n' "${summary[@]}"
[[ ${#failed[@]} == 0 ]] || { echo "crashed: ${failed[*]}"; exit 1; }
