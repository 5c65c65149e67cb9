"""configure_logging: JSON lines on stdout, idempotent, uvicorn included."""

from __future__ import annotations

import json
import logging

import pytest

from emporium.kit.logs import REQUEST_ID, configure_logging


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
