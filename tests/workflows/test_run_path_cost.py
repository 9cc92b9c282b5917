"""What each journey run pays in the worker beyond its own work (bench/enroll.py measures it)."""

import dataclasses
import importlib
import pkgutil

from temporalio import workflow

import sojourn.contracts
from workflows.journey import JourneyWorkflow


def _payload_types() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(sojourn.contracts.__path__):
        module = importlib.import_module(f"sojourn.contracts.{info.name}")
        found += [value for value in vars(module).values()
                  if dataclasses.is_dataclass(value) and value.__module__ == module.__name__]
    return found


def test_contract_dataclasses_have_evaluated_annotations():
    """Decoding a payload calls get_type_hints on each dataclass in it: strings would be evaluated every time."""
    types = _payload_types()
    assert len(types) > 20
    stringly = [f"{cls.__module__}.{cls.__name__}.{field.name}" for cls in types
                for field in dataclasses.fields(cls) if isinstance(field.type, str)]
    assert stringly == []


def test_journey_runs_are_not_sandboxed():
    """The sandbox re-executed the workflow module per run and was entered for every payload of
    every command, while the interpreter it would have checked is passed through it."""
    assert workflow._Definition.must_from_class(JourneyWorkflow).sandboxed is False
