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
# Everything lands under OUT: gpu.txt, smoke.log, reproduce.log, study.log, reports/,
# records/ (a run store without checkpoints, for `harness report --runs`), timings.txt.
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
# One archive: the device's return path keeps few files and shallow folders.
tar czf "$OUT/records.tgz" -C "$OUT" records reports && rm -rf "$OUT/records" "$OUT/reports"
stamp end
tail -25 "$OUT/study.log"
