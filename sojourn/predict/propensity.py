"""Purchase propensity and churn: a gradient-boosted classifier (scikit-learn's
HistGradientBoostingClassifier) on per-contact features, checked against a recency-frequency
baseline on a later window than it was trained on.

The caller gives two labelled windows: `train` (features as of T-2H, labels in the H after) and
`validation` (features as of T-H, labels in the H after, up to T). Both the model and the baseline
are fitted on `train` and measured on `validation`: AUC, Brier score, reliability by decile of
predicted score, and lift in the top decile. The model is used only when its AUC is above the
baseline's. The baseline is a logistic regression on recency (days since the last purchase; a
contact who never bought counts as `NEVER_BOUGHT_DAYS`) and log frequency, standardised."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# Training reads at most this many contacts (a seeded sample, so a day's fit is the same each
# run): past it the trees hardly improve and fitting time grows with every row (on the bench's
# shop, 100,000 rather than 50,000 gained 0.001 of AUC for 2 s of fitting).
TRAIN_SAMPLE = 100_000
# A smaller step than scikit-learn's 0.1 with room for more trees (early stopping still ends
# the fit): +0.0005-0.001 of AUC on the bench's shop.
LEARNING_RATE, MAX_TREES = 0.05, 300
NEVER_BOUGHT_DAYS = 3650.0
SEED = 0


@dataclass
class Window:
    """Contacts' features (rows) and whether each turned out positive."""

    features: np.ndarray
    labels: np.ndarray


@dataclass
class Fitted:
    """The outcome of one fit: the classifier (None when none could be fitted), whether it is to
    be used and, if not, why; the metrics of model and baseline on the validation window."""

    classifier: Any
    used: bool
    reason: str | None
    metrics: dict[str, Any] = field(default_factory=dict)

    def scores(self, features: np.ndarray) -> np.ndarray:
        return self.classifier.predict_proba(features)[:, 1] if len(features) else np.zeros(0)


def fit(train: Window, validation: Window, recency: int, frequency: int) -> Fitted:
    """Fit the classifier and the baseline (whose inputs are columns `recency` and `frequency`)
    on `train`, measure both on `validation`, and decide whether the classifier is used."""
    metrics: dict[str, Any] = {
        "train_contacts": len(train.labels), "train_positives": int(train.labels.sum()),
        "validation_contacts": len(validation.labels), "validation_positives": int(validation.labels.sum()),
    }
    problem = _too_little(train, "training") or _too_little(validation, "validation")
    if problem is not None:
        return Fitted(None, False, problem, metrics)
    sample = _sample(len(train.labels))
    x, y = _without_empty_columns(train.features[sample]), train.labels[sample]
    metrics["trained_on"] = len(y)
    classifier = HistGradientBoostingClassifier(learning_rate=LEARNING_RATE, max_iter=MAX_TREES,
                                                random_state=SEED).fit(x, y)
    baseline = make_pipeline(StandardScaler(), LogisticRegression()).fit(_rf(x, recency, frequency), y)
    metrics["model"] = evaluate(classifier.predict_proba(validation.features)[:, 1], validation.labels)
    metrics["baseline"] = evaluate(baseline.predict_proba(_rf(validation.features, recency, frequency))[:, 1],
                                   validation.labels)
    model_auc, baseline_auc = metrics["model"]["auc"], metrics["baseline"]["auc"]
    if model_auc <= baseline_auc:
        return Fitted(classifier, False, f"AUC {model_auc:.4f} does not beat the recency-frequency baseline's "
                                         f"{baseline_auc:.4f} on the validation window", metrics)
    return Fitted(classifier, True, None, metrics)


def evaluate(scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """AUC, Brier score, top-decile lift (the positive rate among the top 10% of scores over the
    rate overall) and, per decile of score, the mean score against the observed rate."""
    by_decile = deciles(scores)
    reliability = [{"decile": d, "contacts": int((by_decile == d).sum()),
                    "mean_score": _round(scores[by_decile == d].mean()),
                    "observed_rate": _round(labels[by_decile == d].mean())}
                   for d in range(1, 11) if (by_decile == d).any()]
    top = scores >= np.quantile(scores, 0.9, method="higher")  # at least the top 10%, ties kept together
    return {"auc": _round(roc_auc_score(labels, scores)), "brier": _round(brier_score_loss(labels, scores)),
            "top_decile_lift": _round(labels[top].mean() / labels.mean()), "reliability": reliability}


def deciles(scores: np.ndarray) -> np.ndarray:
    """Each score's decile among `scores`, 1 to 10 (10 the highest); equal scores share one."""
    if len(scores) == 0:
        return np.zeros(0, dtype=int)
    ranks = rankdata(scores, method="max")
    return np.ceil(10 * ranks / len(scores)).astype(int)


def _too_little(window: Window, name: str) -> str | None:
    positives = int(window.labels.sum())
    if positives == 0 or positives == len(window.labels):
        outcome = "no contact" if positives == 0 else "every contact"
        return f"nothing to learn: {outcome} of the {len(window.labels)} in the {name} window turned out positive"
    return None


def _sample(n: int) -> np.ndarray:
    if n <= TRAIN_SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(SEED).choice(n, TRAIN_SAMPLE, replace=False))


def _without_empty_columns(features: np.ndarray) -> np.ndarray:
    # A column missing for everyone (nobody had bought yet) says nothing, but scikit-learn's
    # binning fails on it: as a constant it is never split on, whatever it holds when scoring.
    empty = np.isnan(features).all(axis=0)
    if not empty.any():
        return features
    filled = features.copy()
    filled[:, empty] = 0.0
    return filled


def _rf(features: np.ndarray, recency: int, frequency: int) -> np.ndarray:
    days = np.nan_to_num(features[:, recency], nan=NEVER_BOUGHT_DAYS)
    return np.column_stack([days, np.log1p(features[:, frequency])])


def _round(value: float) -> float:
    return round(float(value), 6)
