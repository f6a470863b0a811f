"""Validation-only screen: SORD soft ordinal targets (Diaz & Marathe, CVPR 2019: p_k ~ exp(-(k - y)^2)) against
one-hot targets on RetinaMNIST (ordinal DR grades), the default command otherwise, seeds 0-3, the test split
dropped before training. Rule, written before running: adopt for ordinal tasks only if the mean val AUC over 4
seeds beats one-hot by > 0.01 and the mean val ACC does not fall by > 0.01. The soft targets are patched into
``medtrain.training.module.soft_targets`` here; medtrain has no such setting (not adopted).

    OMP_NUM_THREADS=1 MEDTRAIN_DATA=../shared/data python bench/ordinal_targets.py onehot   # then: ... sord
"""
import json, sys, torch, torch.nn.functional as F
import medtrain.training.module as M
from medtrain.tasks import ORDINAL
from medtrain.api import train_or_reuse

mode = sys.argv[1]
orig = M.soft_targets
def sord(y, task, k):
    if task != ORDINAL:
        return orig(y, task, k)
    d = (torch.arange(k, device=y.device).view(1, -1) - y.long().view(-1, 1)).float() ** 2
    return F.softmax(-d, dim=-1)
if mode == "sord":
    M.soft_targets = sord
rows = []
for seed in range(4):
    m = train_or_reuse({"dataset": "retinamnist", "seed": seed, "progress": False, "bootstrap": 0,
                        "out": f"runs/ordinal_targets/{mode}-s{seed}"}, evaluate_test=False)
    rows.append({"seed": seed, "val_auc": m["val"]["auc"], "val_acc": m["val"]["acc"], "wall_s": m["wall_s"]})
    print(mode, rows[-1], flush=True)
print(json.dumps({"mode": mode, "rows": rows,
                  "mean_auc": sum(r["val_auc"] for r in rows) / 4, "mean_acc": sum(r["val_acc"] for r in rows) / 4}))
