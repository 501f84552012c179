"""OpenTelemetry traces and metrics for penguiflow (the ``otel`` extra).

::

    from penguiflow.telemetry import instrument

    instrument()  # the global tracer and meter providers; or pass your own

Spans follow the OpenTelemetry semantic conventions for generative AI: ``invoke_agent``
per planner run, ``chat`` per model request, ``execute_tool`` per tool call, plus a span
per runtime node execution, per pause and resume, and per queue job. Metrics:
``gen_ai.client.token.usage``, ``gen_ai.client.operation.duration``, run duration and
outcome, tool duration and errors, node queue depth and in-flight gauges, pending pauses
and worker jobs. See ``docs/observability.md``.

Needs ``pip install 'penguiflow[otel]'``.
"""

from __future__ import annotations

try:
    import opentelemetry.sdk  # noqa: F401  (the extra installs the SDK with the API)
    from opentelemetry import metrics, trace  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "penguiflow.telemetry needs OpenTelemetry: install the otel extra with "
        "`pip install 'penguiflow[otel]'`"
    ) from exc

from ._setup import Telemetry, installed, instrument, uninstrument

__all__ = ["Telemetry", "installed", "instrument", "uninstrument"]
