"""The outbox's alert rules: loaded by Prometheus in compose, and about metrics that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from emporium.kit.metrics import REGISTRY

ROOT = Path(__file__).resolve().parents[5]
OBSERVABILITY = ROOT / "deploy" / "compose" / "observability"


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def rules() -> list[dict[str, Any]]:
    loaded = load(OBSERVABILITY / "alert-rules.yml")
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_every_rule_queries_a_metric_the_kit_exports() -> None:
    known = {metric.name for metric in REGISTRY.collect()}
    for rule in rules():
        names = re.findall(r"\b(emporium_[a-z_]+)", rule["expr"])
        assert names, rule["alert"]
        for name in names:
            assert name in known, f"{rule['alert']} queries unknown metric {name}"


def test_parked_outbox_rows_raise_an_alert() -> None:
    parked = [rule for rule in rules() if "emporium_outbox_parked" in rule["expr"]]
    assert [rule["alert"] for rule in parked] == ["EmporiumOutboxRowParked"]
    assert "emporium-outbox" in parked[0]["annotations"]["description"]


def test_prometheus_loads_the_rules_in_compose() -> None:
    config = load(OBSERVABILITY / "prometheus.yml")
    assert "/etc/prometheus/alert-rules.yml" in config["rule_files"]
    compose = load(ROOT / "docker-compose.yml")
    mounts = compose["services"]["prometheus"]["volumes"]
    assert (
        "./deploy/compose/observability/alert-rules.yml:/etc/prometheus/alert-rules.yml:ro"
        in mounts
    )
