"""Payload types keep evaluated annotations, so decoding them does not evaluate strings."""

import dataclasses
import importlib
import pkgutil

import sojourn.contracts


def _payload_types() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(sojourn.contracts.__path__):
        module = importlib.import_module(f"sojourn.contracts.{info.name}")
        found += [value for value in vars(module).values()
                  if dataclasses.is_dataclass(value) and value.__module__ == module.__name__]
    return found


def test_contract_dataclasses_have_evaluated_annotations():
    types = _payload_types()
    assert len(types) > 20
    stringly = [f"{cls.__module__}.{cls.__name__}.{field.name}" for cls in types
                for field in dataclasses.fields(cls) if isinstance(field.type, str)]
    assert stringly == []
