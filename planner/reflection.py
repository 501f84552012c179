"""Reflection: the model critiques a draft answer against criteria, then revises it.

With ``ReactPlanner(reflection_config=ReflectionConfig(enabled=True))``, every answer is
sent back to the model (or to ``reflection_llm``) with the query, what the tools
returned and the criteria; the model scores it. An answer that scores below
``quality_threshold`` is revised with the critique's feedback and critiqued again, at
most ``max_revisions`` times. Each critique is reported as a ``reflection_critique``
event, and the last one in ``PlannerFinish.metadata["reflection"]``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ReflectionConfig", "ReflectionCriteria", "ReflectionCritique"]


class ReflectionCriteria(BaseModel):
    """What a critique checks, in the words shown to the model.

    Attributes:
        completeness: the answer addresses every part of the query.
        accuracy: the answer agrees with what the tools returned.
        clarity: the answer is clear and coherent.
    """

    model_config = ConfigDict(extra="forbid")

    completeness: str = "Addresses all parts of the query"
    accuracy: str = "Factually correct based on the tool observations"
    clarity: str = "Well-explained and coherent"


class ReflectionCritique(BaseModel):
    """The model's verdict on a draft answer.

    Attributes:
        score: the answer's quality, from 0 to 1.
        passed: whether the answer is good enough as it is.
        feedback: what to improve.
        issues: the problems found.
        suggestions: how to fix them.
    """

    model_config = ConfigDict(extra="ignore")

    score: float = Field(ge=0.0, le=1.0)
    passed: bool
    feedback: str = ""
    issues: list[str] = Field(default_factory=list)
    suggestions: list[str] = Field(default_factory=list)


class ReflectionConfig(BaseModel):
    """Whether and how answers are critiqued and revised before a run finishes.

    Attributes:
        enabled: critique every answer (off by default).
        criteria: what the critique checks.
        quality_threshold: an answer scoring at least this passes (0 to 1).
        max_revisions: the most revisions of one answer (1 to 10); the last revision is
            the answer even if it still scores below the threshold.
        use_separate_llm: critique with ``ReactPlanner(reflection_llm=...)`` instead of
            the planner's own model (revisions always use the planner's model).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    criteria: ReflectionCriteria = Field(default_factory=ReflectionCriteria)
    quality_threshold: float = Field(default=0.80, ge=0.0, le=1.0)
    max_revisions: int = Field(default=2, ge=1, le=10)
    use_separate_llm: bool = False
