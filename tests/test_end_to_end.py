"""End to end: the default configuration must actually separate outliers.

scikit-learn's digits, digit 0 as inliers plus 10% other digits (the demo's task, fixed
in advance). Raw-pixel KNN reaches about 0.995 here, so a model that learns nothing
useful falls well below the bar; the labels are used only for the AUROC.
"""

from sklearn.metrics import roc_auc_score

from mcod import MCOD
from mcod.data.datasets import load_dataset, uod_split


def test_default_separates_digit_outliers():
    digits = load_dataset("digits")
    index, is_outlier = uod_split(digits.labels, inlier_class=0, rho=0.1, seed=0)
    detector = MCOD(contamination=0.1, random_state=0, device="cpu").fit(digits.images[index])
    auroc = roc_auc_score(is_outlier, detector.decision_scores_)
    assert auroc >= 0.95, f"AUROC {auroc:.3f} on digits: the default is not learning"
    flagged = detector.labels_.astype(bool)
    # at the planted contamination most flagged samples are real outliers
    assert is_outlier[flagged].mean() >= 0.6


def test_release_configuration_trains_and_scores():
    digits = load_dataset("digits")
    index, _ = uod_split(digits.labels, inlier_class=1, rho=0.1, seed=0)
    detector = MCOD(config="release", epochs=2, random_state=0, device="cpu")
    detector.fit(digits.images[index])
    assert detector.config_.backbone == "wrn10_4"
    assert detector.config_.warmup_epochs == 1  # 100 of 200 epochs, scaled to 2
    assert set(detector.history_[-1]) == {"inst", "clu", "bal", "read"}
    assert detector.decision_scores_.shape == (len(index),)
