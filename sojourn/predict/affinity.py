"""What a product is about, as tag names: topics learned from the catalogue's text (TF-IDF and
NMF), and each product's features (category levels, brand, chosen attributes, topics) with the
share of a contact's interest in the product that each one receives.

Names are slugs: lower-cased, each run of characters other than letters and digits made one
`-` ("Sun care" -> "sun-care", "防曬乳" stays "防曬乳"). A topic is named by its two strongest
terms ("oily-skin", "防曬-sunscreen"), a third or a number added when two topics would share a
name. A tag longer than a contact tag may be keeps its first 91 characters and a hash of the
whole, so different long names stay different and the same name gives the same tag every night.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

TAG_MAX = 100  # contact_tags.tag
PREFIX = "affinity"
# Kinds a contact's weights are normalised within; an attribute's kind is its key.
CATEGORY, BRAND, TOPIC = "category", "brand", "topic"
RESERVED_KINDS = frozenset({CATEGORY, BRAND, TOPIC})
# One topic per this many products at most: a topic stands for a group of products, and a small
# catalogue split into as many topics as products learns nothing.
PRODUCTS_PER_TOPIC = 4
# A product's topic shares below this are left out: noise of the factorisation, and each kept
# share is a row joined with every contact's interest in the product.
MIN_TOPIC_SHARE = 0.1
TOP_TERMS = 8  # recorded with each topic, for people reading the model
_NOT_WORD = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"^\d+$")


def slug(text: str) -> str:
    """'Sun care & SPF' -> 'sun-care-spf'; '防曬 乳' -> '防曬-乳'; nothing left -> ''."""
    return _NOT_WORD.sub("-", unicodedata.normalize("NFKC", text).lower()).strip("-")


def tag_name(kind: str, value: str) -> str:
    """`affinity:<kind>:<value>`, at most TAG_MAX characters."""
    name = f"{PREFIX}:{kind}:{value}"
    if len(name) <= TAG_MAX:
        return name
    return name[:TAG_MAX - 9] + "~" + hashlib.sha1(name.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Topic:
    name: str
    terms: list[str]  # strongest first


@dataclass
class Topics:
    topics: list[Topic]
    # Per product (in the order given), its topics' shares of it: index into `topics` -> share.
    shares: list[dict[int, float]] = field(default_factory=list)


def topic_count(products: int, terms: int, wanted: int) -> int:
    """How many topics a catalogue of `products` with `terms` distinct terms gets."""
    return max(0, min(wanted, products // PRODUCTS_PER_TOPIC, terms))


def fit_topics(texts: Sequence[str], tokenizer: Callable[[str], list[str]], wanted: int) -> Topics:
    """Topics of the products' texts (one per product, in a stable order: the same catalogue
    gives the same topics), at most `wanted` of them, fewer for a small catalogue."""
    from sklearn.decomposition import NMF  # noqa: PLC0415 - scikit-learn loads only where models fit
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer  # noqa: PLC0415

    def terms(text: str) -> list[str]:
        # A single character is mostly a fragment (jieba cuts traditional Chinese it does not know
        # into characters), a number a size: neither names a topic.
        return [t for t in tokenizer(text) if len(t) > 1 and t not in ENGLISH_STOP_WORDS and not _DIGITS.match(t)
                and slug(t)]

    if topic_count(len(texts), 1, wanted) == 0:
        return Topics([], [{} for _ in texts])
    # A term in one product only says nothing shared; one in most products says nothing apart.
    vectorizer = TfidfVectorizer(tokenizer=terms, lowercase=False, token_pattern=None, min_df=2, max_df=0.5,
                                 sublinear_tf=True)
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # no term left: every text empty, or none shared
        return Topics([], [{} for _ in texts])
    vocabulary = vectorizer.get_feature_names_out()
    count = topic_count(len(texts), len(vocabulary), wanted)
    if count == 0:
        return Topics([], [{} for _ in texts])
    model = NMF(n_components=count, init="nndsvda", random_state=0, max_iter=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: the topics are usable before the tolerance
        weights = model.fit_transform(matrix)
    topics = _named([[vocabulary[i] for i in row.argsort()[::-1][:TOP_TERMS] if row[i] > 0]
                     for row in model.components_])
    return Topics([topics[i] for i in sorted(topics)], _shares(weights, sorted(topics)))


def _named(term_lists: list[list[str]]) -> dict[int, Topic]:
    """Each topic with terms named by its first two, more when that name is taken; a topic
    without terms is left out."""
    named: dict[int, Topic] = {}
    taken: set[str] = set()
    for index, terms in enumerate(term_lists):
        if not terms:
            continue
        parts = [slug(t) for t in terms]
        name = "-".join(parts[:2])
        if name in taken:
            name = "-".join(parts[:3])
        base, n = name, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        named[index] = Topic(name, list(terms))
    return named


def _shares(weights: Any, kept: list[int]) -> list[dict[int, float]]:
    shares = []
    for row in weights:
        total = float(sum(row[i] for i in kept))
        product = {}
        if total > 0:
            for position, i in enumerate(kept):
                share = float(row[i]) / total
                if share >= MIN_TOPIC_SHARE:
                    product[position] = round(share, 6)
        shares.append(product)
    return shares


def attribute_values(value: Any) -> list[str]:
    """An attribute's values as tag values: a string, number or boolean is one, a list gives
    each of those it holds; anything else none."""
    items = value if isinstance(value, list) else [value]
    values = []
    for item in items:
        if isinstance(item, bool):
            values.append("true" if item else "false")
        elif isinstance(item, (str, int, float)):
            values.append(slug(str(item)))
    return [v for v in values if v]


def product_features(category: Iterable[str], brand: str | None, attributes: dict[str, Any],
                     attribute_keys: Sequence[str], topic_shares: dict[int, float],
                     topics: Sequence[Topic]) -> list[tuple[str, str, float]]:
    """(kind, tag, share) for one product: each level of its category path (`a`, `a/b`...), its
    brand and each chosen attribute's values with share 1, its topics with their shares."""
    features: list[tuple[str, str, float]] = []
    path: list[str] = []
    for level in category:
        if not (part := slug(level)):
            break  # a level without a name cuts the path: what follows is under no named level
        path.append(part)
        features.append((CATEGORY, tag_name(CATEGORY, "/".join(path)), 1.0))
    if brand and (name := slug(brand)):
        features.append((BRAND, tag_name(BRAND, name), 1.0))
    for key in attribute_keys:
        kind = slug(key)
        for value in sorted(set(attribute_values(attributes.get(key)))):
            features.append((kind, tag_name(kind, value), 1.0))
    for index, share in sorted(topic_shares.items()):
        features.append((TOPIC, tag_name(TOPIC, topics[index].name), share))
    return features


@dataclass
class FeatureMatrix:
    """Products' features numbered: `shares` a products x features matrix, `kinds` each
    feature's kind (numbered), `tags` each feature's tag."""

    shares: Any
    kinds: list[int]
    tags: list[str]


def feature_matrix(products: Sequence[Iterable[tuple[str, str, float]]]) -> FeatureMatrix:
    """The matrix of each product's (kind, tag, share) features, products in the order given."""
    from scipy import sparse  # noqa: PLC0415

    numbers: dict[str, int] = {}
    kind_numbers: dict[str, int] = {}
    kinds: list[int] = []
    rows, columns, shares = [], [], []
    for row, features in enumerate(products):
        for kind, tag, share in features:
            if tag not in numbers:
                numbers[tag] = len(numbers)
                kinds.append(kind_numbers.setdefault(kind, len(kind_numbers)))
            rows.append(row)
            columns.append(numbers[tag])
            shares.append(share)
    matrix = sparse.csr_matrix((shares, (rows, columns)), shape=(len(products), max(len(numbers), 1)))
    return FeatureMatrix(matrix, kinds or [0], list(numbers))


@dataclass
class Weights:
    """Kept (contact, feature, weight) triples, as parallel arrays."""

    contacts: Any
    features: Any
    weights: Any


def weigh(contacts: Any, products: Any, interest: Any, shares: Any, kinds: Any, min_weight: float) -> Weights:
    """Each contact's weight to each feature: its interest in products (`contacts[i]` has
    `interest[i]` in product number `products[i]`) times the features' shares of each product
    (`shares`: a products x features matrix), divided by the contact's strongest feature of the
    same kind (`kinds[feature]`), rounded to 4 places; weights under `min_weight` (or 0) left out."""
    import numpy as np  # noqa: PLC0415
    from scipy import sparse  # noqa: PLC0415

    contacts = np.asarray(contacts, dtype=np.int64)
    if len(contacts) == 0:
        return Weights(contacts, np.zeros(0, np.int64), np.zeros(0))
    ids, rows = np.unique(contacts, return_inverse=True)
    held = sparse.csr_matrix((np.asarray(interest, dtype=float), (rows, np.asarray(products))),
                             shape=(len(ids), shares.shape[0]))
    scores = (held @ sparse.csr_matrix(shares)).tocoo()
    kinds = np.asarray(kinds, dtype=np.int64)
    groups = scores.row.astype(np.int64) * (int(kinds.max()) + 1) + kinds[scores.col]
    strongest = np.zeros(len(ids) * (int(kinds.max()) + 1))
    np.maximum.at(strongest, groups, scores.data)
    weights = np.round(scores.data / strongest[groups], 4)
    keep = (weights >= min_weight) & (weights > 0)
    return Weights(ids[scores.row[keep]], scores.col[keep].astype(np.int64), weights[keep])
