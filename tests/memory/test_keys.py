from __future__ import annotations

from types import SimpleNamespace

import pytest

from penguiflow.memory import MemoryIsolation, MemoryKey
from penguiflow.memory.errors import MemoryConfigError
from penguiflow.memory.keys import derive_memory_key, resolve_memory_key

STRICT = MemoryIsolation()
LOOSE = MemoryIsolation(require_explicit_key=False)


def test_key_validation_messages() -> None:
    with pytest.raises(MemoryConfigError, match=r"MemoryKey\.user_id: must be a non-empty string"):
        MemoryKey(tenant_id="t", user_id=" ", session_id="s")
    with pytest.raises(MemoryConfigError, match="control characters"):
        MemoryKey(tenant_id="t", user_id="u", session_id="a\nb")
    with pytest.raises(MemoryConfigError, match="at most 256"):
        MemoryKey(tenant_id="t" * 257, user_id="u", session_id="s")
    with pytest.raises(TypeError):
        MemoryKey("t", "u", "s")  # type: ignore[misc]


def test_key_is_hashable_value() -> None:
    a = MemoryKey(tenant_id="t", user_id="u", session_id="s")
    b = MemoryKey(tenant_id="t", user_id="u", session_id="s")
    assert a == b and hash(a) == hash(b)
    assert str(a) == "t/u/s"
    assert a != MemoryKey(tenant_id="t2", user_id="u", session_id="s")


def test_derive_from_flat_context() -> None:
    context = {"tenant_id": "acme", "user_id": "ada", "session_id": "chat-1", "other": 1}
    assert derive_memory_key(context, STRICT) == MemoryKey(
        tenant_id="acme", user_id="ada", session_id="chat-1"
    )


def test_derive_from_dotted_paths_and_objects() -> None:
    isolation = MemoryIsolation(
        tenant_key="auth.tenant", user_key="auth.user.id", session_key="conversation"
    )
    context = {
        "auth": {"tenant": "acme", "user": SimpleNamespace(id=42)},
        "conversation": "c-9",
    }
    key = derive_memory_key(context, isolation)
    assert key == MemoryKey(tenant_id="acme", user_id="42", session_id="c-9")


@pytest.mark.parametrize(
    "context",
    [
        None,
        {},
        {"tenant_id": "acme", "user_id": "ada"},
        {"tenant_id": "acme", "session_id": "s"},
        {"user_id": "ada", "session_id": "s"},
        {"tenant_id": "acme", "user_id": "", "session_id": "s"},
        {"tenant_id": "acme", "user_id": None, "session_id": "s"},
        {"tenant_id": "acme", "user_id": True, "session_id": "s"},
        {"tenant_id": ["acme"], "user_id": "ada", "session_id": "s"},
        {"tenant_id": "acme", "user_id": "ada", "session_id": {"id": "s"}},
    ],
)
def test_incomplete_context_fails_closed(context: dict[str, object] | None) -> None:
    assert derive_memory_key(context, STRICT) is None


def test_loose_isolation_defaults_tenant_and_user_but_needs_session() -> None:
    assert derive_memory_key({"session_id": "s"}, LOOSE) == MemoryKey(
        tenant_id="default", user_id="default", session_id="s"
    )
    assert derive_memory_key({"tenant_id": "acme", "user_id": "u"}, LOOSE) is None


def test_resolve_prefers_explicit_key() -> None:
    explicit = MemoryKey(tenant_id="a", user_id="b", session_id="c")
    context = {"tenant_id": "x", "user_id": "y", "session_id": "z"}
    assert resolve_memory_key(memory_key=explicit, tool_context=context, isolation=STRICT) == (
        explicit
    )
    from_dict = resolve_memory_key(
        memory_key={"tenant_id": "a", "user_id": "b", "session_id": "c"},
        tool_context=None,
        isolation=STRICT,
    )
    assert from_dict == explicit
    derived = resolve_memory_key(memory_key=None, tool_context=context, isolation=STRICT)
    assert derived == MemoryKey(tenant_id="x", user_id="y", session_id="z")
    assert resolve_memory_key(memory_key=None, tool_context={}, isolation=STRICT) is None


def test_resolve_rejects_bad_explicit_keys() -> None:
    with pytest.raises(MemoryConfigError, match="missing user_id, session_id"):
        resolve_memory_key(memory_key={"tenant_id": "a"}, tool_context=None, isolation=STRICT)
    with pytest.raises(MemoryConfigError, match="got str"):
        resolve_memory_key(memory_key="a/b/c", tool_context=None, isolation=STRICT)  # type: ignore[arg-type]
