#!/usr/bin/env bash
# Issue 15, part 3: the record-class ensemble on a CPU, trained a member at a time.
#
#   benchmarks/cpu_ensemble.sh train A       # slot A's members, one after another
#   benchmarks/cpu_ensemble.sh train B       # slot B's (a second core: run both at once)
#   benchmarks/cpu_ensemble.sh ensemble      # combine every finished member, on validation
#
# Each member is a normal run directory under runs/ens-<model>-<recipe>-s<seed>. A member
# already finished is skipped; one with a checkpoint is resumed (`digitkit train --resume`),
# so the script can be killed at any time and started again, across sessions. Training is
# niced and uses one torch thread per slot: the machine stays usable for other work.
#
# The ensembles are fitted on the 5,000 validation images only (greedy selection and Super
# Learner over every finished member plus the shipped MNIST members); the test figures they
# print are reported, never chosen on.
set -euo pipefail
cd "$(dirname "$0")/.."
export DIGITKIT_DATA="${DIGITKIT_DATA:-../shared/data/mnist}" OMP_NUM_THREADS=1
DIGITKIT="${DIGITKIT:-.venv/bin/python -m digitkit}"

# Diverse members: two architectures, each with the 30-epoch "long" recipe, several seeds.
SLOT_A=("cnn-swift long 0" "cnn-swift long 1" "cnn-swift long 2" "cnn-swift long 3")
SLOT_B=("cnn-medium long 0" "cnn-medium long 1" "cnn-medium long 2")

train_slot() {
    local job model recipe seed out
    for job in "$@"; do
        read -r model recipe seed <<<"$job"
        out="runs/ens-$model-$recipe-s$seed"
        if [[ -f $out/card.json ]] && grep -q '"status": "done"' "$out/card.json"; then
            continue
        fi
        if [[ -d $out/checkpoint ]]; then
            nice -n 5 $DIGITKIT train --resume "$out"
        else
            # No checkpoint: no epoch finished (a run stopped during its first), nothing to
            # keep, so start it again.
            nice -n 5 $DIGITKIT train "$model" --recipe "$recipe" "seed=$seed" --out "$out" \
                --overwrite
        fi
    done
}

combine() {
    local members=() run
    for run in runs/ens-cnn-*-s*; do
        grep -q '"status": "done"' "$run/card.json" 2>/dev/null && members+=("$run")
    done
    # The shipped MNIST members join as copies: evaluating caches probabilities in a run's
    # directory, and the package's own must stay as shipped.
    for run in cnn-medium-s0 cnn-medium-s1; do
        [[ -d runs/ens-shipped-$run ]] || cp -r "src/digitkit/weights/$run" "runs/ens-shipped-$run"
        members+=("runs/ens-shipped-$run")
    done
    for method in greedy superlearner average; do
        $DIGITKIT ensemble "${members[@]}" --method "$method" --out "runs/ens-cpu-$method"
    done
}

case "${1:-}" in
    -h|--help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
    train)
        case "${2:-}" in
            A) train_slot "${SLOT_A[@]}" ;;
            B) train_slot "${SLOT_B[@]}" ;;
            *) echo "usage: $0 train A|B" >&2; exit 2 ;;
        esac ;;
    ensemble) combine ;;
    *) echo "usage: $0 train A|B | ensemble  (--help for more)" >&2; exit 2 ;;
esac
