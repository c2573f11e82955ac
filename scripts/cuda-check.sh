#!/usr/bin/env bash
# The CUDA check: a release harness on a machine with an NVIDIA GPU and no cargo.
#
#   scripts/cuda-check.sh HARNESS DATA_DIR OUT [STUDY_SECONDS]
#
# 1. the GPU, the driver and the CUDA libtorch the binary finds;
# 2. determinism on CUDA: the smoke experiment (2 variants x 2 seeds) on `--device "${DEVICE:-cuda}"`,
#    then `harness reproduce` of each of its trials (identical, or differs and where);
# 3. the architectures table at the study's OWN protocol (60,000 images, 30 epochs, step
#    x0.1 every 10, batch 256, 3 seeds, all 10,000 test images) on the GPU, seed-major, for at
#    most STUDY_SECONDS (default 330); whatever finished is reported and its records exported.
#
# 4. (THROUGHPUT=1) trials per hour of the 4 conv baseline at the full protocol with
#    1, 4, 8 and 16 trials side by side, fp32 and bf16: N `harness bench-epoch` processes at
#    once (2 timed epochs of all 60,000 images each), aggregate epochs per hour / 30;
#    throughput.txt. fp32 convolutions use TF32 on Ampere and later GPUs: libtorch's default
#    for cuDNN (`allow_tf32` for cuDNN is on), which the harness does not change.
# 5. (NINE=1) the nine tables at the study's own protocol (3 seeds, all rows but 512
#    channels via --max-trial-time) as ONE plan, at PRECISION (fp32 or bf16), JOBS side by
#    side, for at most NINE_SECONDS; records exported per table into records/ as above.
#
# Everything lands under OUT: gpu.txt, smoke.log, reproduce.log, study.log, reports/,
# records/ (a run store without checkpoints, for `harness report --runs`), timings.txt.
# Settings: DEVICE (cuda), JOBS (4), PRECISION (fp32), THROUGHPUT, NINE, NINE_SECONDS (600).
# Libtorch: LD_LIBRARY_PATH must reach a CUDA build of torch 2.11.0's lib/ (the binary's
# rpath points at the build machine's venv).
set -uo pipefail
H=$(realpath "$1")
DATA=$(realpath "$2")
OUT=$(realpath "$3")
STUDY_SECONDS=${4:-330}
WORK=$(mktemp -d)
mkdir -p "$OUT/reports"
stamp() { echo "$(date +%s) $*" >>"$OUT/timings.txt"; }

stamp start
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    "$H" --version
} >"$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"

# 2. Determinism on CUDA.
stamp smoke
"$H" replicate configs/smoke.ron --device "${DEVICE:-cuda}" --runs "$WORK/smoke" \
    --reports "$WORK/smoke-reports" --readme "$WORK/none.md" --data-dir "$DATA" \
    >"$OUT/smoke.log" 2>&1
echo "smoke rc=$?" | tee -a "$OUT/smoke.log"
grep -h -E "device|cuda|accuracy" "$OUT/smoke.log" | head -5
stamp reproduce
for dir in "$WORK"/smoke/trials/*/; do
    id=$(basename "$dir")
    "$H" reproduce "$id" --runs "$WORK/smoke" --data-dir "$DATA" >>"$OUT/reproduce.log" 2>&1
    echo "reproduce $id rc=$?" >>"$OUT/reproduce.log"
done
cat "$OUT/reproduce.log" | grep -E "identical|differs|rc="

# 3. The architectures table at the study's own protocol.
stamp study
timeout --signal=INT --kill-after=30 "$STUDY_SECONDS" \
    "$H" replicate configs/architectures.ron --seeds 3 --device "${DEVICE:-cuda}" --jobs "${JOBS:-4}" \
    --runs "$WORK/runs" --reports "$OUT/reports" --readme "$WORK/none.md" --data-dir "$DATA" \
    >"$OUT/study.log" 2>&1
echo "study rc=$?" | tee -a "$OUT/study.log"
stamp report
"$H" report configs/architectures.ron --runs "$WORK/runs" --reports "$OUT/reports" \
    --readme "$WORK/none.md" >"$OUT/report.log" 2>&1
"$H" export records configs/architectures.ron --seeds 3 --runs "$WORK/runs" \
    --out "$OUT/records" >>"$OUT/report.log" 2>&1
echo "report/export rc=$?" >>"$OUT/report.log"
# 4. Trials per hour at 1, 4, 8 and 16 trials side by side.
if [ "${THROUGHPUT:-0}" = 1 ]; then
    stamp throughput
    for precision in fp32 bf16; do
        for n in 1 4 8 16; do
            start=$(date +%s.%N)
            for i in $(seq "$n"); do
                "$H" bench-epoch configs/architectures.ron --variant "4 conv" --device "${DEVICE:-cuda}" \
                    --set precision=$precision --repeats 2 --data-dir "$DATA" \
                    >"$WORK/tp-$precision-$n-$i.jsonl" 2>/dev/null &
            done
            wait
            end=$(date +%s.%N)
            python3 - "$precision" "$n" "$start" "$end" "$WORK" >>"$OUT/throughput.txt" <<'PY'
import json, sys, glob
precision, n, start, end, work = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
epochs = []
for f in glob.glob(f"{work}/tp-{precision}-{n}-*.jsonl"):
    for line in open(f):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get("kind") == "epoch" and not d.get("warmup"):
            epochs.append(d["epoch_time_s"])
if epochs:
    per_epoch = sum(epochs) / len(epochs)
    trials_per_hour = n * 3600.0 / (per_epoch * 30)
    print(f"{precision} jobs {n}: {len(epochs)} timed epochs, mean {per_epoch:.2f} s per epoch per trial, "
          f"{trials_per_hour:.0f} trials/hour of 4 conv at 60k x 30 (wall {end - start:.0f} s)")
else:
    print(f"{precision} jobs {n}: no epoch finished")
PY
        done
    done
    cat "$OUT/throughput.txt"
fi

# 5. The nine tables at the study's own protocol, one plan.
if [ "${NINE:-0}" = 1 ]; then
    stamp nine
    NINE_CONFIGS="configs/architectures.ron configs/augmentation.ron configs/batchnorm.ron configs/channels.ron configs/dropout.ron configs/kernel.ron configs/lr.ron configs/optimizer.ron configs/scheduler.ron"
    timeout --signal=INT --kill-after=30 "${NINE_SECONDS:-600}" \
        "$H" replicate $NINE_CONFIGS --seeds 3 --device "${DEVICE:-cuda}" --jobs "${JOBS:-4}" \
        --set precision="${PRECISION:-fp32}" --max-trial-time 20m \
        --runs "$WORK/runs" --reports "$OUT/reports" --readme "$WORK/none.md" --data-dir "$DATA" \
        >"$OUT/nine.log" 2>&1
    echo "nine rc=$?" | tee -a "$OUT/nine.log"
    for c in $NINE_CONFIGS; do
        "$H" export records "$c" --seeds 3 --set precision="${PRECISION:-fp32}" --runs "$WORK/runs" \
            --out "$OUT/records" >>"$OUT/report.log" 2>&1
    done
    tail -5 "$OUT/nine.log"
fi

# One archive: the device's return path keeps few files and shallow folders.
tar czf "$OUT/records.tgz" -C "$OUT" records reports && rm -rf "$OUT/records" "$OUT/reports"
stamp end
tail -25 "$OUT/study.log"
