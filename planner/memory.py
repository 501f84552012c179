"""``penguiflow.planner.memory``: the planner's short-term memory, by its documented names.

The memory itself lives in :mod:`penguiflow.memory`; this module gives it the names code
written for the planner imports:

============================  ===========================================================
name here                     what it is
============================  ===========================================================
``ShortTermMemoryConfig``     :class:`penguiflow.memory.ShortTermMemoryConfig`
``MemoryBudget``              :class:`penguiflow.memory.MemoryBudget`
``MemoryIsolation``           :class:`penguiflow.memory.MemoryIsolation`
``MemoryKey``                 :class:`penguiflow.memory.MemoryKey` (``key.composite()``)
``MemoryHealth``              :class:`penguiflow.memory.MemoryHealth`
``ConversationTurn``          :class:`penguiflow.memory.turns.Turn` (built with
                              ``user_message=``/``assistant_response=`` too)
``DefaultShortTermMemory``    :class:`penguiflow.memory.ShortTermMemory`
``MemoryBudgetExceeded``      :class:`penguiflow.memory.errors.MemoryBudgetError`
``default_token_estimator``   :func:`penguiflow.memory.tokens.estimate_tokens`
============================  ===========================================================
"""

from __future__ import annotations

from ..memory import (
    MemoryBudget,
    MemoryHealth,
    MemoryIsolation,
    MemoryKey,
    ShortTermMemory,
    ShortTermMemoryConfig,
)
from ..memory.errors import MemoryBudgetError
from ..memory.tokens import estimate_tokens
from ..memory.turns import Turn

__all__ = [
    "ConversationTurn",
    "DefaultShortTermMemory",
    "MemoryBudget",
    "MemoryBudgetExceeded",
    "MemoryHealth",
    "MemoryIsolation",
    "MemoryKey",
    "ShortTermMemory",
    "ShortTermMemoryConfig",
    "default_token_estimator",
]

ConversationTurn = Turn
"""One exchange of a conversation (``Turn``)."""

DefaultShortTermMemory = ShortTermMemory
"""The memory of one conversation (``ShortTermMemory``)."""

MemoryBudgetExceeded = MemoryBudgetError
"""Raised when the memory block is over budget with ``overflow_policy="error"``."""

default_token_estimator = estimate_tokens
"""Estimate the tokens of a text without a tokenizer."""
