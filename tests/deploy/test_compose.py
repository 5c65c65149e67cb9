"""docker-compose.yml: valid against the Compose Specification, every service checked for
health, every dependency real and every variable it gives a part read by that part."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from emporium.contracts import topics
from emporium.kit.metrics import REGISTRY
from emporium.kit.settings import secret_key_problem

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PARTS = ("catalog", "customers", "orders", "gateway")
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?+]([^}]*))?\}")
#: A secret key variable (the token secret; not S3's or a password: see deploy/README.md).
_SECRET_KEY_NAME = re.compile(r"(?<!S3_)SECRET_KEY$", re.IGNORECASE)
INIT_SECRETS = ROOT / "deploy" / "docker" / "init-secrets.py"
SECRETS_MOUNT = "/secrets"


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


def _init_secrets(secrets_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """compose's init-secrets, run natively with its volume at ``secrets_dir``."""
    return subprocess.run(
        [sys.executable, str(INIT_SECRETS), str(secrets_dir / "secret_key")],
        env={**os.environ, "EMPORIUM_SECRET_KEY": "", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _with_secrets_at(environment: dict[str, Any], secrets_dir: Path) -> dict[str, str]:
    """A part's compose environment, interpolated, its /secrets/... files under secrets_dir."""
    values = {key: interpolate(value) for key, value in environment.items()}
    return {
        key: str(secrets_dir / value.removeprefix(SECRETS_MOUNT + "/"))
        if value.startswith(SECRETS_MOUNT + "/")
        else value
        for key, value in values.items()
    }


@pytest.mark.parametrize("environment", ["dev", "prod"])
@pytest.mark.parametrize("part", PARTS)
def test_the_values_given_to_a_part_are_valid_settings(
    part: str,
    environment: str,
    compose: dict[str, Any],
    clean_environ: pytest.MonkeyPatch,
    prefix_of: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """As `docker compose up` runs them: the secret key file made by init-secrets (and with
    EMPORIUM_ENVIRONMENT=prod in .env, where a default secret would be refused)."""
    from importlib import import_module

    generated = _init_secrets(tmp_path)
    assert generated.returncode == 0, generated.stderr
    settings = import_module(f"emporium.{part}.settings").Settings
    for name, owner in _parts(compose).items():
        if owner != part:
            continue
        given = _with_secrets_at(_services(compose)[name]["environment"], tmp_path)
        given[prefix_of(part) + "ENVIRONMENT"] = environment
        for key, value in given.items():
            clean_environ.setenv(key, value)
        try:
            settings()
        except ValidationError as error:  # pragma: no cover - the failure message
            pytest.fail(f"{name}: its environment is not valid {part} settings:\n{error}")


# -- the secret key --------------------------------------------------------------------------


def _secret_key_fallbacks(compose: dict[str, Any]) -> list[str]:
    """Every `${VAR:-default}` with a non-empty default given as, or for, a secret key."""
    found = []
    for name, service in _services(compose).items():
        for key, value in (service.get("environment") or {}).items():
            for match in _INTERPOLATION.finditer(str(value)):
                variable, default = match.group(1), match.group(2) or ""
                secret = _SECRET_KEY_NAME.search(key) or _SECRET_KEY_NAME.search(variable)
                if secret and default:
                    found.append(f"{name}: {key}={value}")
    return found


def test_no_secret_key_has_a_default(compose: dict[str, Any]) -> None:
    """A `${VAR:-default}` fallback for a secret key would be a key everyone knows."""
    fallbacks = _secret_key_fallbacks(compose)
    assert not fallbacks, "secret keys with a default value:\n" + "\n".join(fallbacks)
    # The check sees one: the file as it was, with the published fallback.
    text = COMPOSE_FILE.read_text().replace(
        "CATALOG_SECRET_KEY_FILE: /secrets/secret_key",
        "CATALOG_SECRET_KEY: ${EMPORIUM_SECRET_KEY:-dev-only-secret-change-me}",
    )
    old = YAML(typ="safe", pure=True).load(text)
    assert _secret_key_fallbacks(old), "the check misses a secret key fallback"


def test_every_part_reads_its_secret_key_from_the_init_secrets_volume(
    compose: dict[str, Any], prefix_of: Callable[[str], str]
) -> None:
    services = _services(compose)
    init = services["init-secrets"]
    assert _is_one_shot(init)
    assert init["image"] == _our_image(compose), "init-secrets runs the project image"
    assert init["entrypoint"][-1] == "/app/deploy/docker/init-secrets.py"
    volume, _, mount = str(init["volumes"][0]).partition(":")
    assert volume in compose["volumes"], f"{volume} is not a named volume"
    assert mount == SECRETS_MOUNT
    assert init["command"] == [f"{SECRETS_MOUNT}/secret_key"]

    def waits_for_init(name: str) -> bool:
        depends_on = services[name].get("depends_on") or {}
        if depends_on.get("init-secrets", {}).get("condition") == "service_completed_successfully":
            return True
        return any(waits_for_init(d) for d in depends_on if _is_one_shot(services[d]))

    for name, part in _parts(compose).items():
        environment = services[name]["environment"]
        prefix = prefix_of(part)
        assert prefix + "SECRET_KEY" not in environment, f"{name}: secret key in the environment"
        assert environment[prefix + "SECRET_KEY_FILE"] == f"{SECRETS_MOUNT}/secret_key", name
        assert f"{volume}:{SECRETS_MOUNT}:ro" in services[name]["volumes"], name
        assert waits_for_init(name), f"{name} may start before init-secrets wrote the key"


def test_init_secrets_generates_a_key_once_and_keeps_it(tmp_path: Path) -> None:
    first = _init_secrets(tmp_path)
    assert first.returncode == 0, first.stderr
    path = tmp_path / "secret_key"
    key = path.read_text()
    assert secret_key_problem(key) is None
    assert path.stat().st_mode & 0o777 == 0o400
    again = _init_secrets(tmp_path)
    assert again.returncode == 0, again.stderr
    assert path.read_text() == key, "a second start changed the key"
    assert _init_secrets(tmp_path / "other").returncode == 0
    assert (tmp_path / "other" / "secret_key").read_text() != key, "not random"


def test_init_secrets_writes_the_key_given_in_env_and_refuses_a_weak_one(
    tmp_path: Path,
) -> None:
    chosen = "a" + "-chosen-by-the-operator-" * 2
    assert _init_secrets(tmp_path).returncode == 0
    given = _init_secrets(tmp_path, EMPORIUM_SECRET_KEY=chosen)
    assert given.returncode == 0, given.stderr
    assert (tmp_path / "secret_key").read_text() == chosen
    for weak in ("dev-only-secret-change-me", "too-short"):
        refused = _init_secrets(tmp_path, EMPORIUM_SECRET_KEY=weak)
        assert refused.returncode == 1
        assert "refused" in refused.stderr
        assert (tmp_path / "secret_key").read_text() == chosen


# -- client addresses --------------------------------------------------------------------------


def test_the_services_trust_proxy_headers_from_the_gateway_only(
    compose: dict[str, Any], prefix_of: Callable[[str], str]
) -> None:
    services = _services(compose)
    subnet = ipaddress.ip_network(compose["networks"]["backend"]["ipam"]["config"][0]["subnet"])
    gateway = services["gateway"]
    address = ipaddress.ip_address(gateway["networks"]["backend"]["ipv4_address"])
    assert address in subnet, f"the gateway's {address} is outside the backend {subnet}"
    # Published directly on the host: no proxy in front unless the operator names one; the
    # gateway trusts the storefront's fixed address (it calls the API with the shopper's
    # address), exactly that one, and nothing broader.
    storefront = ipaddress.ip_address(services["storefront"]["networks"]["backend"]["ipv4_address"])
    assert storefront in subnet, f"the storefront's {storefront} is outside the backend {subnet}"
    trusted = interpolate(gateway["environment"]["GATEWAY_TRUSTED_PROXIES"])
    networks = [ipaddress.ip_network(item.strip()) for item in trusted.split(",") if item.strip()]
    assert networks == [ipaddress.ip_network(f"{storefront}/32")], f"the gateway trusts {trusted}"
    for name, part in _parts(compose).items():
        if part == "gateway":
            continue
        trusted = services[name]["environment"][prefix_of(part) + "FORWARDED_ALLOW_IPS"]
        assert str(trusted) == str(address), f"{name} trusts {trusted}, not the gateway"
        assert services[name]["networks"] == ["backend"], name


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
