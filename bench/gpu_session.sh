#!/usr/bin/env bash
# The GPU checks of one lent session, sized for one ~7-minute device call.
#   MEDTRAIN_DATA=DIR bash bench/gpu_session.sh OUT_DIR
# 1. The whole test suite on a machine where CUDA is present (Lightning's accelerator "auto" then trains on the
#    GPU, so every path a GPU user takes - train, eval, predict, export, explain, tune - runs there); the two
#    CUDA-only tests run instead of skipping. JUnit XML and the log go to OUT_DIR.
# 2. Beside it, a validation-only screen of cost-free additions to the 2D default recipe (bench/default_ablation.py,
#    no test number computed) on BreastMNIST and RetinaMNIST, seeds 0-3, one process per cell, 8 at a time.
#    The rule, written before the first run: a setting joins the 2D default only if, over the 4 seeds, its mean
#    val AUC beats the default's by more than 0.01 on both sets and its mean val ACC is not lower by more than
#    0.01 on either; a winner is then checked on the CPU (the default's own precision and speed) before adoption.
set -u
OUT=${1:?usage: bench/gpu_session.sh OUT_DIR}
mkdir -p "$OUT" runs/sweep-logs
export PYTHONUNBUFFERED=1
LIMIT=${GPU_SESSION_LIMIT:-330}
{ nvidia-smi -L; python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"; } > "$OUT/gpu.txt" 2>&1

# coreutils timeout bounds the whole suite (pytest-timeout, a per-test --timeout, is not a dependency); SIGINT, which
# pytest ends on as on Ctrl-C, writing the junit.xml of the tests run so far (SIGTERM, timeout's default, killed it
# with none written); SIGKILL 30 s later if it is still running
OMP_NUM_THREADS=1 timeout -s INT -k 30 "$LIMIT" python3 -m pytest -q -n 6 --maxprocesses=6 -p no:cacheprovider \
    --junitxml="$OUT/junit.xml" > "$OUT/pytest.log" 2>&1 &

settings=("augment=flip,shift;" "augment=flip,shift,mixup;" "augment=flip,shift,cutmix;"
          "augment=flip,shift,trivialaugment;" "augment=flip,shift,gamma;" "augment=flip,shift,affine;"
          "dropout=0.3" "weight_decay=0.05")
for seed in 0 1 2 3; do for ds in breastmnist retinamnist; do for s in "${settings[@]}"; do
    echo "$ds $seed $s"
done; done; done > runs/sweep-jobs.txt
OMP_NUM_THREADS=1 timeout "$LIMIT" xargs -P 8 -L 1 sh -c \
    'python3 bench/default_ablation.py --datasets "$0" --seeds "$1" --grid "$2" --base accelerator=gpu \
     --out runs/sweep > "runs/sweep-logs/$0-$1-$(echo "$2" | tr -c "a-z0-9" _).log" 2>&1' < runs/sweep-jobs.txt
wait
cat runs/sweep-logs/*.log | grep " val AUC " > "$OUT/sweep.txt"
tar czf "$OUT/sweep.tar.gz" --exclude='*.safetensors' --exclude='*.ckpt' --exclude='*.png' runs/sweep runs/sweep-logs
tail -n 30 "$OUT/pytest.log"
echo "sweep cells: $(wc -l < "$OUT/sweep.txt")"
