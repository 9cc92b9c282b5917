"""Co-occurrence recommendations on planted baskets: a product always bought with another is
that one's first recommendation, bought products are never recommended, a contact without
history gets popular products, a view that led to a purchase counts, and on a later window the
planted co-occurrence beats popularity alone."""

from __future__ import annotations

import numpy as np

from sojourn.predict.recommend import CART, PURCHASE, VIEW, Interactions, evaluate, fit, histories, recommend

DAY = 86_400.0
NOW = 1_000 * DAY


def interactions(events: list[tuple[int, int, int, float]], n_contacts: int, n_products: int) -> Interactions:
    contacts, products, kinds, times = (np.array(column) for column in zip(*events))
    return Interactions(contacts.astype(np.int64), products.astype(np.int64), kinds.astype(np.int64),
                        times.astype(float), n_contacts, n_products)


def planted_shop(rng: np.random.Generator, n_contacts: int = 300, n_products: int = 20,
                 start: float = NOW - 300 * DAY, end: float = NOW,
                 gap_days: tuple[float, float] = (1, 20)) -> list[tuple[int, int, int, float]]:
    """Products come in pairs (0, 1), (2, 3)...: whoever buys one buys its partner some days
    later. Product 18 is bought by many contacts, alone (popular, partner of nothing)."""
    events = []
    for contact in range(n_contacts):
        when = rng.uniform(start, end)
        first = int(rng.integers(0, 9)) * 2
        partner = first + 1
        if rng.random() < 0.5:
            first, partner = partner, first
        events.append((contact, first, PURCHASE, when))
        events.append((contact, partner, PURCHASE, when + rng.uniform(*gap_days) * DAY))
        if rng.random() < 0.4:
            events.append((contact, 18, PURCHASE, rng.uniform(start, end)))
    return events


def test_the_partner_of_a_planted_pair_comes_first_and_bought_products_never_come():
    events = planted_shop(np.random.default_rng(1))
    newcomer, one_buyer = 300, 301
    events.append((one_buyer, 4, PURCHASE, NOW - DAY))  # bought 4 alone: 5 should come first
    data = interactions(events, 302, 20)
    model = fit(data)
    picks, scores = recommend(model, histories(data, NOW, 30), np.array([one_buyer, newcomer, 0]), 5)
    assert picks[0][0] == 5 and scores[0][0] > 0
    assert 4 not in picks[0]
    assert list(picks[1][:1]) == [18] and scores[1].tolist() == [0.0] * 5  # popular only
    assert model.popular(2)[0] == 18
    bought_by_0 = {p for c, p, k, _ in events if c == 0 and k == PURCHASE}
    assert not bought_by_0 & set(picks[2].tolist())


def test_a_view_that_led_to_a_purchase_makes_a_neighbour():
    rng = np.random.default_rng(2)
    events = []
    for contact in range(100):  # viewed 7, then bought 3 instead
        when = rng.uniform(NOW - 200 * DAY, NOW - 10 * DAY)
        events += [(contact, 7, VIEW, when), (contact, 7, CART, when + 60), (contact, 3, PURCHASE, when + DAY)]
    for contact in range(100, 150):  # viewed 9 after their last purchase: it led nowhere
        events += [(contact, 2, PURCHASE, NOW - 50 * DAY), (contact, 9, VIEW, NOW - 40 * DAY)]
    viewer = 150
    events.append((viewer, 7, VIEW, NOW - DAY))
    data = interactions(events, 151, 10)
    model = fit(data)
    assert model.similarity[7, 3] > 0 and model.similarity[9, 2] == 0
    picks, scores = recommend(model, histories(data, NOW, 30), np.array([viewer]), 3)
    assert picks[0][0] == 3 and scores[0][0] > 0


def test_fewer_products_than_asked_leave_the_rest_empty():
    data = interactions([(0, 0, PURCHASE, NOW - DAY), (1, 1, PURCHASE, NOW - DAY)], 2, 2)
    picks, _ = recommend(fit(data), histories(data, NOW, 30), np.array([0]), 5)
    assert picks[0].tolist() == [1, -1, -1, -1, -1]


def test_planted_co_occurrence_beats_popularity_on_the_later_window():
    cutoff = NOW - 60 * DAY
    rng = np.random.default_rng(3)
    events = planted_shop(rng, n_contacts=300, end=cutoff)  # the pairs, known before the cut-off
    for contact in planted_shop(rng, n_contacts=300, start=cutoff - 30 * DAY, end=cutoff,
                                gap_days=(31, 59)):
        events.append((contact[0] + 300, *contact[1:]))  # their second halves fall in the later window
    data = interactions(events, 600, 20)
    metrics = evaluate(data, cutoff, half_life_days=30)
    assert metrics["evaluated_contacts"] > 50
    assert metrics["cooccurrence_precision_at_5"] > metrics["popularity_precision_at_5"] * 1.5
    assert metrics["cooccurrence_recall_at_5"] > metrics["popularity_recall_at_5"]
    assert 0 < metrics["cooccurrence_precision_at_5"] <= 1


def test_without_co_occurrence_it_does_no_better_than_popularity():
    rng = np.random.default_rng(4)  # every contact buys one random product: no pairs at all
    events = [(c, int(rng.integers(0, 20)), PURCHASE, rng.uniform(NOW - 300 * DAY, NOW)) for c in range(500)]
    metrics = evaluate(interactions(events, 500, 20), NOW - 60 * DAY, half_life_days=30)
    assert metrics["cooccurrence_precision_at_5"] <= metrics["popularity_precision_at_5"]
