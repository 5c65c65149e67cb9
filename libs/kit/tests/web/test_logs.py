"""configure_logging: JSON lines on stdout, idempotent, uvicorn included."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random

import pytest

from emporium.kit.logs import REQUEST_ID, configure_logging, iso_time


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_configuring_twice_still_writes_each_record_once(
    unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(unique, "INFO")
    configure_logging(unique, "INFO")
    logging.getLogger("kit.web.once").info("only once")

    written = [line for line in lines(capsys) if line["message"] == "only once"]
    assert len(written) == 1
    assert written[0]["service"] == unique


def test_level_filters_and_uvicorn_goes_through_the_same_handler(
    unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(unique, "WARNING")
    logging.getLogger("kit.web.level").info("too quiet")
    logging.getLogger("uvicorn.error").warning("from uvicorn")

    written = lines(capsys)
    assert [line["message"] for line in written] == ["from uvicorn"]
    assert written[0]["logger"] == "uvicorn.error"
    assert written[0]["level"] == "WARNING"


def test_exceptions_and_the_request_id_are_in_the_line(
    unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(unique, "INFO")
    token = REQUEST_ID.set("req-in-context")
    try:
        try:
            raise ValueError("broken thing")
        except ValueError:
            logging.getLogger("kit.web.exc").exception("it failed")
    finally:
        REQUEST_ID.reset(token)

    [line] = lines(capsys)
    assert line["request_id"] == "req-in-context"
    assert line["level"] == "ERROR"
    assert isinstance(line["exception"], str)
    assert "ValueError: broken thing" in line["exception"]


def test_text_mode_is_one_readable_line(unique: str, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(unique, "INFO", json=False)
    logging.getLogger("kit.web.text").info("plain words")

    out = capsys.readouterr().out.strip()
    assert out.endswith("INFO    kit.web.text [None] plain words")


def test_times_are_utc_iso_to_the_millisecond_as_datetime_writes_them() -> None:
    def expected(created: float) -> str:
        text = dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")

    now = 1_796_000_000
    rng = random.Random(7)
    # Random instants, and the edges where rounding to microseconds carries into the
    # next second (or does not).
    instants = [now + rng.uniform(-3e8, 3e8) for _ in range(20_000)]
    instants += [now + k / 1e6 for k in range(0, 2_000_000, 1009)]
    instants += [now + 0.9999994, now + 0.9999995, now + 0.9999996, now - 0.0000004, 0.0, 1.5]
    assert [iso_time(t) for t in instants] == [expected(t) for t in instants]


def test_a_line_carries_its_records_time(unique: str, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(unique, "INFO")
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    logging.getLogger("kit.web.time").info("when")

    [line] = lines(capsys)
    written = dt.datetime.fromisoformat(str(line["time"]).replace("Z", "+00:00"))
    assert before <= written <= dt.datetime.now(dt.UTC)
