"""deploy/k8s/base/kafka/create-topics.sh against the real Kafka broker, with the real Kafka
command line tools (the apache/kafka image's kafka-topics.sh and kafka-configs.sh, run from
the jars): dead-letter topics never expire, and an existing topic's partition count is never
changed (the script stops instead). Topic names are unique per test.

The tools' jars: the broker's (``$EMPORIUM_CACHE/kafka-<version>/libs``, fetched by
``deploy/local/infra.sh``) plus ``kafka-tools``, fetched once with Maven into
``$EMPORIUM_CACHE/kafka-tools-<version>/`` when it is not there.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import (
    ConfigResource,
    ConfigResourceType,
)
from aiokafka.errors import UnknownTopicOrPartitionError

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "k8s" / "base" / "kafka" / "create-topics.sh"
KAFKA_VERSION = os.environ.get("EMPORIUM_KAFKA_VERSION", "4.1.1")
CACHE = Path(os.environ.get("EMPORIUM_CACHE", Path.home() / ".cache" / "emporium"))
#: The image's tool scripts, as the classes they run (bin/kafka-*.sh in apache/kafka).
TOOLS = {
    "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
    "kafka-configs.sh": "kafka.admin.ConfigCommand",
}


def _tools_jar() -> Path:
    name = f"kafka-tools-{KAFKA_VERSION}.jar"
    for candidate in (
        CACHE / f"kafka-{KAFKA_VERSION}" / "libs" / name,
        CACHE / f"kafka-tools-{KAFKA_VERSION}" / name,
    ):
        if candidate.is_file():
            return candidate
    mvn = shutil.which("mvn")
    if mvn is None:
        pytest.fail(
            f"{name} is missing and mvn is not installed to fetch it (apt-get install maven)"
        )
    target = CACHE / f"kafka-tools-{KAFKA_VERSION}"
    result = subprocess.run(
        [
            mvn,
            "-B",
            "-q",
            "-ntp",
            "dependency:copy",
            f"-Dartifact=org.apache.kafka:kafka-tools:{KAFKA_VERSION}",
            f"-DoutputDirectory={target}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0 or not (target / name).is_file():
        pytest.fail(f"fetching {name} with Maven failed:\n{result.stdout}{result.stderr}")
    return target / name


@pytest.fixture(scope="module")
def kafka_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with kafka-topics.sh and kafka-configs.sh, as in the apache/kafka image."""
    libs = CACHE / f"kafka-{KAFKA_VERSION}" / "libs"
    java = shutil.which("java")
    if not libs.is_dir() or java is None:
        message = f"no Kafka jars in {libs} or no java: run deploy/local/infra.sh up"
        if os.environ.get("EMPORIUM_REQUIRE_INFRA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    classpath = f"{libs}/*:{_tools_jar()}"
    folder = tmp_path_factory.mktemp("kafka-bin")
    for script, main_class in TOOLS.items():
        path = folder / script
        path.write_text(f'#!/bin/sh\nexec "{java}" -cp "{classpath}" {main_class} "$@"\n')
        path.chmod(0o755)
    return folder


def _run(kafka_bin: Path, bootstrap: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(SCRIPT)],
        env={
            "PATH": os.environ["PATH"],
            "KAFKA_BIN": str(kafka_bin),
            "BOOTSTRAP_SERVER": bootstrap,
            "REPLICATION_FACTOR": "1",
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture
async def admin(kafka_bootstrap: str) -> AsyncIterator[Any]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def names(unique: str, admin: Any) -> AsyncIterator[Iterator[str]]:
    """Unique topic names; the topics are deleted after the test."""
    made: list[str] = []

    def generate() -> Iterator[str]:
        for index in range(100):
            made.append(f"{unique}-{index}")
            yield made[-1]

    yield generate()
    existing = set(await admin.list_topics())
    if doomed := [name for name in made if name in existing]:
        await admin.delete_topics(doomed)


async def _partitions(admin: Any, topic: str) -> int:
    (described,) = await admin.describe_topics([topic])
    return len(described["partitions"])


async def _config(admin: Any, topic: str) -> dict[str, str]:
    """The topic's config; asked again while the answering broker does not know a topic that
    was just created (its metadata lags the creation)."""
    async with asyncio.timeout(30):
        while True:
            resource = ConfigResource(ConfigResourceType.TOPIC, topic)
            (response,) = await admin.describe_configs([resource])
            ((code, message, _type, _name, entries),) = response.resources
            if code != UnknownTopicOrPartitionError.errno:
                assert code == 0, f"describing {topic}: error {code} {message}"
                return {str(entry[0]): str(entry[1]) for entry in entries}
            await asyncio.sleep(0.05)


async def test_topics_and_dead_letter_topics_are_created_and_letters_never_expire(
    kafka_bin: Path, kafka_bootstrap: str, admin: Any, names: Iterator[str]
) -> None:
    events, dlq, early_dlq = next(names), next(names) + ".dlq", next(names) + ".dlq"
    # A consumer that started first made its dead-letter topic with the broker's retention.
    await admin.create_topics([NewTopic(early_dlq, 1, 1)])
    assert (await _config(admin, early_dlq))["retention.ms"] != "-1"

    env = {
        "TOPICS": events,
        "PARTITIONS": "3",
        "DLQ_TOPICS": f"{dlq} {early_dlq}",
        "MIN_INSYNC_REPLICAS": "1",
    }
    for _ in range(2):  # the second run finds everything in place and changes nothing
        result = _run(kafka_bin, kafka_bootstrap, **env)
        assert result.returncode == 0, result.stdout + result.stderr

    assert await _partitions(admin, events) == 3
    assert (await _config(admin, events))["min.insync.replicas"] == "1"
    assert (await _config(admin, events))["retention.ms"] != "-1", "events expire as usual"
    for topic in (dlq, early_dlq):
        assert await _partitions(admin, topic) == 1
        config = await _config(admin, topic)
        assert config["retention.ms"] == "-1", f"{topic}: dead letters would expire"
        assert config["min.insync.replicas"] == "1"


@pytest.mark.parametrize("wanted", [4, 1], ids=["more", "fewer"])
async def test_the_partition_count_of_an_existing_topic_is_never_changed(
    wanted: int, kafka_bin: Path, kafka_bootstrap: str, admin: Any, names: Iterator[str]
) -> None:
    topic = next(names)
    await admin.create_topics([NewTopic(topic, 2, 1)])
    result = _run(kafka_bin, kafka_bootstrap, TOPICS=topic, PARTITIONS=str(wanted))
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"{topic} has 2 partitions, not {wanted}" in result.stderr
    assert "refusing to change" in result.stderr
    assert await _partitions(admin, topic) == 2


async def test_a_cluster_with_fewer_brokers_than_replicas_fails_the_job(
    kafka_bin: Path, kafka_bootstrap: str, admin: Any, names: Iterator[str]
) -> None:
    """prod asks for 3 replicas: on a smaller cluster the Job fails, it creates nothing."""
    topic = next(names)
    result = _run(kafka_bin, kafka_bootstrap, TOPICS=topic, PARTITIONS="2", REPLICATION_FACTOR="3")
    assert result.returncode != 0
    assert "replication factor of 3 cannot be reached" in result.stdout + result.stderr
    assert topic not in set(await admin.list_topics())
