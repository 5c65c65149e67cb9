"""The base of every event schema and the registry of versioned type names."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

__all__ = ["REGISTRY", "EventData", "event_type_of"]


class EventData(BaseModel):
    """The ``data`` of an event. Subclasses set ``event_name``, ``version`` and ``topic``.

    Consumers ignore fields they do not know (tolerant reader), so a producer may add an
    optional field without a new version; removing or retyping a field needs a new version.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_name: ClassVar[str]
    version: ClassVar[int] = 1
    topic: ClassVar[str]

    @classmethod
    def type_name(cls) -> str:
        """The versioned type carried in the envelope, e.g. ``orders.OrderPlaced.v1``."""
        return f"{cls.topic.split('.')[0]}.{cls.event_name}.v{cls.version}"

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "event_name" in cls.__dict__:
            type_name = cls.type_name()
            if type_name in REGISTRY and REGISTRY[type_name] is not cls:
                raise TypeError(f"event type {type_name} is defined twice")
            REGISTRY[type_name] = cls


REGISTRY: dict[str, type[EventData]] = {}


def event_type_of(data: EventData | type[EventData]) -> str:
    """The versioned type name of an event instance or class."""
    return data.type_name()
