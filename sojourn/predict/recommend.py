"""Product recommendations from item-to-item co-occurrence, with popularity to fill.

Two kinds of co-occurrence, counted over contacts (a contact counts once per pair):
- bought together: products i and j both bought by the contact;
- viewed then bought: product i viewed (or added to the cart) before the contact's last purchase,
  and product j bought (j != i): the view led somewhere.
Each is normalised by cosine (the pair's count over the square root of the counts of its two
sides), so a product everyone buys is not everyone's neighbour, and the two are added with
`VIEW_WEIGHT` for the weaker signal: similarity(i -> j) = cos_bought(i, j) + VIEW_WEIGHT *
cos_viewed_bought(i, j). Each product keeps its `NEIGHBOURS` strongest neighbours, which bounds
the scoring's cost whatever the catalogue's size.

A contact's score for j sums similarity(i -> j) over the products i of their history, each
weighted by what they did (view < cart < purchase) and halved every `half_life_days`. Products
the contact bought are never recommended; the top N by score come first, then the most popular
products (most distinct buyers) fill the list, so a contact without history gets popular
products. Everything here is arrays in, arrays out: no database, no settings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

VIEW, CART, PURCHASE = 0, 1, 2
KIND_WEIGHTS = np.array([1.0, 2.0, 3.0])  # view < add to cart < purchase
VIEW_WEIGHT = 0.5
NEIGHBOURS = 50
_BLOCK = 4096  # contacts scored at once: a dense block of block x products float32 scores
_DAY = 86_400.0


@dataclass
class Interactions:
    """Product events: contact row (0..contacts-1), product column (0..products-1), kind (VIEW,
    CART, PURCHASE) and time (seconds since the epoch), one entry per event."""

    contacts: np.ndarray
    products: np.ndarray
    kinds: np.ndarray
    times: np.ndarray
    n_contacts: int
    n_products: int

    def between(self, start: float, cutoff: float) -> Interactions:
        keep = (self.times >= start) & (self.times < cutoff)
        return Interactions(self.contacts[keep], self.products[keep], self.kinds[keep], self.times[keep],
                            self.n_contacts, self.n_products)

    def bought(self) -> sparse.csr_matrix:
        """Contacts x products, 1 where the contact bought the product."""
        purchase = self.kinds == PURCHASE
        return _binary(self.contacts[purchase], self.products[purchase], self.n_contacts, self.n_products)


@dataclass
class ItemModel:
    similarity: sparse.csr_matrix  # products x products: similarity(i -> j)
    popularity: np.ndarray  # distinct buyers per product

    def popular(self, n: int) -> list[int]:
        """The `n` most bought products (ties: lower column first), only products bought at all."""
        order = np.lexsort((np.arange(len(self.popularity)), -self.popularity))
        return [int(p) for p in order[:n] if self.popularity[p] > 0]

    def popularity_only(self) -> ItemModel:
        """The same popularity without co-occurrence: every contact gets the popular products."""
        return ItemModel(sparse.csr_matrix(self.similarity.shape), self.popularity)


def fit(data: Interactions, view_weight: float = VIEW_WEIGHT, neighbours: int = NEIGHBOURS) -> ItemModel:
    bought = data.bought()
    buyers = np.asarray(bought.sum(axis=0)).ravel()
    together = _cosine((bought.T @ bought).tocsr(), buyers, buyers)
    together.setdiag(0)
    purchase = data.kinds == PURCHASE
    last_purchase = np.full(data.n_contacts, -np.inf)
    np.maximum.at(last_purchase, data.contacts[purchase], data.times[purchase])
    led = (data.kinds != PURCHASE) & (data.times < last_purchase[data.contacts])
    viewed = _binary(data.contacts[led], data.products[led], data.n_contacts, data.n_products)
    viewers = np.asarray(viewed.sum(axis=0)).ravel()
    then_bought = _cosine((viewed.T @ bought).tocsr(), viewers, buyers)
    then_bought.setdiag(0)
    similarity = (together + view_weight * then_bought).tocsr()
    similarity.eliminate_zeros()
    return ItemModel(_strongest(similarity, neighbours), buyers.astype(float))


@dataclass
class Histories:
    """What each contact did, as recommending reads it: products weighted by kind and age
    (`profile`), and products bought (`bought`, never recommended); contacts x products."""

    profile: sparse.csr_matrix
    bought: sparse.csr_matrix


def histories(data: Interactions, now: float, half_life_days: float) -> Histories:
    age_days = np.maximum(now - data.times, 0.0) / _DAY
    weights = KIND_WEIGHTS[data.kinds] * np.power(0.5, age_days / half_life_days)
    profile = sparse.csr_matrix((weights, (data.contacts, data.products)), shape=(data.n_contacts, data.n_products))
    return Histories(profile, data.bought())


def recommend(model: ItemModel, seen: Histories, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For each contact row in `rows`: up to `n` product columns (-1 where there are fewer) and
    their scores (0 for a popular product that filled the list), best first."""
    popularity = (model.popularity / (model.popularity.max() + 1.0)).astype(np.float32) \
        if len(model.popularity) else np.zeros(0, np.float32)
    similarity = model.similarity.astype(np.float32)
    picks = np.full((len(rows), n), -1, dtype=np.int64)
    scores = np.zeros((len(rows), n))
    take = min(n, len(popularity))
    if not take:
        return picks, scores
    for start in range(0, len(rows), _BLOCK):
        block = rows[start:start + _BLOCK]
        score = (seen.profile[block].astype(np.float32) @ similarity).toarray()
        # Co-occurrence first (every positive score above 1), then popularity (below 1); a
        # product never bought by anyone (popularity 0) or bought by this contact is left out.
        key = np.where(score > 0, score + np.float32(1), popularity[np.newaxis, :])
        key[seen.bought[block].nonzero()] = 0
        top = np.argpartition(-key, take - 1, axis=1)[:, :take]
        top_keys = np.take_along_axis(key, top, axis=1)
        order = np.lexsort((top, -top_keys), axis=1)  # a few columns per row: cheap
        top, top_keys = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_keys, order, axis=1)
        picks[start:start + len(block), :take] = np.where(top_keys > 0, top, -1)
        scores[start:start + len(block), :take] = np.where(top_keys > 1, top_keys.astype(np.float64) - 1.0, 0.0)
    return picks, scores


def evaluate(data: Interactions, cutoff: float, half_life_days: float, k: int = 5) -> dict[str, float]:
    """Fit on the events before `cutoff`, recommend `k` products to every contact who bought a
    product at or after it that they had not bought before, and measure precision@k and
    recall@k of those new purchases, for co-occurrence (with its popularity fill) and for
    popularity alone (the same popular products, minus what each contact bought)."""
    train = data.between(-np.inf, cutoff)
    model = fit(train)
    known = train.bought()
    later = (data.kinds == PURCHASE) & (data.times >= cutoff)
    bought_later = _binary(data.contacts[later], data.products[later], data.n_contacts, data.n_products)
    new = (bought_later - known.multiply(bought_later)).tocsr()
    new.eliminate_zeros()
    rows = np.flatnonzero(np.diff(new.indptr))
    metrics: dict[str, float] = {"evaluated_contacts": int(len(rows)), "k": k}
    if not len(rows):
        return metrics
    seen = histories(train, cutoff, half_life_days)
    for name, fitted in (("cooccurrence", model), ("popularity", model.popularity_only())):
        picks, _ = recommend(fitted, seen, rows, k)
        hits = np.zeros(len(rows))
        for column in range(picks.shape[1]):
            valid = picks[:, column] >= 0
            hits[valid] += np.asarray(new[rows[valid], picks[valid, column]]).ravel()
        wanted = np.diff(new.indptr)[rows]
        metrics[f"{name}_precision_at_{k}"] = round(float(np.mean(hits / k)), 6)
        metrics[f"{name}_recall_at_{k}"] = round(float(np.mean(hits / wanted)), 6)
    return metrics


def _binary(rows: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int) -> sparse.csr_matrix:
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, columns)), shape=(n_rows, n_columns))
    matrix.data[:] = 1.0  # duplicates were summed: a contact counts once
    return matrix


def _cosine(counts: sparse.csr_matrix, left: np.ndarray, right: np.ndarray) -> sparse.csr_matrix:
    coo = counts.tocoo()
    norm = np.sqrt(left[coo.row] * right[coo.col])
    return sparse.csr_matrix((np.divide(coo.data, norm, out=np.zeros_like(coo.data), where=norm > 0),
                              (coo.row, coo.col)), shape=counts.shape)


def _strongest(similarity: sparse.csr_matrix, neighbours: int) -> sparse.csr_matrix:
    similarity.sort_indices()
    rows, columns, values = [], [], []
    for i in range(similarity.shape[0]):
        start, end = similarity.indptr[i], similarity.indptr[i + 1]
        data, cols = similarity.data[start:end], similarity.indices[start:end]
        if len(data) > neighbours:
            keep = np.argpartition(-data, neighbours - 1)[:neighbours]
            data, cols = data[keep], cols[keep]
        rows.append(np.full(len(data), i))
        columns.append(cols)
        values.append(data)
    if not rows:
        return similarity
    return sparse.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
                             shape=similarity.shape)
