"""The batch stream's stages: a producer thread that keeps order, hands its error on and stops
when the consumer does."""

from __future__ import annotations

import threading

import pytest

from cartcast.errors import ScoringError
from scoring.batch import ahead


def test_items_come_through_in_order() -> None:
    assert list(ahead(iter(range(100)), depth=2)) == list(range(100))


def test_nothing_runs_before_the_first_pull() -> None:
    started = threading.Event()

    def items():
        started.set()
        yield 1

    stream = ahead(items())
    assert not started.wait(0.2)
    assert list(stream) == [1]


def test_the_producers_error_reaches_the_consumer_after_its_items() -> None:
    def items():
        yield 1
        yield 2
        raise ScoringError("gave 1 non-finite score(s)")

    got = []
    with pytest.raises(ScoringError, match="non-finite"):
        for item in ahead(items()):
            got.append(item)
    assert got == [1, 2]


def test_closing_the_consumer_stops_and_closes_the_producer() -> None:
    closed = threading.Event()
    made = []

    def items():
        try:
            for i in range(1_000_000):
                made.append(i)
                yield i
        finally:
            closed.set()

    stream = ahead(items(), depth=2)
    assert next(stream) == 0
    stream.close()
    # closing waits for the producer: it has stopped, a few items ahead at most
    assert closed.is_set()
    assert len(made) <= 5
