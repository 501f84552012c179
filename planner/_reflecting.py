"""Reflection on a draft answer: critique, revise, critique again (see ``reflection.py``).

The critique and the revision are requests of their own, written the same way in both
tool modes: the query, a digest of the trajectory, the answer and, for a revision, the
critique. They do not count against ``max_iters``; their usage and cost are added to
the run's. A reply that cannot be read ends the reflection and keeps the answer as it
is; the run's deadline ends it too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from ._active import ActiveRun
from .llm_types import LLMClient, as_response, complete_keywords, fit_request
from .prompts import digest_step
from .reflection import ReflectionConfig, ReflectionCritique
from .repair import decode_arguments
from .run_state import FinalPayload

__all__ = ["EXTENSION", "Reflector"]

EXTENSION = "reflection"
"""The ``RunState.extensions`` entry counting a run's reflection requests."""

_CRITIC = (
    "You review an assistant's answer before the user sees it. Score it from 0 to 1 "
    "against each criterion, then reply with one JSON object: "
    '{"score": <0..1>, "passed": <true|false>, "feedback": "<what to improve>", '
    '"issues": ["..."], "suggestions": ["..."]}.'
)
_REVISER = (
    "You answered the query below and a reviewer found problems. Write a better answer "
    "using the reviewer's feedback and the tool results. Reply with one JSON object "
    "matching this schema:\n"
)
_STEPS_SHOWN = 20

FinalCheck = Callable[[Mapping[str, Any]], "FinalPayload | str"]


def _context(run: ActiveRun) -> str:
    state = run.state
    lines = [f"Query:\n{state.query}"]
    steps = state.steps[-_STEPS_SHOWN:]
    if steps:
        lines.append("What the tools returned:\n" + "\n".join(digest_step(s) for s in steps))
    return "\n\n".join(lines)


def _answer_text(payload: FinalPayload) -> str:
    structured = payload.structured
    if structured is not None and hasattr(structured, "model_dump_json"):
        return str(structured.model_dump_json())
    return payload.raw_answer


class Reflector:
    """Critiques and revises the answers of a planner's runs (one per planner).

    Args:
        config: the reflection settings.
        critic: the client that critiques.
        reviser: the client that revises (the planner's own).
        final_schema: the JSON schema of a final answer's arguments.
        check_final: validates revised arguments (payload, or the problem).
    """

    def __init__(
        self,
        config: ReflectionConfig,
        *,
        critic: LLMClient,
        reviser: LLMClient,
        final_schema: dict[str, Any],
        check_final: FinalCheck,
    ) -> None:
        self.config = config
        self._critic = critic
        self._reviser = reviser
        self._critic_keywords = complete_keywords(critic)
        self._reviser_keywords = complete_keywords(reviser)
        self._final_schema = final_schema
        self._check_final = check_final
        self._critique_format = {
            "type": "json_schema",
            "json_schema": {
                "name": "reflection_critique",
                "schema": ReflectionCritique.model_json_schema(),
            },
        }

    async def review(
        self, run: ActiveRun, payload: FinalPayload
    ) -> tuple[FinalPayload, dict[str, Any]]:
        """Critique ``payload``, revising it while it scores below the threshold.

        Returns:
            The answer to give (revised or not) and ``metadata["reflection"]``.
        """
        config = self.config
        report: dict[str, Any] = {"revisions": 0, "threshold": config.quality_threshold}
        revision = 0
        while True:
            critique = await self._critique(run, payload, report)
            if critique is None:
                break
            report.update(score=critique.score, passed=critique.passed, feedback=critique.feedback)
            await run.event(
                "reflection_critique",
                extra={
                    "score": critique.score,
                    "passed": critique.passed,
                    "revision": revision,
                    "feedback": critique.feedback[:200],
                    "issues": critique.issues,
                },
            )
            if critique.passed or critique.score >= config.quality_threshold:
                report["passed"] = True
                break
            if revision >= config.max_revisions:
                break
            revised = await self._revise(run, payload, critique, report)
            if revised is None:
                break
            payload, revision = revised, revision + 1
            report["revisions"] = revision
        return payload, report

    async def _ask(
        self,
        run: ActiveRun,
        client: LLMClient,
        keywords: frozenset[str] | None,
        messages: list[dict[str, Any]],
        response_format: dict[str, Any],
    ) -> str | None:
        """Send one reflection request; ``None`` when the run's deadline passed."""
        request = fit_request({"messages": messages, "response_format": response_format}, keywords)
        timer = asyncio.timeout(run.remaining())
        try:
            async with timer:
                reply = as_response(await client.complete(**request))
        except TimeoutError:
            if timer.expired():
                return None
            raise
        state = run.state
        usage = reply.usage
        state.usage.add(
            usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, reply.cost_usd
        )
        counts = state.extensions.setdefault(EXTENSION, {"calls": 0})
        counts["calls"] = int(counts.get("calls", 0)) + 1
        return reply.text

    async def _critique(
        self, run: ActiveRun, payload: FinalPayload, report: dict[str, Any]
    ) -> ReflectionCritique | None:
        criteria = self.config.criteria.model_dump()
        rules = "\n".join(f"- {name}: {text}" for name, text in criteria.items())
        messages = [
            {"role": "system", "content": _CRITIC},
            {
                "role": "user",
                "content": f"{_context(run)}\n\nCriteria:\n{rules}\n\n"
                f"Answer to review:\n{_answer_text(payload)}",
            },
        ]
        text = await self._ask(
            run, self._critic, self._critic_keywords, messages, self._critique_format
        )
        if text is None:
            report["stopped"] = "deadline"
            return None
        data, _, problem = decode_arguments(text)
        try:
            return ReflectionCritique.model_validate(data if data is not None else {})
        except ValidationError as exc:
            report["error"] = f"unreadable critique: {problem or exc.errors()[0]['msg']}"
            return None

    async def _revise(
        self,
        run: ActiveRun,
        payload: FinalPayload,
        critique: ReflectionCritique,
        report: dict[str, Any],
    ) -> FinalPayload | None:
        review = json.dumps(
            {
                "feedback": critique.feedback,
                "issues": critique.issues,
                "suggestions": critique.suggestions,
            },
            ensure_ascii=False,
        )
        messages = [
            {"role": "system", "content": _REVISER + json.dumps(self._final_schema)},
            {
                "role": "user",
                "content": f"{_context(run)}\n\nYour answer:\n{_answer_text(payload)}\n\n"
                f"Reviewer (score {critique.score:.2f}):\n{review}",
            },
        ]
        answer_format = {
            "type": "json_schema",
            "json_schema": {"name": "revised_answer", "schema": self._final_schema},
        }
        text = await self._ask(run, self._reviser, self._reviser_keywords, messages, answer_format)
        if text is None:
            report["stopped"] = "deadline"
            return None
        data, _, problem = decode_arguments(text)
        checked = self._check_final(data) if data is not None else problem or "no JSON object"
        if isinstance(checked, str):
            report["error"] = f"unusable revision: {checked}"
            return None
        return checked
