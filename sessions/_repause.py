"""Resolve a claimed pause and open the run's next pause in one transaction.

A resume may end in a new pause straight away (an approved tool asks for input, or the
join of a parallel step needs approval). Doing both in one transaction means there is
never a moment where the first pause is resolved but the second does not exist yet: a
crash leaves either the first pause claimed (and reclaimable after its lease) or the
second one pending with its token handed out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from ._codec import encode
from ._pauses import PausesMixin, pause_values
from ._rows import pause_from_row
from .models import PauseClaim, PauseStatus, PauseTicket, RunStatus

__all__ = ["RepauseMixin"]


class RepauseMixin(PausesMixin):
    """The ``repause`` operation of :class:`~penguiflow.sessions.SqlSessionStore`."""

    async def repause(
        self,
        claim: PauseClaim,
        *,
        outcome: Mapping[str, Any] | None = None,
        reason: str,
        payload: Mapping[str, Any] | None = None,
        pending_calls: Sequence[Mapping[str, Any]] = (),
        expires_at: datetime | timedelta | None = None,
        run_state: Mapping[str, Any],
        expected_run_version: int,
    ) -> PauseTicket:
        """Resolve the claimed pause and create the run's next pause, atomically.

        Equivalent to :meth:`complete_pause` followed by :meth:`create_pause`, in one
        transaction: if it fails, the claimed pause stays claimed and no new token exists.

        Args:
            claim: the claim returned by :meth:`claim_pause`.
            outcome: what to report to later resume attempts of the claimed pause.
            reason: why the run pauses again.
            payload: what the human needs to decide (plain JSON object).
            pending_calls: the calls the new pause waits on (plain JSON objects).
            expires_at: when the new pause expires (aware datetime, timedelta, or ``None``).
            run_state: the run's serialised state to resume from.
            expected_run_version: the run version ``run_state`` was derived from.

        Returns:
            The ticket of the new pause (its token is the only copy).

        Raises:
            PauseLeaseLost: the claim no longer holds the pause.
            StaleVersionError: the run was saved by someone else meanwhile.
            UnserializableRecordError: an argument is not plain JSON.
            StoreBackendError: the commit failed; nothing changed.
        """
        now = self._now()
        values = pause_values(reason, payload, pending_calls, expires_at, now)
        state_text = encode(dict(run_state), what="run state")
        outcome_text = encode(None if outcome is None else dict(outcome), what="pause outcome")
        run_id, tenant_id = claim.run.run_id, claim.pause.tenant_id
        async with self._transaction("repause", write=True) as conn:
            await self._update_claimed(
                conn,
                claim,
                status=PauseStatus.RESOLVED.value,
                outcome=outcome_text,
                resolved_at=now,
                lease_until=None,
            )
            version = await self._update_run(
                conn, run_id, tenant_id, state_text, RunStatus.PAUSED, expected_run_version, now
            )
            token, row = await self._insert_pause(conn, run_id, tenant_id, values, now)
        return PauseTicket(token=token, pause=pause_from_row(row, now=now), run_version=version)
