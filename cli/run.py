"""``penguiflow run`` (one question, scriptable) and ``penguiflow resume`` (decide a pause)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from rich.markup import escape

from ..errors import ConfigError
from ._common import (
    add_store_options,
    agent_from_args,
    exit_code_for,
    is_pause,
    non_empty,
    open_store,
)
from ._errors import check_decision, check_resumable, unknown_token
from ._ui import Activity, Consoles, jsonable, pause_fields, pending_calls_table

__all__ = ["add_parsers", "decision_from_args", "render_result", "result_json"]


def add_parsers(commands: Any) -> None:
    """Register ``run`` and ``resume``."""
    run = commands.add_parser(
        "run",
        help="ask the agent one question",
        description="Run the agent on one question and print the answer. Exit status: 0 "
        "answered, 3 paused (the resume token is printed), 4 no complete answer, 1 failed.",
    )
    run.add_argument("question", type=non_empty, help="what to ask")
    add_store_options(run)
    run.add_argument(
        "--model",
        "-m",
        metavar="MODEL",
        type=non_empty,
        help="LiteLLM model string (overrides [model])",
    )
    run.add_argument(
        "--session",
        metavar="ID",
        type=non_empty,
        help="session id: runs of one session share memory",
    )
    run.add_argument("--json", action="store_true", help="print one JSON object (no streaming)")
    run.set_defaults(handler=cmd_run)

    resume = commands.add_parser(
        "resume",
        help="approve, reject, edit or answer a paused run",
        description="Resume a paused run with a decision, in this process, and print the "
        "outcome. Needs the agent config the run was started with.",
    )
    resume.add_argument(
        "token", type=non_empty, help="the resume token printed when the run paused"
    )
    decision = resume.add_mutually_exclusive_group(required=True)
    decision.add_argument("--approve", action="store_true", help="run the pending call(s)")
    decision.add_argument("--reject", action="store_true", help="refuse the pending call(s)")
    decision.add_argument("--input", metavar="TEXT", help="answer a pause that asked for input")
    decision.add_argument(
        "--edit",
        metavar="JSON",
        help="approve with these arguments instead (a JSON object; with several pending "
        "calls, a JSON list with one object or null per call)",
    )
    resume.add_argument("--reason", metavar="R", help="why (shown to the model on --reject)")
    add_store_options(resume)
    resume.add_argument(
        "--model", "-m", metavar="MODEL", type=non_empty, help="LiteLLM model string"
    )
    resume.add_argument("--json", action="store_true", help="print one JSON object")
    resume.set_defaults(handler=cmd_resume)


def result_json(result: Any) -> dict[str, Any]:
    """A planner result (finish or pause) as one JSON object."""
    if is_pause(result):
        return {"status": "paused", **pause_fields(result)}
    payload = getattr(result, "payload", None)
    metadata = getattr(result, "metadata", {}) or {}
    return {
        "status": "finished",
        "reason": result.reason,
        "answer": getattr(payload, "raw_answer", None),
        "partial": bool(getattr(payload, "partial", False)),
        "run_id": metadata.get("run_id"),
        "steps": metadata.get("step_count"),
        "usage": jsonable(metadata.get("usage")),
        "error": metadata.get("error"),
    }


def render_result(consoles: Consoles, result: Any, *, activity: Activity | None = None) -> None:
    """Print a finish (the answer, unless it was streamed) or a pause (token, calls)."""
    out, err = consoles.out, consoles.err
    if is_pause(result):
        fields = pause_fields(result)
        err.print(f"[bold yellow]⏸ paused[/]: {escape(str(fields.get('reason')))}")
        payload = fields.get("payload")
        if payload:
            err.print(f"  {escape(json.dumps(payload, ensure_ascii=False))}")
        calls = fields.get("pending_calls") or []
        if calls:
            err.print(pending_calls_table(calls))
        if fields.get("expires_at"):
            err.print(f"  expires at {fields['expires_at']}")
        out.print(f"resume token: {fields.get('resume_token')}", markup=False)
        err.print(
            "  decide with: penguiflow resume TOKEN --approve | --reject [--reason R] | "
            "--edit JSON | --input TEXT"
        )
        return
    payload = getattr(result, "payload", None)
    answer = getattr(payload, "raw_answer", None)
    streamed = activity is not None and activity.streamed
    if answer and not streamed:
        out.print(answer, markup=False)
    if result.reason != "answer_complete":
        error = (getattr(result, "metadata", None) or {}).get("error")
        detail = f": {error}" if error else ""
        err.print(f"[yellow]no complete answer ({escape(result.reason)}{escape(detail)})[/]")


async def _run(args: argparse.Namespace, consoles: Consoles) -> int:
    agent = agent_from_args(args, stream=None if not args.json else False)
    activity = Activity(consoles, stream_answer=not args.json)
    async with agent:
        agent.on_event = activity
        activity.begin()
        try:
            result = await agent.run(args.question, session_id=args.session)
        finally:
            activity.end()
    if args.json:
        consoles.out.print_json(data=result_json(result))
    else:
        render_result(consoles, result, activity=activity)
    return exit_code_for(result)


def cmd_run(args: argparse.Namespace, consoles: Consoles) -> int:
    """``penguiflow run QUESTION``."""
    return asyncio.run(_run(args, consoles))


def decision_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``planner.resume`` for the command line's decision.

    Raises:
        ConfigError: ``--edit`` is not a JSON object (or list of objects).
    """
    if args.input is not None:
        return {"user_input": args.input}
    if args.reject:
        decision: dict[str, Any] = {"approve": False}
        if args.reason:
            decision["reason"] = args.reason
        return decision
    if args.edit is not None:
        try:
            edited = json.loads(args.edit)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"--edit must be JSON, for example '{{\"amount\": 10}}': {exc.msg} at "
                f"column {exc.colno}"
            ) from None
        except RecursionError:
            raise ConfigError(
                "--edit nests objects or lists too deeply; give the arguments as a flat JSON object"
            ) from None
        if not isinstance(edited, dict | list):
            raise ConfigError(
                f"--edit must be a JSON object of arguments (or a list of them), got {args.edit!r}"
            )
        return {"approve": True, "edited_args": edited}
    return {"approve": True}


async def _check_token(args: argparse.Namespace, decision: dict[str, Any]) -> None:
    """Refuse a token or decision that cannot resume the pause, before any server starts."""
    async with open_store(args) as (store, config):
        tenant = args.tenant or config.tenant
        try:
            record = await store.get_pause(args.token, tenant_id=tenant)
        except LookupError:
            raise unknown_token(tenant) from None
    check_resumable(record)
    check_decision(record, decision)


async def _resume(args: argparse.Namespace, consoles: Consoles) -> int:
    decision = decision_from_args(args)
    await _check_token(args, decision)
    agent = agent_from_args(args, stream=None if not args.json else False)
    activity = Activity(consoles, stream_answer=not args.json)
    async with agent:
        agent.on_event = activity
        activity.begin()
        try:
            result = await agent.resume(args.token, **decision)
        finally:
            activity.end()
    if args.json:
        consoles.out.print_json(data=result_json(result))
    else:
        render_result(consoles, result, activity=activity)
    return exit_code_for(result)


def cmd_resume(args: argparse.Namespace, consoles: Consoles) -> int:
    """``penguiflow resume TOKEN --approve|--reject|--input|--edit``."""
    return asyncio.run(_resume(args, consoles))
