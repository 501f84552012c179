"""``ModelRegistry``: input/output models per node, validated with cached TypeAdapters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .errors import ConfigError, ValidationFailedError

__all__ = ["ModelRegistry"]


@dataclass(frozen=True, slots=True)
class _Entry:
    in_model: type[Any]
    out_model: type[Any]
    in_adapter: TypeAdapter[Any]
    out_adapter: TypeAdapter[Any]


class ModelRegistry:
    """Maps node names to the pydantic models of their input and output.

    Adapters are built once, when a node is registered.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def register(self, node_name: str, in_model: type[Any], out_model: type[Any]) -> None:
        """Register the input and output models of ``node_name``.

        Raises:
            ConfigError: the node is already registered.
        """
        if node_name in self._entries:
            raise ConfigError(
                f"ModelRegistry: node {node_name!r} is already registered; register each node once"
            )
        self._entries[node_name] = _Entry(
            in_model, out_model, TypeAdapter(in_model), TypeAdapter(out_model)
        )

    def has(self, node_name: str) -> bool:
        """Return whether ``node_name`` has registered models."""
        return node_name in self._entries

    def models(self, node_name: str) -> tuple[type[Any], type[Any]]:
        """Return ``(in_model, out_model)`` of ``node_name``.

        Raises:
            KeyError: the node is not registered.
        """
        entry = self._entries[node_name]
        return entry.in_model, entry.out_model

    def adapters(self, node_name: str) -> tuple[TypeAdapter[Any], TypeAdapter[Any]]:
        """Return the ``(input, output)`` ``TypeAdapter``s of ``node_name``.

        Raises:
            KeyError: the node is not registered.
        """
        entry = self._entries[node_name]
        return entry.in_adapter, entry.out_adapter

    def names(self) -> list[str]:
        """Return the registered node names in registration order."""
        return list(self._entries)

    def validate_input(self, node_name: str, value: Any) -> Any:
        """Validate ``value`` against the node's input model and return the parsed value."""
        return self._validate(node_name, value, "input")

    def validate_output(self, node_name: str, value: Any) -> Any:
        """Validate ``value`` against the node's output model and return the parsed value."""
        return self._validate(node_name, value, "output")

    def _validate(self, node_name: str, value: Any, direction: str) -> Any:
        entry = self._entries.get(node_name)
        if entry is None:
            return value
        adapter = entry.in_adapter if direction == "input" else entry.out_adapter
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            raise ValidationFailedError(node_name, direction, str(exc)) from exc
