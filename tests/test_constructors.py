"""smsc.constructors: the same objects as the class call, for every kind of field."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from smsc.constructors import constructor
from smsc.session.events import RequestReceived, ResponseReceived
from smsc.store.models import Message, NewMessage, OutboundItem, OutboundKind, Transition
from smsc.submit import Times


@dataclass(slots=True)
class Sample:
    required: int
    plain_default: str = "x"
    made: list[int] = field(default_factory=list)
    option: bool = field(default=False, kw_only=True)


def test_positional_keyword_and_default_arguments_build_what_the_class_builds() -> None:
    make = constructor(Sample)
    assert make(1) == Sample(1)
    assert make(1, "y", [2], option=True) == Sample(1, "y", [2], option=True)
    assert make(required=3, made=[4]) == Sample(required=3, made=[4])
    assert type(make(1)) is Sample


def test_a_default_factory_runs_for_every_object() -> None:
    make = constructor(Sample)
    first, second = make(1), make(2)
    first.made.append(9)
    assert second.made == []


def test_arguments_the_class_refuses_are_refused() -> None:
    make = constructor(Sample)
    with pytest.raises(TypeError):
        make()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        make(1, "y", [], True)  # type: ignore[misc]
    with pytest.raises(TypeError):
        make(1, colour="red")  # type: ignore[call-arg]


@dataclass(frozen=True, slots=True)
class Frozen:
    value: int


@dataclass(slots=True)
class Checked:
    value: int

    def __post_init__(self) -> None:
        raise AssertionError("never skipped")


@dataclass(slots=True)
class Derived:
    value: int
    twice: int = field(init=False, default=0)


@pytest.mark.parametrize("cls", [Frozen, Checked, Derived, int])
def test_classes_whose_init_does_more_are_refused(cls: type) -> None:
    with pytest.raises(TypeError):
        constructor(cls)


def test_the_hot_path_records_match_their_classes() -> None:
    new = NewMessage(system_id="a", destination_addr="49151", payload=b"hi")
    message = Message(7, new)
    for cls, args in [
        (Message, (7, new)),
        (Transition, (message, OutboundKind.RECEIPT)),
        (OutboundItem, (1, "a", OutboundKind.RECEIPT, message)),
        (RequestReceived, (object(),)),
        (ResponseReceived, (object(), object())),
        (Times, (None, None, None)),
    ]:
        assert constructor(cls)(*args) == cls(*args)  # type: ignore[operator]
