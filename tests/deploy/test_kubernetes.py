"""The Kubernetes manifests: each overlay renders with ``kubectl kustomize``, validates in
strict mode, and its workloads are probed, bounded, non-root and read-only, reachable only
the way the network policies say, and configured with variables the parts really read.

Overlays: ``dev`` (in-cluster infrastructure), ``prod`` (managed infrastructure through
Secrets) and ``prod+keda`` (prod with the optional KEDA component).
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from emporium.contracts import topics
from emporium.kit.settings import KNOWN_SECRET_KEYS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
README = ROOT / "deploy" / "README.md"
OVERLAYS = ("dev", "prod", "prod+keda")
PARTS = ("catalog", "customers", "orders", "gateway", "storefront")
#: The parts that keep no database (nothing to migrate).
STATELESS = ("gateway", "storefront")
WORKLOADS = ("Deployment", "StatefulSet", "Job")
#: The oldest Kubernetes the manifests are for (matchLabelKeys in pod affinity) and the newest
#: kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
#: API groups of custom resources (no schema in kubernetes-validate; checked below instead).
CUSTOM_RESOURCE_GROUPS = {"keda.sh"}
CHECKOV = "checkov==3.3.30"

Doc = dict[str, Any]


def _kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc.get("kind") == kind]


def _named(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [doc for doc in _kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def _containers(workload: Doc, *, init: bool = True) -> Iterator[Doc]:
    spec = _pod_spec(workload)
    yield from spec.get("containers", [])
    if init:
        yield from spec.get("initContainers", [])


@functools.cache
def _our_image_repository() -> str:
    compose = YAML(typ="safe", pure=True).load((ROOT / "docker-compose.yml").read_text())
    images = {s["image"] for s in compose["services"].values() if "build" in s}
    assert len(images) == 1
    return str(images.pop()).rsplit(":", 1)[0]


def _runs_a_part(container: Doc, overlay: str) -> bool:
    repository = str(container["image"]).rsplit(":", 1)[0].split("@")[0]
    ours = _our_image_repository()
    return repository == ours or repository.endswith("/" + ours)


def _secret_example(name: str) -> dict[str, str] | None:
    path = K8S / "overlays" / "prod" / "secrets.example" / f"{name}.env"
    return _env_file(path) if path.is_file() else None


def _env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def _container_env(docs: list[Doc], container: Doc) -> dict[str, str]:
    """The variables a container gets: envFrom ConfigMaps/Secrets, then its own env.

    A Secret the overlay does not render (prod: created by the operator) is taken from its
    documented example (overlays/prod/secrets.example/<name>.env).
    """
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            env.update(_named(docs, "ConfigMap", name).get("data", {}))
        elif "secretRef" in source:
            name = source["secretRef"]["name"]
            secrets = [s for s in _kind(docs, "Secret") if s["metadata"]["name"] == name]
            if secrets:
                data = secrets[0].get("data", {})
                env.update({k: base64.b64decode(v).decode() for k, v in data.items()})
                env.update(secrets[0].get("stringData", {}))
            else:
                example = _secret_example(name)
                assert example is not None, (
                    f"Secret {name} is neither rendered nor documented in "
                    f"overlays/prod/secrets.example/{name}.env"
                )
                env.update(example)
    for variable in container.get("env", []):
        env[variable["name"]] = str(variable.get("value", ""))
    return env


def _part_containers(docs: list[Doc], overlay: str) -> Iterator[tuple[Doc, Doc, str]]:
    """(workload, container, part) for every container running a part of Emporium."""
    for workload in _kind(docs, "Deployment") + _kind(docs, "Job"):
        for container in _containers(workload):
            if _runs_a_part(container, overlay):
                part = _container_env(docs, container).get("SERVICE", "")
                assert part in PARTS, f"{workload['metadata']['name']}: SERVICE={part!r}"
                yield workload, container, part


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# -- rendering and schema ----------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_overlay_validates_in_strict_mode(
    overlay: str, version: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[overlay]
    assert docs, f"{overlay} renders nothing"
    for doc in docs:
        group = str(doc["apiVersion"]).split("/")[0] if "/" in doc["apiVersion"] else ""
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert group in CUSTOM_RESOURCE_GROUPS, f"no schema for {doc['kind']} {group}"
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: {error}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lives_in_the_emporium_namespace(
    overlay: str, rendered: dict[str, list[Doc]]
) -> None:
    for doc in rendered[overlay]:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == "emporium"
            labels = doc["metadata"]["labels"]
            assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        else:
            assert doc["metadata"].get("namespace") == "emporium", doc["metadata"]["name"]


# -- workloads -----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_is_probed_bounded_non_root_and_read_only(
    overlay: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[overlay]
    workloads = [doc for doc in docs if doc["kind"] in WORKLOADS]
    assert workloads
    for workload in workloads:
        name = f"{overlay}: {workload['kind']}/{workload['metadata']['name']}"
        pod = _pod_spec(workload)
        pod_security = pod.get("securityContext", {})
        assert pod.get("automountServiceAccountToken") is False, f"{name}: API token mounted"
        for container in _containers(workload):
            where = f"{name} container {container['name']}"
            security = {**pod_security, **container.get("securityContext", {})}
            assert security.get("runAsNonRoot") is True, f"{where}: may run as root"
            assert int(security.get("runAsUser", 0)) >= 10000, f"{where}: uid below 10000"
            assert security.get("readOnlyRootFilesystem") is True, f"{where}: writable root"
            assert security.get("allowPrivilegeEscalation") is False, f"{where}: escalation"
            assert security.get("capabilities", {}).get("drop") == ["ALL"], where
            assert security.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert resources.get(bound, {}).get(resource), f"{where}: no {bound}.{resource}"
            image = str(container["image"])
            repository, _, tag = image.rpartition(":")
            assert repository, f"{where}: {image} has no tag"
            assert "/" not in tag, f"{where}: {image} has no tag"
            assert tag != "latest", f"{where}: {image} not pinned"
            assert re.search(r"\d", tag), f"{where}: {image} not pinned"
        if workload["kind"] == "Job":
            continue  # runs to completion: no probes
        for container in pod["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in container, f"{name} container {container['name']}: no {probe}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_parts_answer_their_probes_on_healthz_and_readyz(
    overlay: str, rendered: dict[str, list[Doc]], prefix_of: Callable[[str], str]
) -> None:
    docs = rendered[overlay]
    seen = set()
    for workload, container, part in _part_containers(docs, overlay):
        if workload["kind"] != "Deployment" or container not in _pod_spec(workload)["containers"]:
            continue
        seen.add(part)
        # Service links would set <PREFIX>PORT=tcp://... in every pod (a Service is named
        # after each part): the settings would read it as the port to listen on.
        assert _pod_spec(workload).get("enableServiceLinks") is False, part
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        env = _container_env(docs, container)
        port = int(env[prefix_of(part) + "PORT"])
        assert env[prefix_of(part) + "HOST"] == "0.0.0.0", f"{part} listens on loopback only"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["http"] == port, f"{part}: container port {ports} but settings say {port}"
    assert seen == set(PARTS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_migrates_before_it_starts(
    overlay: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[overlay]
    for workload, container, part in _part_containers(docs, overlay):
        if workload["kind"] != "Deployment" or part in STATELESS:
            continue
        init = _pod_spec(workload).get("initContainers", [])
        migrations = [c for c in init if c.get("args") == ["migrate"]]
        assert migrations, f"{part}: no migration init container"
        assert migrations[0]["image"] == container["image"]
        assert migrations[0]["envFrom"] == container["envFrom"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_given_to_a_part_is_read_by_it(
    overlay: str, rendered: dict[str, list[Doc]], readable_env: Callable[[str], frozenset[str]]
) -> None:
    docs = rendered[overlay]
    for workload, container, part in _part_containers(docs, overlay):
        env = _container_env(docs, container)
        unread = {key for key in env if key.upper() not in readable_env(part)}
        where = f"{overlay}: {workload['metadata']['name']}/{container['name']}"
        assert not unread, f"{where} is given variables {part} never reads: {sorted(unread)}"


def _secret_files(docs: list[Doc], workload: Doc, container: Doc, root: Path) -> dict[str, Path]:
    """The container's Secret volumes, written under ``root``: mount path -> folder.

    A Secret the overlay renders is written as it is; one the operator creates (prod) gets
    what deploy/README.md tells them to put in it (`openssl rand -hex 32`: 64 hex digits).
    """
    volumes = {v["name"]: v for v in _pod_spec(workload).get("volumes", [])}
    folders: dict[str, Path] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "secret" not in volume:
            continue
        name = volume["secret"]["secretName"]
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        found = [s for s in _kind(docs, "Secret") if s["metadata"]["name"] == name]
        if found:
            data = {k: base64.b64decode(v).decode() for k, v in found[0].get("data", {}).items()}
        else:
            assert f"create secret generic {name}" in README.read_text(), (
                f"Secret {name} is neither rendered nor documented in deploy/README.md"
            )
            data = {item["key"]: secrets.token_hex(32) for item in volume["secret"]["items"]}
        for item in volume["secret"].get("items", [{"key": k, "path": k} for k in data]):
            (folder / item["path"]).write_text(data[item["key"]])
        folders[mount["mountPath"]] = folder
    return folders


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_values_given_to_a_part_are_valid_settings(
    overlay: str,
    rendered: dict[str, list[Doc]],
    clean_environ: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from importlib import import_module

    docs = rendered[overlay]
    for index, (workload, container, part) in enumerate(_part_containers(docs, overlay)):
        files = _secret_files(docs, workload, container, tmp_path / str(index))
        with clean_environ.context() as env:
            for key, value in _container_env(docs, container).items():
                for mount, folder in files.items():
                    if value.startswith(mount.rstrip("/") + "/"):
                        value = str(folder / value[len(mount.rstrip("/")) + 1 :])
                env.setenv(key, value)
            try:
                import_module(f"emporium.{part}.settings").Settings()
            except ValidationError as error:  # pragma: no cover - the failure message
                pytest.fail(f"{overlay}: {workload['metadata']['name']}: {error}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_selector_matches_a_workload_port(
    overlay: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[overlay]
    workloads = [doc for doc in docs if doc["kind"] in ("Deployment", "StatefulSet")]
    for service in _kind(docs, "Service"):
        selector = service["spec"]["selector"]
        assert selector, f"Service {service['metadata']['name']} selects nothing"
        targets = [
            w for w in workloads if _matches(selector, w["spec"]["template"]["metadata"]["labels"])
        ]
        assert targets, f"Service {service['metadata']['name']} matches no workload"
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for workload in targets:
                names = {p.get("name") for c in _containers(workload) for p in c.get("ports", [])}
                numbers = {
                    p["containerPort"] for c in _containers(workload) for p in c.get("ports", [])
                }
                assert target in names | numbers, (
                    f"Service {service['metadata']['name']} port {target} is not a port of "
                    f"{workload['metadata']['name']}"
                )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_part_has_its_account_budget_and_autoscaler(
    overlay: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[overlay]
    scaled = {
        (h["spec"]["scaleTargetRef"]["kind"], h["spec"]["scaleTargetRef"]["name"])
        for h in _kind(docs, "HorizontalPodAutoscaler")
    }
    keda = {
        ("Deployment", s["spec"]["scaleTargetRef"]["name"]) for s in _kind(docs, "ScaledObject")
    }
    assert not scaled & keda, "an HPA and a KEDA ScaledObject would fight over one Deployment"
    for deployment in _kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert ("Deployment", name) in scaled | keda, f"{name}: no autoscaler"
        budgets = [
            p
            for p in _kind(docs, "PodDisruptionBudget")
            if _matches(p["spec"]["selector"]["matchLabels"], labels)
        ]
        assert budgets, f"{name}: no PodDisruptionBudget"
        account = _pod_spec(deployment)["serviceAccountName"]
        _named(docs, "ServiceAccount", account)


# -- network policies ----------------------------------------------------------------------


def _policies_for(docs: list[Doc], labels: dict[str, str]) -> list[Doc]:
    return [
        p
        for p in _kind(docs, "NetworkPolicy")
        if _matches(p["spec"]["podSelector"].get("matchLabels", {}), labels)
    ]


def _allowed_sources(docs: list[Doc], labels: dict[str, str]) -> list[dict[str, str] | None]:
    """Who may connect, as the labels of the pods (or namespaces, keyed ``namespace:``)
    allowed in; None: anyone. An empty selector (every pod/namespace) counts as anyone."""
    sources: list[dict[str, str] | None] = []
    for policy in _policies_for(docs, labels):
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            if not peers:
                sources.append(None)
                continue
            for peer in peers:
                assert set(peer) in ({"podSelector"}, {"namespaceSelector"}), peer
                if "podSelector" in peer:
                    selected = peer["podSelector"].get("matchLabels", {})
                else:
                    namespace = peer["namespaceSelector"].get("matchLabels", {})
                    selected = {f"namespace:{k}": v for k, v in namespace.items()}
                sources.append(selected or None)
    return sources


def _pod_labels(docs: list[Doc], name: str) -> dict[str, str]:
    for workload in docs:
        if workload.get("kind") in WORKLOADS and workload["metadata"]["name"] == name:
            labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
            return labels
    raise AssertionError(f"no workload {name}")


def _host(url: str) -> str:
    return urlsplit(url if "//" in url else f"//{url}").hostname or ""


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_is_reachable_from_outside(
    overlay: str, rendered: dict[str, list[Doc]], prefix_of: Callable[[str], str]
) -> None:
    docs = rendered[overlay]
    deny = [
        p
        for p in _kind(docs, "NetworkPolicy")
        if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
    ]
    assert deny, "no default-deny policy"
    assert "Ingress" in deny[0]["spec"]["policyTypes"], "the default-deny is not for ingress"
    # Who calls customers directly: the parts that fetch its signing keys (JWKS).
    jwks_callers = {"gateway"}
    for _workload, container, part in _part_containers(docs, overlay):
        url = _container_env(docs, container).get(prefix_of(part) + "JWKS_URL", "")
        if _host(url) == "customers":
            jwks_callers.add(part)
    for workload in docs:
        if workload.get("kind") not in WORKLOADS or workload["kind"] == "Job":
            continue
        name = workload["metadata"]["name"]
        sources = _allowed_sources(docs, _pod_labels(docs, name))
        if name == "gateway":
            assert None in sources, "the gateway is not reachable from outside"
            continue
        assert None not in sources, f"{name} is reachable from anywhere"
        assert sources, f"{name} is reachable by nobody (its policy is missing)"
        callers = {s.get("app.kubernetes.io/name", str(s)) for s in sources if s is not None}
        if name in PARTS:
            allowed = jwks_callers if name == "customers" else {"gateway"}
            assert callers <= allowed, f"{name} is reachable from {callers - allowed}"


def test_each_database_is_reachable_only_from_its_service(
    rendered: dict[str, list[Doc]], prefix_of: Callable[[str], str]
) -> None:
    docs = rendered["dev"]
    owners: dict[str, str] = {}  # database host -> the part that uses it
    for _workload, container, part in _part_containers(docs, "dev"):
        url = _container_env(docs, container).get(prefix_of(part) + "DATABASE_URL")
        if url:
            owners[_host(url)] = part
    assert set(owners.values()) == {"catalog", "customers", "orders"}
    assert len(owners) == 3, "the services share a database server"
    for host, part in owners.items():
        service = _named(docs, "Service", host)
        databases = [
            w
            for w in _kind(docs, "StatefulSet")
            if _matches(service["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(databases) == 1, host
        labels = databases[0]["spec"]["template"]["metadata"]["labels"]
        sources = _allowed_sources(docs, labels)
        assert sources, f"{host} has no policy"
        assert all(s == {"app.kubernetes.io/name": part} for s in sources), (
            f"{host} is reachable by {sources}, want only {part}"
        )


#: What each workload may connect to (egress), named by the port it is reached on.
_DESTINATIONS = {
    53: "dns",
    5432: "postgres",
    # Kafka's plaintext port and the ones managed clusters use for TLS and SASL.
    **dict.fromkeys(range(9092, 9097), "kafka"),
    6379: "redis",
    6380: "redis",  # TLS
    8333: "s3",
    443: "s3",
    8001: "catalog",
    8002: "customers",
    8003: "orders",
    8000: "gateway",
    8004: "storefront",
}
_NEEDS = {
    "catalog": {"dns", "postgres", "kafka", "redis", "s3", "customers"},
    "customers": {"dns", "postgres", "kafka", "redis"},
    "orders": {"dns", "postgres", "kafka", "redis", "customers"},
    "gateway": {"dns", "redis", "catalog", "customers", "orders", "storefront"},
    # A client of the public API: the gateway, nothing else.
    "storefront": {"dns", "gateway"},
    "kafka-topics": {"dns", "kafka"},
}
METADATA = ipaddress.ip_address("169.254.169.254")


def _egress_rules(docs: list[Doc], labels: dict[str, str]) -> list[Doc] | None:
    """The egress rules that apply to pods with ``labels``; None: no Egress policy (all open)."""
    policies = [p for p in _policies_for(docs, labels) if "Egress" in p["spec"]["policyTypes"]]
    if not policies:
        return None
    return [rule for policy in policies for rule in policy["spec"].get("egress", [])]


def _reaches(rules: list[Doc]) -> set[str]:
    reached = set()
    for rule in rules:
        for port in rule.get("ports", []):
            first = int(port["port"])
            for number in range(first, int(port.get("endPort", first)) + 1):
                reached.add(_DESTINATIONS.get(number, f"port {number}"))
    return reached


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_reaches_only_what_it_needs(
    overlay: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[overlay]
    workloads = [doc for doc in docs if doc["kind"] in WORKLOADS]
    for workload in workloads:
        name = workload["metadata"]["name"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        rules = _egress_rules(docs, labels)
        assert rules is not None, f"{overlay}: {name} has no egress policy: it reaches anything"
        for rule in rules:
            assert rule.get("to"), f"{overlay}: {name} has an egress rule to anywhere"
            assert rule.get("ports"), f"{overlay}: {name} has an egress rule on every port"
        part = labels["app.kubernetes.io/name"]
        want = _NEEDS.get(part, {"dns"})  # dev's infrastructure: DNS only
        assert _reaches(rules) == want, f"{overlay}: {name} reaches {_reaches(rules)}, not {want}"


def _metadata_openings(docs: list[Doc]) -> list[str]:
    """Egress peers whose addresses include the metadata service."""
    found = []
    for policy in _kind(docs, "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            for peer in rule.get("to", []):
                block = peer.get("ipBlock")
                if block is None:
                    continue  # pods and namespaces of the cluster only
                inside = METADATA in ipaddress.ip_network(block["cidr"])
                excepted = any(METADATA in ipaddress.ip_network(e) for e in block.get("except", []))
                if inside and not excepted:
                    found.append(f"{policy['metadata']['name']}: {block}")
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nothing_reaches_the_cloud_metadata_service(
    overlay: str, rendered: dict[str, list[Doc]]
) -> None:
    assert not _metadata_openings(rendered[overlay])


def test_the_metadata_check_catches_an_open_rule() -> None:
    rule = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}
    policy = {"kind": "NetworkPolicy", "metadata": {"name": "open"}, "spec": {"egress": [rule]}}
    assert _metadata_openings([policy]) == ["open: " + str(rule["to"][0]["ipBlock"])]


def _networks(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item.strip()) for item in value.split(",") if item.strip()]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_client_addresses_are_believed_from_the_trusted_proxies_only(
    overlay: str, rendered: dict[str, list[Doc]], prefix_of: Callable[[str], str]
) -> None:
    """The gateway: X-Forwarded-For from the ingress controller's range; the services: from
    the pod network only (their ingress policies admit the gateway, and the JWKS callers)."""
    docs = rendered[overlay]
    seen = set()
    for workload, container, part in _part_containers(docs, overlay):
        if container not in _pod_spec(workload)["containers"]:
            continue
        env = _container_env(docs, container)
        if part == "gateway":
            trusted = _networks(env["GATEWAY_TRUSTED_PROXIES"])
        else:
            trusted = _networks(env[prefix_of(part) + "FORWARDED_ALLOW_IPS"])
        assert trusted, f"{overlay}: {part} trusts no proxy"
        for network in trusted:
            assert network.is_private, f"{overlay}: {part} trusts public addresses {network}"
            assert network.prefixlen >= 8, f"{overlay}: {part} trusts {network}"
        seen.add(part)
    assert seen == set(PARTS)
    if overlay.startswith("prod"):
        gateway = _named(docs, "Deployment", "gateway")
        env = _container_env(docs, _pod_spec(gateway)["containers"][0])
        # The documented placeholders: the controller's range (TEST-NET-2) and the pod network
        # the storefront calls from; the operator sets both.
        assert env["GATEWAY_TRUSTED_PROXIES"] == "198.51.100.0/24,10.0.0.0/8"
        assert "GATEWAY_TRUSTED_PROXIES" in README.read_text()


def _prefix_matches(rule: str, path: str) -> bool:
    """Kubernetes' pathType Prefix: element-wise on /-separated segments."""
    want = [p for p in rule.split("/") if p]
    have = [p for p in path.split("/") if p]
    return have[: len(want)] == want


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_sends_every_path_to_the_gateway_and_nothing_around_it(
    overlay: str, rendered: dict[str, list[Doc]]
) -> None:
    (ingress,) = _kind(rendered[overlay], "Ingress")
    paths = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    assert paths
    for path in paths:
        assert path["pathType"] in ("Prefix", "Exact"), path
    assert not ingress["spec"].get("defaultBackend"), "a default backend would take any path"

    def routed(target: str) -> bool:
        return any(
            _prefix_matches(p["path"], target) if p["pathType"] == "Prefix" else p["path"] == target
            for p in paths
        )

    # One origin: the API, the shop and the admin, all through the gateway (which forwards
    # the non-API paths to the storefront); no path leads to another Service.
    for public in ("/api/v1/products", "/api/v1/openapi.json", "/api/v1", "/", "/admin/"):
        assert routed(public), f"{overlay}: {public} is not routed"
    for path in paths:
        backend = path["backend"]["service"]["name"]
        assert backend == "gateway", f"{overlay}: {path['path']} goes around the gateway"


def test_prod_sends_hsts(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["prod"]
    gateway = _named(docs, "Deployment", "gateway")
    env = _container_env(docs, _pod_spec(gateway)["containers"][0])
    assert int(env["GATEWAY_HSTS_SECONDS"]) >= 31536000
    assert _kind(docs, "Ingress")[0]["spec"].get("tls"), "HSTS without TLS"


def test_prod_kafka_topics_are_replicated_three_times_with_two_in_sync(
    rendered: dict[str, list[Doc]], prefix_of: Callable[[str], str]
) -> None:
    docs = rendered["prod"]
    job = _named(docs, "Job", "kafka-topics")
    env = _container_env(docs, _pod_spec(job)["containers"][0])
    assert int(env["REPLICATION_FACTOR"]) == 3
    assert int(env["MIN_INSYNC_REPLICAS"]) == 2
    script = K8S / "base" / "kafka" / "create-topics.sh"
    assert {"MIN_INSYNC_REPLICAS", "DLQ_TOPICS"} <= set(
        re.findall(r"\$\{?(\w+)", script.read_text())
    )
    for _workload, container, part in _part_containers(docs, "prod"):
        if part in STATELESS:
            continue
        value = _container_env(docs, container)[prefix_of(part) + "KAFKA_REPLICATION_FACTOR"]
        assert int(value) == 3, part


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_consumer_groups_dead_letter_topic_is_created(
    overlay: str, rendered: dict[str, list[Doc]]
) -> None:
    docs = rendered[overlay]
    job = _named(docs, "Job", "kafka-topics")
    env = _container_env(docs, _pod_spec(job)["containers"][0])
    groups = set(
        re.findall(
            r"consumerGroup: (\S+)",
            (K8S / "components" / "keda" / "scaledobjects.yaml").read_text(),
        )
    )
    assert groups
    assert set(env["DLQ_TOPICS"].split()) == {f"{group}.dlq" for group in groups}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_secret_key_is_a_mounted_file_from_the_secret(
    overlay: str, rendered: dict[str, list[Doc]], prefix_of: Callable[[str], str]
) -> None:
    docs = rendered[overlay]
    for workload, container, part in _part_containers(docs, overlay):
        env = _container_env(docs, container)
        prefix = prefix_of(part)
        assert prefix + "SECRET_KEY" not in env, f"{overlay}: {part} has a secret key in env"
        assert env[prefix + "SECRET_KEY_FILE"] == "/secrets/secret_key"
        volumes = {v["name"]: v for v in _pod_spec(workload)["volumes"]}
        mounts = [m for m in container["volumeMounts"] if m["mountPath"] == "/secrets"]
        assert len(mounts) == 1, f"{overlay}: {workload['metadata']['name']}/{container['name']}"
        assert mounts[0].get("readOnly") is True
        secret = volumes[mounts[0]["name"]]["secret"]
        assert secret["secretName"].startswith("emporium-secret-key")
        # The file is root's; the app (uid 10001) reads it through the pod's fsGroup.
        pod_security = _pod_spec(workload)["securityContext"]
        assert secret.get("defaultMode", 0o644) & 0o040, "the app's group cannot read the key"
        assert not secret.get("defaultMode", 0o644) & 0o007, "anyone may read the key"
        assert pod_security["fsGroup"] == pod_security["runAsGroup"]
    generated = [
        s for s in _kind(docs, "Secret") if s["metadata"]["name"].startswith("emporium-secret-key")
    ]
    if overlay == "dev":
        # A published dev value, accepted only because dev's environment is "dev".
        (secret,) = generated
        value = base64.b64decode(secret["data"]["secret_key"]).decode()
        assert value in KNOWN_SECRET_KEYS
        for _workload, container, part in _part_containers(docs, overlay):
            assert _container_env(docs, container)[prefix_of(part) + "ENVIRONMENT"] == "dev"
    else:
        assert not generated, f"{overlay} commits a secret key: the operator creates it"
        readme = README.read_text()
        assert "create secret generic emporium-secret-key" in readme
        assert "--from-literal=secret_key=$(openssl rand -hex 32)" in readme


def test_the_ingress_leads_to_the_gateway(rendered: dict[str, list[Doc]]) -> None:
    for overlay in OVERLAYS:
        ingresses = _kind(rendered[overlay], "Ingress")
        assert len(ingresses) == 1
        backends = {
            path["backend"]["service"]["name"]
            for rule in ingresses[0]["spec"]["rules"]
            for path in rule["http"]["paths"]
        }
        assert backends == {"gateway"}
    assert _kind(rendered["prod"], "Ingress")[0]["spec"].get("tls"), "prod serves no TLS"


# -- overlays --------------------------------------------------------------------------------


def test_dev_runs_the_infrastructure_in_the_cluster_with_volumes(
    rendered: dict[str, list[Doc]],
) -> None:
    docs = rendered["dev"]
    images = {
        str(c["image"]).split(":")[0].rsplit("/", 1)[-1]
        for s in _kind(docs, "StatefulSet")
        for c in _containers(s)
    }
    assert {"postgres", "kafka", "redis", "seaweedfs"} <= images
    for statefulset in _kind(docs, "StatefulSet"):
        assert statefulset["spec"].get("volumeClaimTemplates"), statefulset["metadata"]["name"]


def test_prod_runs_replicas_spread_over_nodes(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["prod"]
    assert not _kind(docs, "StatefulSet"), "prod uses managed infrastructure"
    for deployment in _kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        assert deployment["spec"]["replicas"] >= 3, name
        affinity = _pod_spec(deployment)["affinity"]["podAntiAffinity"]
        assert affinity, f"{name}: no anti-affinity"
        assert _pod_spec(deployment)["topologySpreadConstraints"], name
    for hpa in _kind(docs, "HorizontalPodAutoscaler"):
        assert 3 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_the_images_are_the_one_compose_builds(rendered: dict[str, list[Doc]]) -> None:
    compose = YAML(typ="safe", pure=True).load((ROOT / "docker-compose.yml").read_text())
    built = {s["image"] for s in compose["services"].values() if "build" in s}
    for overlay in OVERLAYS:
        images = {c["image"] for _w, c, _p in _part_containers(rendered[overlay], overlay)}
        tags = {image.rsplit(":", 1)[-1] for image in images}
        assert tags == {image.rsplit(":", 1)[-1] for image in built}, (overlay, images)
    dev = {c["image"] for _w, c, _p in _part_containers(rendered["dev"], "dev")}
    assert dev == built


def test_keda_scales_each_consumer_up_to_its_topics_partitions(
    rendered: dict[str, list[Doc]],
) -> None:
    docs = rendered["prod+keda"]
    topic_config = next(
        c
        for c in _kind(docs, "ConfigMap")
        if c["metadata"]["name"].startswith("kafka-topics-config")
    )["data"]
    partitions = int(topic_config["PARTITIONS"])
    created = set(topic_config["TOPICS"].split())
    assert created == {getattr(topics, name) for name in topics.__all__}
    scaled = _kind(docs, "ScaledObject")
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled} == {
        "catalog",
        "customers",
        "orders",
    }
    for scaled_object in scaled:
        target = scaled_object["spec"]["scaleTargetRef"]["name"]
        deployment = _named(docs, "Deployment", target)
        container = _pod_spec(deployment)["containers"][0]
        env = _container_env(docs, container)
        assert (
            1
            <= scaled_object["spec"]["minReplicaCount"]
            <= scaled_object["spec"]["maxReplicaCount"]
        )
        assert scaled_object["spec"]["maxReplicaCount"] <= partitions, (
            f"{target} could scale past the {partitions} partitions: idle consumers"
        )
        kafka = [t for t in scaled_object["spec"]["triggers"] if t["type"] == "kafka"]
        assert len(kafka) == 1, target
        metadata = kafka[0]["metadata"]
        assert metadata["consumerGroup"].startswith(f"{target}."), metadata["consumerGroup"]
        assert metadata["bootstrapServersFromEnv"] in env, "KEDA reads Kafka's address there"
        if "topic" in metadata:
            assert metadata["topic"] in created


# -- checkov ---------------------------------------------------------------------------------


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found and (Path.home() / ".local" / "bin" / "uv").exists():
        found = str(Path.home() / ".local" / "bin" / "uv")
    assert found, "uv not found (run the tests with `uv run pytest` or `make test`)"
    return found


def test_checkov_skips_are_each_justified() -> None:
    lines = (K8S / ".checkov.yaml").read_text().splitlines()
    skips = [i for i, line in enumerate(lines) if re.match(r"\s*- CKV_", line)]
    assert skips
    for index in skips:
        assert lines[index - 1].strip().startswith("#"), f"unjustified skip: {lines[index]}"


def test_checkov_kubernetes_checks_pass_on_every_overlay(
    rendered: dict[str, list[Doc]], tmp_path: Path
) -> None:
    files = []
    for overlay, docs in rendered.items():
        path = tmp_path / f"{overlay.replace('+', '-')}.yaml"
        path.write_text("\n---\n".join(json.dumps(doc) for doc in docs))
        files.append(path)
        for doc in docs:  # a resource's own skip says why
            for key, value in doc["metadata"].get("annotations", {}).items():
                if key.startswith("checkov.io/skip"):
                    assert re.match(r"CKV_\w+=\S.{15,}", value), f"{key}: {value}"
    # checkov's pinned dependencies conflict with the workspace's (botocore), so it runs
    # isolated at a fixed version with fixed dependencies (checkov-constraints.txt).
    command = [
        _uv(),
        "tool",
        "run",
        "--python",
        "3.11",
        "--constraints",
        str(Path(__file__).with_name("checkov-constraints.txt")),
        "--from",
        CHECKOV,
        "checkov",
        "--config-file",
        str(K8S / ".checkov.yaml"),
        "--output",
        "json",
    ]
    for path in files:
        command += ["--file", str(path)]
    result = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=tmp_path, timeout=600
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr[-3000:]}"
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{check['check_id']} {check['check_name']}: {check['resource']} ({check['file_path']})"
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov found:\n" + "\n".join(failed)
    summary = reports[0]["summary"]
    assert summary["passed"] > 0, summary
    assert summary["parsing_errors"] == 0, summary
    assert summary["resource_count"] >= sum(len(docs) for docs in rendered.values()) // 2
