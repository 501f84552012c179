"""Failures in the command line's terms: flags and commands, not Python calls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import ConfigError, RunError

__all__ = ["CommandError", "check_decision", "check_resumable", "cli_message", "unknown_token"]


class CommandError(RunError):
    """The command cannot do what was asked; the message says why and what to do instead."""


def _calls(record: Any) -> str:
    return ", ".join(
        f"{call.get('tool', '?')} ({call.get('call_id', '?')})"
        for call in record.pending_calls
        if isinstance(call, dict)
    )


def check_decision(record: Any, decision: dict[str, Any]) -> None:
    """Refuse a ``resume`` decision that does not fit the pause, before anything starts.

    Args:
        record: the store's ``PauseRecord``.
        decision: the keyword arguments the command line gives ``resume``.

    Raises:
        ConfigError: the flags do not answer what the pause waits for.
    """
    calls = [call for call in record.pending_calls if isinstance(call, dict)]
    kinds = {call.get("kind", "approval") for call in calls}
    where = f"pause {record.pause_id} waits for"
    if "user_input" in decision and "approval" in kinds:
        raise ConfigError(
            f"{where} approval of {_calls(record)}: decide with --approve, --reject "
            "[--reason R] or --edit JSON, not --input"
        )
    if decision.get("approve") is True and "input" in kinds:
        raise ConfigError(
            f"{where} an answer from {_calls(record)}: give it with --input TEXT, or decline "
            "with --reject"
        )
    edited = decision.get("edited_args")
    if isinstance(edited, list) and len(edited) != len(calls):
        raise ConfigError(
            f"--edit has {len(edited)} entries but {where} {len(calls)} call(s): "
            f"{_calls(record)}; give one JSON object (or null) per call, in that order"
        )


def _at(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _used(pause_id: str, run_id: str, resolved_at: Any) -> str:
    return (
        f"this resume token was already used: pause {pause_id} of run {run_id} was already "
        f"resumed at {_at(resolved_at)}, and nothing was run again; see its decision and "
        f"outcome with `penguiflow pauses show {pause_id}`"
    )


def _claimed(pause_id: str, run_id: str, lease_until: Any) -> str:
    return (
        f"pause {pause_id} of run {run_id} is being resumed by another process (its claim "
        f"holds until {_at(lease_until)}); if that process died, run the resume again after "
        "that time"
    )


def _expired(pause_id: str, run_id: str, expired_at: Any) -> str:
    return (
        f"pause {pause_id} of run {run_id} expired at {_at(expired_at)} and can no longer be "
        "resumed; ask again with `penguiflow run`"
    )


def _unknown(tenant: str | None) -> str:
    whose = f"tenant {tenant!r}" if tenant else "this tenant"
    return (
        f"no pause matches this resume token for {whose} (a mistyped token, a pruned pause, "
        "or another tenant's); check the token, or pass the run's tenant with --tenant"
    )


def check_resumable(record: Any, now: datetime | None = None) -> None:
    """Refuse a pause that a resume cannot claim: used, expired, or claimed right now.

    Args:
        record: the store's ``PauseRecord`` for the token.
        now: the current time (default: now, UTC).

    Raises:
        CommandError: the pause cannot be resumed; the message says why and what to do.
    """
    status = str(getattr(record.status, "value", record.status))
    pause_id, run_id = record.pause_id, record.run_id
    if status == "resolved":
        raise CommandError(_used(pause_id, run_id, record.resolved_at))
    if status == "expired":
        raise CommandError(_expired(pause_id, run_id, record.expires_at))
    lease = record.lease_until
    if status == "claimed" and lease is not None and lease > (now or datetime.now(UTC)):
        raise CommandError(_claimed(pause_id, run_id, lease))


def unknown_token(tenant: str | None) -> CommandError:
    """The error for a resume token that matches no pause of ``tenant``."""
    return CommandError(_unknown(tenant))


def cli_message(exc: BaseException, tenant: str | None = None) -> str:
    """Return the message to print for ``exc``, in the command line's terms.

    The session store's pause errors speak of Python attributes and arguments; they are
    said again with flags and commands. Other messages are returned unchanged.
    """
    pause_id = getattr(exc, "pause_id", None)
    run_id = getattr(exc, "run_id", None)
    if pause_id is not None and run_id is not None:
        if hasattr(exc, "resolved_at"):
            return _used(pause_id, run_id, getattr(exc, "resolved_at", None))
        if hasattr(exc, "expired_at"):
            return _expired(pause_id, run_id, getattr(exc, "expired_at", None))
        if hasattr(exc, "lease_until"):
            return _claimed(pause_id, run_id, getattr(exc, "lease_until", None))
    if isinstance(exc, LookupError) and "resume token" in str(exc):
        return _unknown(tenant)
    return str(exc)
