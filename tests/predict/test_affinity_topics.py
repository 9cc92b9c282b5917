"""Topics and product features on a planted bilingual catalogue: the three groups come out as
three topics named by their terms, in either language; the same catalogue gives the same
topics; a small catalogue gets fewer topics; names fit a contact tag."""

from __future__ import annotations

from affinity_catalogue import CATALOGUE, texts

from sojourn.data.products.text import tokens
from sojourn.predict.affinity import (
    TAG_MAX,
    feature_matrix,
    fit_topics,
    product_features,
    slug,
    tag_name,
    topic_count,
    weigh,
)


def test_the_planted_groups_are_the_topics_and_named_by_their_terms():
    topics = fit_topics(texts(), tokens, 20)
    assert len(topics.topics) == 3  # 14 products: at most one topic per 4, and 3 groups to find
    group_of = {}
    for (sku, *_), shares in zip(CATALOGUE, topics.shares):
        strongest = max(shares, key=shares.get)
        group_of.setdefault(sku.split("-")[0], set()).add(topics.topics[strongest].name)
    assert all(len(names) == 1 for names in group_of.values()), group_of
    [sun], [moist], [hair] = group_of["sun"], group_of["moist"], group_of["hair"]
    assert set(sun.split("-")) == {"sunscreen", "防曬"}
    assert "保濕" in moist.split("-") and "shampoo" in hair.split("-")
    assert all(abs(sum(shares.values()) - 1) < 0.15 for shares in topics.shares)


def test_the_same_catalogue_gives_the_same_topics():
    first, second = fit_topics(texts(), tokens, 20), fit_topics(texts(), tokens, 20)
    assert first == second


def test_fewer_topics_for_a_small_catalogue_or_a_low_setting():
    assert len(fit_topics(texts(), tokens, 2).topics) == 2
    assert fit_topics(texts()[:3], tokens, 20).topics == []  # 3 products: no topic to learn
    assert fit_topics(["", ""] * 4, tokens, 20).topics == []  # no words at all
    assert fit_topics(texts(), tokens, 0).topics == []
    assert topic_count(2000, 5000, 20) == 20 and topic_count(9, 5000, 20) == 2 and topic_count(40, 3, 20) == 3


def test_names_are_slugs_that_fit_a_tag():
    assert slug("Sun care & SPF50!") == "sun-care-spf50" and slug("防曬 乳") == "防曬-乳" and slug("***") == ""
    assert slug("ＳＰＦ５０") == "spf50"  # full-width forms as their plain letters
    long_a, long_b = tag_name("brand", "x" * 120), tag_name("brand", "x" * 119 + "y")
    assert len(long_a) == TAG_MAX and len(long_b) == TAG_MAX and long_a != long_b
    assert tag_name("brand", "x" * 120) == long_a


def test_a_products_features():
    topics = fit_topics(texts(), tokens, 20)
    sku, _, _, category, brand, attributes = CATALOGUE[1]
    features = product_features(category, brand, attributes, ["skin_type", "missing"], topics.shares[1],
                                topics.topics)
    by_kind = {}
    for kind, tag, share in features:
        by_kind.setdefault(kind, []).append((tag, share))
    assert by_kind["category"] == [("affinity:category:保養", 1.0), ("affinity:category:保養/防曬", 1.0)]
    assert by_kind["brand"] == [("affinity:brand:biore", 1.0)]
    assert by_kind["skin-type"] == [("affinity:skin-type:combination", 1.0), ("affinity:skin-type:oily", 1.0)]
    [(topic, share)] = by_kind["topic"]
    assert topic.startswith("affinity:topic:") and "sunscreen" in topic and share == 1.0
    assert product_features(["", "Face"], None, {"skin_type": {"nested": 1}}, ["skin_type"], {}, []) == []


def test_weights_are_shares_of_the_strongest_of_each_kind():
    matrix = feature_matrix([
        [("category", "c:a", 1.0), ("brand", "b:x", 1.0), ("topic", "t:1", 0.75), ("topic", "t:2", 0.25)],
        [("category", "c:b", 1.0), ("brand", "b:x", 1.0), ("topic", "t:2", 1.0)]])
    assert matrix.tags == ["c:a", "b:x", "t:1", "t:2", "c:b"] and matrix.kinds == [0, 1, 2, 2, 0]
    # contact 7: interest 4 in product 0, 1 in product 1; contact 9: 0.5 in product 1 only
    kept = weigh([7, 7, 9], [0, 1, 1], [4.0, 1.0, 0.5], matrix.shares, matrix.kinds, 0.2)
    found = {(int(c), matrix.tags[f], float(w)) for c, f, w in zip(kept.contacts, kept.features, kept.weights)}
    assert found == {(7, "c:a", 1.0), (7, "c:b", 0.25), (7, "b:x", 1.0), (7, "t:1", 1.0), (7, "t:2", 0.6667),
                     (9, "c:b", 1.0), (9, "b:x", 1.0), (9, "t:2", 1.0)}
    assert len(weigh([], [], [], matrix.shares, matrix.kinds, 0.2).contacts) == 0
    dropped = weigh([7, 7], [0, 1], [4.0, 1.0], matrix.shares, matrix.kinds, 0.3)
    assert "c:b" not in {matrix.tags[f] for f in dropped.features}  # 0.25 < 0.3
