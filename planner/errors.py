"""Errors raised by the planner package.

They hang under the two branches of :mod:`penguiflow.errors`::

    PenguiFlowError
    ├── UsageError
    │   ├── PlannerClosedError         (also RuntimeError) run() after planner.aclose()
    │   ├── AgentStateError            (also RuntimeError) an Agent used where it cannot
    │   │                              run: run_sync() in a running loop, another loop
    │   ├── StateStoreRequiredError    (a ConfigError) a run must pause but the planner
    │   │                              has no state_store to keep the pause in
    │   ├── ResumeDecisionError        (also ValueError) the resume decision does not fit
    │   │                              the pause (the pause is released: fix and retry)
    │   ├── RunStateError              (also ValueError) a run state this version cannot
    │   │                              continue (written by a newer PenguiFlow)
    │   ├── ModelRequestsBlockedError  (also RuntimeError) a real model call while
    │   │                              ALLOW_MODEL_REQUESTS is off (tests)
    │   └── ScriptExhaustedError       (also LookupError) ScriptedLLM got more requests
    │                                  than it has replies
    └── RunError
        ├── PauseCommitError           the pause could not be committed: no token exists
        └── LLMError                   (also RuntimeError) an LLM call failed (model,
                                       status_code, attempts)
            ├── LLMAuthError           401/403: missing or wrong credentials; not retried
            ├── LLMBadRequestError     other 4xx: the provider rejected the request; not retried
            │   ├── LLMResponseFormatError  the provider rejected the response_format
            │   ├── LLMToolCallingError     the provider rejected native tools / tool_choice
            │   └── LLMContextWindowError   the prompt does not fit the model's context
            ├── LLMContentFilterError  the provider's content filter blocked the prompt or reply
            ├── LLMRateLimitError      429 on every attempt (retry_after)
            ├── LLMTimeoutError        (also TimeoutError) every attempt timed out
            ├── LLMUnavailableError    5xx or a network failure on every attempt
            └── LLMResponseError       the reply could not be read (malformed body, no text)

Errors never carry an API key: provider messages are redacted before they are stored.
Every error pickles with all its fields, so it can cross process boundaries.
"""

from __future__ import annotations

from typing import Any

from penguiflow.errors import ConfigError, RunError, UsageError

__all__ = [
    "AgentStateError",
    "LLMAuthError",
    "LLMBadRequestError",
    "LLMContentFilterError",
    "LLMContextWindowError",
    "LLMError",
    "LLMRateLimitError",
    "LLMResponseError",
    "LLMResponseFormatError",
    "LLMTimeoutError",
    "LLMToolCallingError",
    "LLMUnavailableError",
    "ModelRequestsBlockedError",
    "PauseCommitError",
    "PlannerClosedError",
    "ResumeDecisionError",
    "RunStateError",
    "ScriptExhaustedError",
    "StateStoreRequiredError",
]


class ModelRequestsBlockedError(UsageError, RuntimeError):
    """A real model request was made while ``ALLOW_MODEL_REQUESTS`` is ``False``.

    Test suites turn the switch off so that no test reaches a paid provider by accident.
    Opt in with ``with penguiflow.planner.llm.allow_model_requests(): ...`` or use an
    offline client (``ScriptedLLM``, ``FunctionLLM``, ``TestLLM``).
    """

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(
            f"real model requests are blocked (penguiflow.planner.llm.ALLOW_MODEL_REQUESTS "
            f"is False) and a request to {model!r} was made; wrap the call in "
            "`with allow_model_requests():` or use ScriptedLLM/FunctionLLM/TestLLM"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (ModelRequestsBlockedError, (self.model,))


class ScriptExhaustedError(UsageError, LookupError):
    """``ScriptedLLM`` received a request after its last scripted reply was used.

    Attributes:
        replies: how many replies the script held.
        request_number: the 1-based number of the request that found no reply.
    """

    def __init__(self, replies: int, request_number: int, last_message: str = "") -> None:
        self.replies = replies
        self.request_number = request_number
        self.last_message = last_message
        hint = f"; the last message was: {last_message!r}" if last_message else ""
        super().__init__(
            f"ScriptedLLM ran out of replies: it was given {replies} "
            f"repl{'y' if replies == 1 else 'ies'} and received request #{request_number}; "
            f"add replies to the script or check why an extra LLM call was made{hint}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (ScriptExhaustedError, (self.replies, self.request_number, self.last_message))


class LLMError(RunError, RuntimeError):
    """An LLM call failed; the base of every LLM client error.

    It is also a ``RuntimeError``, the documented error of a failed LLM call.

    Attributes:
        message: what went wrong, with secrets removed.
        model: the model string of the client that failed.
        status_code: the HTTP status the provider answered with, when there was one.
        attempts: how many attempts were made before giving up.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        status_code: int | None = None,
        attempts: int = 1,
    ) -> None:
        self.message = message
        self.model = model
        self.status_code = status_code
        self.attempts = attempts
        super().__init__(self.__str__())

    def fields(self) -> dict[str, Any]:
        """Return the keyword fields of this error (used for pickling and ``to_dict``)."""
        return {"model": self.model, "status_code": self.status_code, "attempts": self.attempts}

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly description of the failure."""
        return {"type": type(self).__name__, "message": self.message, **self.fields()}

    def __str__(self) -> str:
        details = [f"model {self.model!r}"] if self.model else []
        if self.status_code is not None:
            details.append(f"HTTP {self.status_code}")
        details.append(f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}")
        return f"{self.message} ({', '.join(details)})"

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in self.fields().items())
        return f"{type(self).__name__}({self.message!r}, {fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_llm_error, (type(self), self.message, self.fields()))


def _rebuild_llm_error(cls: type[LLMError], message: str, fields: dict[str, Any]) -> LLMError:
    return cls(message, **fields)


class LLMAuthError(LLMError):
    """The provider refused the credentials (401) or the permission (403); not retried."""


class LLMBadRequestError(LLMError):
    """The provider rejected the request (4xx other than 401/403/408/409/429); not retried."""


class LLMResponseFormatError(LLMBadRequestError):
    """The provider rejected the ``response_format`` (JSON schema or JSON mode).

    Retry with a simpler format (the generic schema, ``{"type": "json_object"}``, or none).
    """


class LLMToolCallingError(LLMBadRequestError):
    """The provider rejected native tool calling (the request's ``tools`` or ``tool_choice``).

    With ``tool_mode="auto"`` the planner then speaks JSON actions to that model.
    """


class LLMContentFilterError(LLMError):
    """The provider's content filter blocked the prompt or the reply; not retried.

    Rephrase the query or the system prompt, or check the provider's moderation settings.
    """


class LLMContextWindowError(LLMBadRequestError):
    """The messages do not fit the model's context window; shorten them and retry."""


class LLMRateLimitError(LLMError):
    """The provider answered 429 (rate limit) on every attempt.

    Attributes:
        retry_after: seconds the provider asked to wait, when it said.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        status_code: int | None = 429,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, model=model, status_code=status_code, attempts=attempts)

    def fields(self) -> dict[str, Any]:
        """Return the keyword fields of this error, including ``retry_after``."""
        return {**super().fields(), "retry_after": self.retry_after}


class LLMTimeoutError(LLMError, TimeoutError):
    """Every attempt of the call exceeded the client's ``timeout_s``."""


class LLMUnavailableError(LLMError):
    """The provider answered 5xx, or could not be reached, on every attempt."""


class LLMResponseError(LLMError):
    """The provider answered, but the reply could not be read (malformed body, no text)."""


# -- errors of the planner itself ------------------------------------------------------


class PlannerClosedError(UsageError, RuntimeError):
    """``run()`` was called on a planner after ``aclose()``; build a new ``ReactPlanner``."""


class AgentStateError(UsageError, RuntimeError):
    """An ``Agent`` was used where it cannot run; the message says what to do instead."""


class RunStateError(UsageError, ValueError):
    """A :class:`~penguiflow.planner.RunState` cannot be continued by this version.

    Attributes:
        run_id: the run.
        version: the state's version.
        supported: the newest version this PenguiFlow understands.
    """

    def __init__(self, run_id: str, version: int, supported: int) -> None:
        self.run_id = run_id
        self.version = version
        self.supported = supported
        super().__init__(
            f"run {run_id!r} was saved with run state version {version}, newer than the "
            f"supported version {supported}; continue it with the PenguiFlow release that "
            "wrote it, or upgrade this one"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (RunStateError, (self.run_id, self.version, self.supported))


# -- human in the loop ------------------------------------------------------------------


class StateStoreRequiredError(ConfigError):
    """A run must pause for a human, but the planner has no ``state_store``.

    A pause token is only handed out once the run's state is durably stored, so pausing
    (a tool with ``requires_approval``, or ``await ctx.pause(...)``) needs
    ``ReactPlanner(state_store=SqlSessionStore(...))``.

    Attributes:
        tool: the tool that needed the pause.
    """

    def __init__(self, tool: str) -> None:
        self.tool = tool
        super().__init__(
            f"tool {tool!r} needs a human (approval or input), which pauses the run, but this "
            "ReactPlanner has no state_store that can keep pauses (a memory-only store "
            "cannot); pass "
            "ReactPlanner(state_store=SqlSessionStore('sqlite+aiosqlite:///agent.sqlite3')) "
            "(or a PostgreSQL URL when several processes resume runs; in tests and notebooks, "
            "penguiflow.state.InMemoryStateStore(), whose pauses are lost on restart)"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (StateStoreRequiredError, (self.tool,))


class PauseCommitError(RunError):
    """The run's state and its pause could not be committed, so no resume token exists.

    The run has failed: nothing was stored that a token could resume. The cause (for
    example a :class:`~penguiflow.sessions.StoreBackendError`) is chained.

    Attributes:
        run_id: the run that tried to pause.
        detail: what the store reported.
    """

    def __init__(self, run_id: str, detail: str) -> None:
        self.run_id = run_id
        self.detail = detail
        super().__init__(
            f"run {run_id!r} had to pause but committing its state failed ({detail}); no "
            "resume token was handed out and the run failed: check the session store and "
            "start the run again"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (PauseCommitError, (self.run_id, self.detail))


class ResumeDecisionError(UsageError, ValueError):
    """The decision given to ``planner.resume()`` does not fit the pause.

    Examples: edited arguments that fail the tool's schema, no decision for a pending
    call, an unknown call id, missing ``user_input``, or a tool that is not in this
    planner's catalog. Nothing ran, and the pause was released: it can be resumed again
    with the same token and a corrected decision.

    Attributes:
        pause_id: the pause.
        call_id: the pending call concerned, if any.
        tool: its tool, if any.
        problem: what is wrong and how to fix it.
    """

    def __init__(
        self, problem: str, *, pause_id: str, call_id: str | None = None, tool: str | None = None
    ) -> None:
        self.problem = problem
        self.pause_id = pause_id
        self.call_id = call_id
        self.tool = tool
        where = f" (call {call_id}, tool {tool!r})" if call_id else ""
        super().__init__(
            f"cannot resume pause {pause_id}{where}: {problem}; nothing ran and the pause "
            "is still pending: resume again with the same token and a corrected decision"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_decision_error,
            (self.problem, self.pause_id, self.call_id, self.tool),
        )


def _rebuild_decision_error(
    problem: str, pause_id: str, call_id: str | None, tool: str | None
) -> ResumeDecisionError:
    return ResumeDecisionError(problem, pause_id=pause_id, call_id=call_id, tool=tool)
