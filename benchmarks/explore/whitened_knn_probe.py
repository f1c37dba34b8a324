"""Probe (#18, one-class): kNN in the whitened reference's space against the distance to the
reference's centre, for `default` told its training class is clean (novelty).

LOF on the encoder's features led the head on MNIST one-class; a whitened distance to one
centre cannot follow a class of several modes, a nearest-neighbour distance can. Per task
(the full bench task, seed 7 by default, features from the cache): fit `MCOD(novelty=True)`,
keep the reference's rows and whiteners and the test rows, and score the test rows by the
mean over the two halves' whiteners of the mean distance to the k nearest reference rows.

    python benchmarks/explore/whitened_knn_probe.py mnist 0-4 7 OUT_DIR

With --lof, also LOF (k = 20, scikit-learn's novelty mode, as the `lof-pretrained` baseline)
on the encoder's unit rows, as that baseline sees them, and in the whitened space.
"""

import sys
import time

import torch
from novelty_tasks import log_record, novelty_fits
from sklearn.metrics import roc_auc_score

from mcod.nn.ensemble import MCODEnsemble

KS = (1, 5, 20, 50)
seen: dict = {"batches": []}
_fit_reference, _score = MCODEnsemble.fit_reference, MCODEnsemble.score


def _capture_fit(self, rows, memory_scores, scale):
    seen.update(rows=rows.double(), memory=memory_scores.double())
    return _fit_reference(self, rows, memory_scores, scale)


def _capture_score(self, x):
    seen["batches"].append(x.double())
    return _score(self, x)


MCODEnsemble.fit_reference, MCODEnsemble.score = _capture_fit, _capture_score


def knn_mean(query: torch.Tensor, ref: torch.Tensor, k: int) -> torch.Tensor:
    out = []
    for block in query.split(2048):
        d = torch.cdist(block, ref)
        out.append(d.topk(k, dim=1, largest=False).values.mean(dim=1))
    return torch.cat(out)


def _lof_scores(m, rows, test, picked, whitened, y) -> dict:
    """AUROC of LOF-20 on the encoder's unit rows (the fit rows: all of them, as the
    baseline's) and in each half's whitened space (reference rows), averaged."""
    from sklearn.neighbors import LocalOutlierFactor

    std, mean = m.preprocessor_.scale_std_.double(), m.preprocessor_.scale_mean_.double()
    unit_fit, unit_test = (rows * std + mean).numpy(), (test * std + mean).numpy()

    def lof(fit, query):
        return -LocalOutlierFactor(n_neighbors=20, novelty=True).fit(fit).score_samples(query)

    white = sum(lof(r.numpy(), q.numpy()) for q, r in whitened) / 2
    return {"lof20_unit": roc_auc_score(y, lof(unit_fit, unit_test)),
            "lof20_whitened": roc_auc_score(y, white)}


def main(name, classes, seed, out, lof=False):
    start = time.time()
    for images, task, m in novelty_fits(name, classes, seed):
        seen["batches"] = []
        base = m.decision_function(images[task.score_idx])
        test = torch.cat(seen["batches"])
        ref = m.network_.reference
        memory, rows = seen["memory"], seen["rows"]
        picked = torch.nonzero(memory <= torch.quantile(memory, 1 - m.network_.trim)).flatten()
        record = {"ds": name, "c": task.inlier_class, "seed": task.seed,
                  "centre": roc_auc_score(task.y, base)}
        whitened = [((test - ref.mean[i].double()) @ ref.whitener[i].double(),
                     (rows[picked] - ref.mean[i].double()) @ ref.whitener[i].double())
                    for i in range(2)]
        for k in KS:
            scores = sum(knn_mean(q, r, k) for q, r in whitened) / 2
            record[f"wknn{k}"] = roc_auc_score(task.y, scores.numpy())
        unit = [torch.nn.functional.normalize(t, dim=1) for t in (test, rows[picked])]
        record["knn50_rows"] = roc_auc_score(task.y, knn_mean(unit[0], unit[1], 50).numpy())
        if lof:
            record.update(_lof_scores(m, rows, test, picked, whitened, task.y))
        log_record(out, record, start)
        start = time.time()


if __name__ == "__main__":
    main(*sys.argv[1:5], lof="--lof" in sys.argv)
