"""The AFFINITY_* settings as an operator gives them: event weights as a JSON object (unset:
view < add to cart < the purchase event), attribute keys that cannot collide with the tag kinds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sojourn.services.affinity import event_weights
from sojourn.settings import Settings


def test_event_weights_from_the_environment_or_the_default(monkeypatch):
    monkeypatch.setenv("AFFINITY_EVENT_WEIGHTS", '{"viewed_product": 1, "order.completed": 12.5}')
    monkeypatch.setenv("AFFINITY_ATTRIBUTES", '["skin_type", "finish"]')
    settings = Settings()
    assert event_weights(settings) == {"viewed_product": 1.0, "order.completed": 12.5}
    assert settings.affinity_attributes == ["skin_type", "finish"]
    monkeypatch.delenv("AFFINITY_EVENT_WEIGHTS")
    assert event_weights(Settings(purchase_event="order.completed")) == {
        "viewed_product": 1.0, "added_to_cart": 3.0, "order.completed": 10.0}


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("affinity_attributes", ["Brand"], "affinity:brand"),
    ("affinity_attributes", ["__"], "empty names"),
    ("affinity_event_weights", {}, "at least one event"),
    ("affinity_event_weights", {"purchase": 0}, "greater than 0"),
    ("affinity_event_weights", {"purchase": float("inf")}, "finite"),
    ("affinity_half_life_days", 0, "greater than 0"),
    ("affinity_min_weight", 1.5, "less than or equal to 1"),
])
def test_settings_that_would_mean_nothing_are_refused(field, value, problem):
    with pytest.raises(ValidationError) as refused:
        Settings(**{field: value})
    assert problem in str(refused.value)
