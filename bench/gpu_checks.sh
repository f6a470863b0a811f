#!/usr/bin/env bash
# Every GPU measurement of the project in one script, sized for one ~8-minute device call.
#   bash bench/gpu_checks.sh OUT_DIR
# Needs: a CUDA GPU; medtrain importable; MEDTRAIN_DATA holding breastmnist.npz, adrenalmnist3d.npz and
# vesselmnist3d.npz. Writes OUT_DIR/{augment_gpu.json, memory3d.json, runs.tar.gz, logs.tar.gz}.
#  1. bench/augment_gpu.py alone (timings on an otherwise idle machine): augmentation images/s on the GPU vs
#     torchvision on the CPU, and the training stall with each (issue 7).
#  2. side by side (the runs are small and launch-bound, so they share the GPU well):
#     - the full regularisation factorial, 216 runs + MC dropout (issue 5), 12 compare processes;
#     - AdrenalMNIST3D / VesselMNIST3D, the README's 3D command, 3 seeds each (issue 6);
#     - the plain default command (`medtrain train --dataset X`) for both 3D sets, seed 0 (issue 6);
#     - bench/memory3d.py: peak GPU memory at 28³ and 64³, batch 128 / 32, fp32 / bf16 (issue 6).
set -u
OUT=${1:?usage: bench/gpu_checks.sh OUT_DIR}
mkdir -p "$OUT" runs/logs
export PYTHONUNBUFFERED=1
LIMIT=${GPU_CHECKS_LIMIT:-330}   # seconds for part 2; whatever finished by then is packed

timeout 150 python3 bench/augment_gpu.py 2>runs/logs/augment_gpu.err | tee runs/logs/augment_gpu.log
tail -n 1 runs/logs/augment_gpu.log > "$OUT/augment_gpu.json"

OMP_NUM_THREADS=1 timeout "$LIMIT" python3 bench/regularization.py factorial --accelerator gpu --jobs 12 --mc \
    > runs/logs/factorial.log 2>&1 &
jobs_=("$!:factorial")   # pid:log name of each background job, its exit status reported below
for ds in adrenalmnist3d vesselmnist3d; do
    OMP_NUM_THREADS=2 timeout "$LIMIT" python3 -m medtrain compare --dataset $ds --model med3d_resnet10 --epochs 40 \
        --accelerator gpu --seeds 3 --out runs/gpu3d/$ds > runs/logs/gpu3d_$ds.log 2>&1 &
    jobs_+=("$!:gpu3d_$ds")
    OMP_NUM_THREADS=2 timeout "$LIMIT" python3 -m medtrain train --dataset $ds --accelerator gpu --no-progress \
        --out runs/gpu3d_default/$ds > runs/logs/gpu3d_default_$ds.log 2>&1 &
    jobs_+=("$!:gpu3d_default_$ds")
done
OMP_NUM_THREADS=2 timeout "$LIMIT" python3 bench/memory3d.py --sizes 64,28 --batch-sizes 128,32 \
    --precision 32-true,bf16-mixed --epochs 1 --accelerator gpu > runs/logs/memory3d.log 2>&1 &
jobs_+=("$!:memory3d")
for job in "${jobs_[@]}"; do   # a refused or crashed job had been silent (the factorial's 12 refusals were)
    wait "${job%%:*}" && continue
    rc=$?
    if [ "$rc" = 124 ]; then echo "gpu_checks: ${job#*:} stopped at the ${LIMIT}s limit; what finished is packed"
    else echo "gpu_checks: ${job#*:} failed (exit $rc); see runs/logs/${job#*:}.log"; fi
done
tail -n 1 runs/logs/memory3d.log > "$OUT/memory3d.json"
tar czf "$OUT/runs.tar.gz" --exclude='*.safetensors' --exclude='*.ckpt' --exclude='*.png' \
    runs/regularization_factorial runs/gpu3d runs/gpu3d_default 2>/dev/null
tar czf "$OUT/logs.tar.gz" runs/logs
echo "packed: $(ls -la "$OUT")"
