"""What each journey run pays in the worker beyond its own work (bench/enroll.py measures it)."""

import dataclasses
import importlib
import json
import pkgutil

from temporalio import workflow
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter

import sojourn.contracts
from sojourn.contracts.journey import (
    ContactEvent,
    EngagementSignal,
    JourneyInput,
    JourneyState,
    PathStep,
    SentMessage,
)
from sojourn.contracts.journey_data import RunEnd
from sojourn.contracts.send import SendRequest, SendResult
from sojourn.contracts.statuses import MessageStatus, RunStatus
from sojourn.contracts.steps import RunSteps, Step
from sojourn.data.contact_keys import ContactKeys
from sojourn.services.payload_codec import data_converter
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


def _samples() -> list[object]:
    steps = RunSteps(run_id="r", journey_id="j", version=2, contact_id=7, started_at="2026-05-01T09:00:00+00:00",
                     steps=[Step(seq=1, node="first", type="send", entered_at="2026-05-01T09:00:00+00:00",
                                 left_at="2026-05-01T09:00:01+00:00", outcome="sent"),
                            Step(seq=2, node="pause", type="wait", entered_at="2026-05-01T09:00:01+00:00")])
    event = ContactEvent(event_id="e", name="booked", properties={"amount": 12.5, "tags": ["a"]},
                         occurred_at="2026-05-01T08:00:00+00:00")
    return [
        JourneyInput(journey_id="j", version=2, contact_id=7, contact_external_id="c", definition={"nodes": []},
                     trigger=event, patches=["channels"]),
        SendRequest(idempotency_key="k", workflow_id="w", journey_id="j", journey_version=2, node_id="first",
                    contact_id=7, node={"id": "first", "type": "send", "subject": "Hi"}, event=event, steps=steps,
                    quiet_hours={"start": "21:00", "end": "08:00"}),
        SendResult(status=MessageStatus.SENT, channel="email", message_id="m", recipient="a@b.example", subject="Hi"),
        RunEnd(run_id="r", workflow_id="w", journey_id="j", version=2, contact_id=7, status=RunStatus.EXITED,
               ended_at="2026-05-02T09:00:00+00:00", exit_reason="goal: booked", steps=steps),
        JourneyState(journey_id="j", version=2, contact_external_id="c", status=RunStatus.COMPLETED,
                     current_node=None, wait_until=None,
                     path=[PathStep(node="first", type="send", entered_at="2026-05-01T09:00:00+00:00", outcome="sent")],
                     messages=[SentMessage(node="first", message_id="m", status="sent")],
                     engagements=[EngagementSignal(send_node="first", kind="opened")], events=[event],
                     exit_reason=None, converted_at=None),
        None, 1.5, [True, False],
    ]


def test_run_payloads_are_converted_by_a_validator_built_once_per_type_in_the_same_json():
    """The codec's converter (pydantic's) reads what the default converter wrote in recorded
    histories, and writes what it reads, value for value."""
    converter = data_converter(ContactKeys(None, b"k" * 32, cache_size=1, ttl=1))
    assert issubclass(converter.payload_converter_class, PydanticPayloadConverter)
    ours = converter.payload_converter
    default = DataConverter.default.payload_converter
    for value in _samples():
        kind = type(value)
        [theirs_written] = default.to_payloads([value])
        [ours_written] = ours.to_payloads([value])
        assert ours_written.metadata == theirs_written.metadata
        assert json.loads(ours_written.data or "null") == json.loads(theirs_written.data or "null")
        assert ours.from_payloads([theirs_written], [kind]) == [value]
        assert default.from_payloads([ours_written], [kind]) == [value]


def test_every_run_reads_its_payloads_with_the_same_validators():
    """The worker makes a payload converter for each run it caches; were each to build its own
    validators, each cached run would keep them (90 KB a run in bench/memory.py)."""
    converter = data_converter(ContactKeys(None, b"k" * 32, cache_size=1, ttl=1))
    result = SendResult(status=MessageStatus.SENT, channel="email", message_id="m-1")
    [payload] = converter.payload_converter.to_payloads([result])
    first_run, second_run = (converter.payload_converter_class() for _ in range(2))
    assert first_run.from_payloads([payload], [SendResult]) == [result]
    validators = second_run.converters[b"json/plain"]._type_adapter
    before = validators.cache_info()
    assert second_run.from_payloads([payload], [SendResult]) == [result]
    assert (validators.cache_info().hits, validators.cache_info().misses) == (before.hits + 1, before.misses)
