#!/usr/bin/env bash
# Runs the fuzz targets, each for SECONDS (default 60), starting from the committed seeds.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]   (targets: geelark_decode huawei_decode alibaba_decode config_parse)
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain; without one, the
# stable compiler is used with RUSTC_BOOTSTRAP=1 (both routes build and run). Crashes land in
# fuzz/artifacts/TARGET/; replay one with `cargo +nightly fuzz run TARGET FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(geelark_decode huawei_decode alibaba_decode config_parse)
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    cargo_cmd=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    cargo_cmd=(cargo fuzz)
fi
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    "${cargo_cmd[@]}" run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- -max_total_time="$secs"
done
