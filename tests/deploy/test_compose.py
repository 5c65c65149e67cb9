"""docker-compose.yml: valid against the Compose Specification, every service checked for
health, every dependency real and every variable it gives a part read by that part."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from emporium.contracts import topics
from emporium.kit.metrics import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PARTS = ("catalog", "customers", "orders", "gateway")
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?+]([^}]*))?\}")


def interpolate(value: object) -> str:
    """A compose value with ``${NAME:-default}`` replaced by its default (no .env here)."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", str(value)).replace("$$", "$")


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def _our_image(compose: dict[str, Any]) -> str:
    images = {str(s["image"]) for s in _services(compose).values() if "build" in s}
    assert len(images) == 1, f"the parts should share one image, got {images}"
    return images.pop()


def _parts(compose: dict[str, Any]) -> dict[str, str]:
    """Compose service -> part, for the services that run a part of Emporium."""
    found = {}
    for name, service in _services(compose).items():
        environment = service.get("environment") or {}
        if isinstance(environment, dict) and environment.get("SERVICE") in PARTS:
            found[name] = str(environment["SERVICE"])
    return found


def _is_one_shot(service: dict[str, Any]) -> bool:
    return str(service.get("restart", "no")) == "no"


def _check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("check-jsonschema")
    assert tool, "check-jsonschema is not installed: run `uv sync`"
    return subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_file_validates_against_the_compose_specification() -> None:
    result = _check_jsonschema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_mistake(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE_FILE.read_text().replace("    healthcheck:\n", "    healthcheckk:\n", 1)
    broken.write_text(text)
    assert _check_jsonschema(broken).returncode != 0


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name, service in services.items():
        healthcheck = service.get("healthcheck") or {}
        if _is_one_shot(service):
            continue  # runs to completion; others wait on service_completed_successfully
        if healthcheck.get("disable"):
            # Only for an image with nothing to run a check in, and then another service's
            # check must probe it (named in x-healthcheck-by).
            prober = service.get("x-healthcheck-by")
            assert prober in services, f"{name}: health check disabled with no prober"
            assert f"{name}:" in json.dumps(services[prober]["healthcheck"]["test"]), name
            continue
        assert healthcheck.get("test"), f"{name} has no health check"


def test_every_dependency_exists_and_waits_for_the_right_condition(
    compose: dict[str, Any],
) -> None:
    services = _services(compose)
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: use the long depends_on syntax"
        for target, spec in depends_on.items():
            assert target in services, f"{name} depends on {target}, which does not exist"
            condition = spec.get("condition")
            if _is_one_shot(services[target]):
                expected = "service_completed_successfully"
            elif services[target].get("healthcheck", {}).get("disable"):
                expected = "service_started"
            else:
                expected = "service_healthy"
            assert condition == expected, f"{name} -> {target}: {condition}, want {expected}"
            target_profiles = set(services[target].get("profiles", []))
            if target_profiles:
                assert target_profiles <= set(service.get("profiles", [])), (
                    f"{name} depends on {target}, which only runs in profiles {target_profiles}"
                )


def test_each_part_migrates_before_it_serves(compose: dict[str, Any]) -> None:
    services = _services(compose)
    parts = _parts(compose)
    for name, part in parts.items():
        service = services[name]
        if part == "gateway" or _is_one_shot(service):
            continue
        migrations = [
            target
            for target in service["depends_on"]
            if _is_one_shot(services[target])
            and services[target].get("command") == ["migrate"]
            and parts.get(target) == part
        ]
        assert migrations, f"{name} does not wait for its migrations"


def test_every_variable_given_to_a_part_is_read_by_it(
    compose: dict[str, Any], readable_env: Callable[[str], frozenset[str]]
) -> None:
    for name, part in _parts(compose).items():
        environment = _services(compose)[name]["environment"]
        unread = {key for key in environment if key.upper() not in readable_env(part)}
        assert not unread, f"{name} ({part}) is given variables it never reads: {sorted(unread)}"


def test_every_part_is_configured_to_be_reachable_in_its_container(
    compose: dict[str, Any], prefix_of: Callable[[str], str]
) -> None:
    parts = _parts(compose)
    assert set(parts.values()) == set(PARTS)
    for name, part in parts.items():
        environment = _services(compose)[name]["environment"]
        assert environment[prefix_of(part) + "HOST"] == "0.0.0.0", name
        service = _services(compose)[name]
        if not _is_one_shot(service):
            port = str(environment[prefix_of(part) + "PORT"])
            published = [str(p).rsplit(":", 1)[-1] for p in service.get("ports", [])]
            assert port in [str(p) for p in service.get("expose", [])] + published, name


@pytest.mark.parametrize("part", PARTS)
def test_the_values_given_to_a_part_are_valid_settings(
    part: str, compose: dict[str, Any], clean_environ: pytest.MonkeyPatch
) -> None:
    from importlib import import_module

    settings = import_module(f"emporium.{part}.settings").Settings
    for name, owner in _parts(compose).items():
        if owner != part:
            continue
        for key, value in _services(compose)[name]["environment"].items():
            clean_environ.setenv(key, interpolate(value))
        try:
            settings()
        except ValidationError as error:  # pragma: no cover - the failure message
            pytest.fail(f"{name}: its environment is not valid {part} settings:\n{error}")


def test_only_the_gateway_is_published_on_the_host_for_the_platform(
    compose: dict[str, Any],
) -> None:
    for name, service in _services(compose).items():
        if service.get("profiles"):
            continue  # observability UIs are opt-in
        ports = service.get("ports", [])
        if name == "gateway":
            assert any(str(p).endswith(":8000") for p in ports), "gateway not on :8000"
        else:
            assert not ports, f"{name} is published on the host: {ports}"


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        image = interpolate(service["image"])
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: {image} has no tag"
        assert "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image} is not pinned"
        assert re.search(r"\d", tag), f"{name}: {image} is not pinned"


def test_the_parts_use_the_image_built_from_the_repository(compose: dict[str, Any]) -> None:
    image = _our_image(compose)
    for name in _parts(compose):
        service = _services(compose)[name]
        assert service["image"] == image
        assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile"


def test_data_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes", {}))
    for name in ("postgres", "kafka", "redis", "seaweedfs"):
        mounts = [str(v) for v in _services(compose)[name].get("volumes", [])]
        named = [m.split(":")[0] for m in mounts if not m.startswith((".", "/"))]
        assert named, f"{name}: data not in a named volume"
        assert set(named) <= declared, f"{name}: volumes {named} not declared"


def test_postgres_gets_one_database_and_login_per_service(compose: dict[str, Any]) -> None:
    postgres = _services(compose)["postgres"]
    environment = postgres["environment"]
    databases = str(environment["DATABASES"]).split()
    services_with_db = {
        part
        for part in _parts(compose).values()
        if part != "gateway"  # the one part without a database
    }
    assert set(databases) == services_with_db
    for database in databases:
        assert environment[f"DB_PASSWORD_{database.upper()}"]
    init = [str(v) for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in str(v)]
    assert init
    assert (ROOT / init[0].split(":")[0]).is_file()
    # Each service logs in as itself, to its own database.
    for name, part in _parts(compose).items():
        url = interpolate(
            _services(compose)[name]["environment"].get(f"{part.upper()}_DATABASE_URL", "")
        )
        if part != "gateway":
            assert re.match(rf"postgresql\+asyncpg://{part}:[^@]+@postgres:5432/{part}$", url), url


def test_the_topics_are_created_with_partitions_for_every_replica(
    compose: dict[str, Any],
) -> None:
    init = _services(compose)["kafka-init"]
    environment = init["environment"]
    contract_topics = {getattr(topics, name) for name in topics.__all__}
    assert set(str(environment["TOPICS"]).split()) == contract_topics
    assert int(environment["PARTITIONS"]) >= 3
    script = str(init["volumes"][0]).split(":")[0]
    assert (ROOT / script).is_file()


def test_the_loadgen_is_bounded_and_configured_with_what_it_reads(
    compose: dict[str, Any],
) -> None:
    loadgen = _services(compose)["loadgen"]
    assert loadgen["profiles"] == ["loadgen"]
    source = (ROOT / "deploy" / "compose" / "loadgen" / "loadgen.py").read_text()
    for key in loadgen["environment"]:
        assert f'"{key}"' in source, f"loadgen is given {key}, which it does not read"
    assert float(interpolate(loadgen["environment"]["LOADGEN_DURATION_SECONDS"])) > 0


def test_the_dashboard_and_scrape_config_match_the_metrics_and_ports(
    compose: dict[str, Any], prefix_of: Callable[[str], str]
) -> None:
    observability = ROOT / "deploy" / "compose" / "observability"
    known = {metric.name for metric in REGISTRY.collect()}
    dashboard = json.loads(
        (observability / "grafana" / "dashboards" / "emporium-overview.json").read_text()
    )
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert exprs
    for expr in exprs:
        for name in re.findall(r"\b(emporium_[a-z_]+)", expr):
            base = re.sub(r"_(bucket|sum|count|total|created)$", "", name)
            assert base in known or name in known, f"dashboard queries unknown metric {name}"
    scrape = (observability / "prometheus.yml").read_text()
    for name, part in _parts(compose).items():
        service = _services(compose)[name]
        if _is_one_shot(service):
            continue
        port = service["environment"][prefix_of(part) + "PORT"]
        assert re.search(rf"names: \[{name}\]\s+type: A\s+port: {port}\b", scrape), name
