"""Coverage of medtrain's 95% intervals on simulated patient-grouped test sets (a patient random effect):
per-image resampling against whole-patient resampling (the default where a CSV names patients), and, as a
candidate not shipped, the BCa interval (Efron 1987; jackknife over patients) on the same patient resamples;
and the AUC interval medtrain ships for these sets (``metrics.acc_auc_ci``: Newcombe's over the patients where a
class has fewer than 30 of them, as here), under ``shipped``.

    python bench/patient_ci_coverage.py      # ~8 min on 2 cores; JSON on the last line
"""
import json, numpy as np
from scipy.stats import norm
from medtrain.intervals import Resampler
from medtrain.metrics import acc_auc_ci, bootstrap_ci
from medtrain.operating_point import operating_point_report
rng = np.random.default_rng(1)
P, M, SETS, B = 40, 5, 200, 400
def draw():
    lab = rng.integers(0, 2, P); eff = rng.normal(0, 1.0, P)
    y = np.repeat(lab, M); z = np.repeat(lab * 1.0 + eff, M) + rng.normal(0, 0.7, P * M)
    s = 1 / (1 + np.exp(-(z - 0.5)))
    return y, np.stack([1 - s, s], 1), np.repeat(np.arange(P).astype(str), M)
# the truth: AUC / ACC / sensitivity of the population, from a very large sample
big = [draw() for _ in range(400)]
from medtrain.metrics import auc, acc
Y = np.concatenate([b[0] for b in big]); S = np.concatenate([b[1] for b in big])
truth = {"auc": auc(Y, S, "binary-class"), "acc": acc(Y, S, "binary-class"),
         "sens": float(((S[:, 1] >= 0.5) & (Y == 1)).sum() / (Y == 1).sum())}
hits = {k: {"images": 0, "patients": 0} for k in truth}
STATS = {"auc": lambda y, s: auc(y, s, "binary-class"), "acc": lambda y, s: acc(y, s, "binary-class")}
bca_hits, widths = {k: 0 for k in STATS}, {k: {"patients": [], "bca": []} for k in STATS}
shipped = {"hits": 0, "widths": [], "methods": {}}
def bca(y, s, g, seed, stat):
    """The BCa interval on the resamples bootstrap_ci draws for this seed (the same Resampler stream)."""
    r = Resampler(len(y), g, seed, strata=y)  # as bootstrap_ci draws: patients within their class
    d = np.array([stat(y[ix], s[ix]) for ix in (r.draw() for _ in range(B))]); d = d[~np.isnan(d)]
    th = stat(y, s)
    jk = np.array([stat(y[m], s[m]) for m in (np.concatenate(r.members[:u] + r.members[u + 1:])
                                              for u in range(len(r.members)))])
    z0 = norm.ppf(((d < th).sum() + 0.5 * (d == th).sum()) / len(d))
    dj = jk.mean() - jk
    a = (dj ** 3).sum() / (6 * ((dj ** 2).sum()) ** 1.5) if (dj ** 2).sum() > 0 else 0.0
    q = norm.cdf(z0 + (z0 + norm.ppf([0.025, 0.975])) / (1 - a * (z0 + norm.ppf([0.025, 0.975]))))
    return np.percentile(d, 100 * q)
for i in range(SETS):
    y, s, g = draw()
    for unit, groups in (("images", None), ("patients", list(g))):
        ci = bootstrap_ci(y, s, "binary-class", n=B, seed=i, groups=groups)
        op = operating_point_report(y, s, 0.5, 1, groups=groups)
        hits["auc"][unit] += ci["auc_ci"][0] <= truth["auc"] <= ci["auc_ci"][1]
        hits["acc"][unit] += ci["acc_ci"][0] <= truth["acc"] <= ci["acc_ci"][1]
        hits["sens"][unit] += op["sensitivity_ci"][0] <= truth["sens"] <= op["sensitivity_ci"][1]
        if groups is not None:
            res = acc_auc_ci(y, s, "binary-class", n=B, seed=i, groups=groups)
            lo, hi = res["auc_ci"]
            shipped["hits"] += lo <= truth["auc"] <= hi; shipped["widths"].append(hi - lo)
            m = res.get("auc_ci_method", "bootstrap"); shipped["methods"][m] = shipped["methods"].get(m, 0) + 1
            for k, stat in STATS.items():
                lo, hi = bca(y, s, groups, i, stat)
                bca_hits[k] += lo <= truth[k] <= hi
                widths[k]["patients"].append(ci[f"{k}_ci"][1] - ci[f"{k}_ci"][0]); widths[k]["bca"].append(hi - lo)
print(json.dumps({"sets": SETS, "patients": P, "images_per_patient": M, "bootstrap": B, "truth": truth,
                  "coverage": {k: {u: v / SETS for u, v in d.items()} for k, d in hits.items()},
                  "bca_coverage": {k: v / SETS for k, v in bca_hits.items()},
                  "mean_width": {k: {m: float(np.mean(v)) for m, v in d.items()} for k, d in widths.items()},
                  "shipped": {"auc_coverage": shipped["hits"] / SETS, "auc_mean_width": float(np.mean(shipped["widths"])),
                              "auc_methods": shipped["methods"]}}))
