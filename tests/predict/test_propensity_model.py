"""sojourn.predict.propensity on planted data: a pattern recency and frequency cannot express
is learned and beats the baseline; features that say nothing give a model that is not used;
metrics and deciles mean what they say."""

from __future__ import annotations

import numpy as np
import pytest

from sojourn.predict.propensity import TRAIN_SAMPLE, Window, deciles, evaluate, fit

RECENCY, FREQUENCY, CART = 0, 1, 2


def cyclers(n: int, seed: int) -> Window:
    """Buyers on a 60-day cycle: they buy in the next 30 days when their last purchase was 30 to
    60 days ago (a shape a logistic regression on recency cannot follow) or their cart is full."""
    rng = np.random.default_rng(seed)
    recency = rng.uniform(0, 60, n)
    frequency = rng.integers(1, 10, n).astype(float)
    cart = rng.random(n) < 0.1
    labels = (recency >= 30) | cart
    never = rng.random(n) < 0.2  # some never bought: no recency, and they do not buy
    recency[never], frequency[never], labels[never] = np.nan, 0, False
    noise = rng.random((n, 3))
    return Window(np.column_stack([recency, frequency, cart.astype(float), noise]), labels)


def test_a_pattern_beyond_recency_and_frequency_beats_the_baseline():
    fitted = fit(cyclers(4000, 1), cyclers(4000, 2), RECENCY, FREQUENCY)
    assert fitted.used and fitted.reason is None
    model, baseline = fitted.metrics["model"], fitted.metrics["baseline"]
    assert model["auc"] > 0.95
    assert model["auc"] > baseline["auc"] + 0.15
    assert model["top_decile_lift"] > baseline["top_decile_lift"]
    assert model["brier"] < baseline["brier"]
    assert fitted.metrics["validation_positives"] == int(cyclers(4000, 2).labels.sum())


def test_features_that_say_nothing_give_a_model_that_is_not_used():
    rng = np.random.default_rng(3)
    same = np.column_stack([np.full(3000, np.nan), np.zeros(3000), np.ones(3000)])  # nobody differs
    fitted = fit(Window(same, rng.random(3000) < 0.3), Window(same, rng.random(3000) < 0.3), RECENCY, FREQUENCY)
    assert not fitted.used
    assert fitted.metrics["model"]["auc"] == fitted.metrics["baseline"]["auc"] == 0.5
    assert fitted.reason == ("AUC 0.5000 does not beat the recency-frequency baseline's 0.5000 "
                             "on the validation window")


@pytest.mark.parametrize("labels, said", [(np.zeros(50, bool), "no contact"), (np.ones(50, bool), "every contact")])
def test_a_window_of_one_outcome_is_refused_with_the_reason(labels, said):
    window = cyclers(50, 4)
    fitted = fit(window, Window(window.features, labels), RECENCY, FREQUENCY)
    assert (fitted.used, fitted.classifier) == (False, None)
    assert fitted.reason == f"nothing to learn: {said} of the 50 in the validation window turned out positive"


def test_a_large_training_window_is_sampled_the_same_way_every_time():
    big = cyclers(TRAIN_SAMPLE + 5000, 5)
    first, second = (fit(big, cyclers(2000, 6), RECENCY, FREQUENCY) for _ in range(2))
    assert first.metrics["trained_on"] == TRAIN_SAMPLE
    assert first.metrics == second.metrics


def test_deciles_rank_scores_and_keep_ties_together():
    assert deciles(np.arange(20) / 20).tolist() == [d for d in range(1, 11) for _ in range(2)]
    assert deciles(np.array([0.5] * 10)).tolist() == [10] * 10
    assert deciles(np.zeros(0)).tolist() == []


def test_metrics_of_a_known_ranking():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    labels = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0], bool)
    metrics = evaluate(scores, labels)
    assert metrics["auc"] == pytest.approx(20 / 21)  # 20 of the 21 positive-negative pairs ranked right
    assert metrics["top_decile_lift"] == pytest.approx(1 / 0.3, abs=1e-5)  # the top one bought; 30% overall
    assert metrics["brier"] == pytest.approx(float(np.mean((scores - labels) ** 2)), abs=1e-6)
    assert [r["observed_rate"] for r in metrics["reliability"]] == [0, 0, 0, 0, 0, 0, 1, 0, 1, 1]
