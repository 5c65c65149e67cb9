"""The relay reads a publishing error through what it wraps the way the consumer does
(``failures.wrapped_errors``): causes, contexts, exception groups, but not a context the
code hid with ``raise ... from None``."""

from __future__ import annotations

from aiokafka.errors import MessageSizeTooLargeError, UnknownTopicOrPartitionError

from emporium.kit.bus.base import BusUnavailable
from emporium.kit.relay import classify_failure


def _raised_while(inner: BaseException, *, hide: bool) -> BusUnavailable:
    try:
        try:
            raise inner
        except BaseException:
            if hide:
                raise BusUnavailable("publishing failed") from None
            raise BusUnavailable("publishing failed")  # noqa: B904  (the context is the cause)
    except BusUnavailable as error:
        return error


def test_an_error_met_while_handling_another_is_read_through() -> None:
    assert classify_failure(_raised_while(MessageSizeTooLargeError(), hide=False)) == "permanent"


def test_a_context_hidden_by_from_none_says_nothing() -> None:
    assert classify_failure(_raised_while(MessageSizeTooLargeError(), hide=True)) == "transient"


def test_the_members_of_an_exception_group_are_read() -> None:
    group = ExceptionGroup("batch", [BusUnavailable("a"), UnknownTopicOrPartitionError()])
    assert classify_failure(group) == "missing_topic"
    assert classify_failure(ExceptionGroup("batch", [MessageSizeTooLargeError()])) == "permanent"
