"""OpenAPI 3 import against a real starlette API that serves its own document."""

import json
import logging

import pytest
from toolsupport import openapi_module

from penguiflow.tools import ExternalToolConfig, ToolNode
from penguiflow.tools.errors import (
    ToolArgumentsError,
    ToolClientError,
    ToolConfigError,
    ToolNotAllowedError,
    ToolResponseError,
)
from penguiflow.tools.openapi import load_openapi, operations_from_openapi

API_KEY = openapi_module.API_KEY


def pets_config(api, **overrides):
    cfg = {
        "name": "pets",
        "transport": "http",
        "base_url": f"{api.url}/v1",
        "openapi": f"{api.url}/openapi.json",
        "allow": ["listPets", "createPet", "showPet", "replaceTags", "createTree", "upload"],
        "auth": {"type": "api_key", "key": "${PF_TEST_PETS_KEY}", "name": "X-API-Key"},
        "retry": {"attempts": 1},
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture(autouse=True)
def pets_key(monkeypatch):
    monkeypatch.setenv("PF_TEST_PETS_KEY", API_KEY)


async def test_document_from_url_becomes_allowed_tools(pet_api, caplog):
    caplog.set_level(logging.WARNING, "penguiflow.tools.openapi")
    async with ToolNode(pets_config(pet_api)) as tn:
        names = sorted(s.name for s in tn.specs)
        # deletePet is not allowlisted; upload needs a text/plain body and is skipped.
        assert names == [
            "pets.createPet",
            "pets.createTree",
            "pets.listPets",
            "pets.replaceTags",
            "pets.showPet",
        ]
        assert "upload" in caplog.text and "not JSON" in caplog.text
        with pytest.raises(ToolNotAllowedError):
            await tn.call("deletePet", {"petId": 1})
        show = next(s for s in tn.specs if s.name == "pets.showPet")
        assert show.desc == "One pet by id" and show.side_effects == "read"
        assert show.args_schema["required"] == ["petId"]


async def test_query_header_and_path_parameters(pet_api):
    async with ToolNode(pets_config(pet_api)) as tn:
        result = await tn.call("listPets", {"limit": 5, "tag": "cat", "X-Trace-Id": "t-1"})
        assert result.structured["query"] == {"limit": "5", "tag": "cat"}
        assert result.structured["trace"] == "t-1"
        assert result.structured["cookie"] is None  # cookie parameters are never sent
        with pytest.raises(ToolArgumentsError, match="limit"):
            await tn.call("listPets", {"limit": 1000})
        with pytest.raises(ToolArgumentsError, match="tag"):
            await tn.call("listPets", {"tag": "parrot"})
        with pytest.raises(ToolArgumentsError, match="Additional properties"):
            await tn.call("listPets", {"session": "abc"})
        with pytest.raises(ToolArgumentsError, match="line breaks"):
            await tn.call("listPets", {"X-Trace-Id": "a\r\nX-Evil: 1"})


async def test_flattened_json_body_with_refs_nullable_and_read_only(pet_api):
    async with ToolNode(pets_config(pet_api)) as tn:
        spec = next(s for s in tn.specs if s.name == "pets.createPet")
        props = spec.args_schema["properties"]
        assert set(props) == {"name", "nickname", "owner"}  # readOnly id dropped
        assert spec.args_schema["required"] == ["name"]
        assert props["nickname"]["type"] == ["string", "null"]
        created = await tn.call(
            "createPet", {"name": "Rex", "nickname": None, "owner": {"email": "a@b.c"}}
        )
        assert created.status == 201
        assert created.structured == {
            "id": created.structured["id"],
            "name": "Rex",
            "nickname": None,
            "owner": {"email": "a@b.c"},
        }
        with pytest.raises(ToolArgumentsError, match="email"):
            await tn.call("createPet", {"name": "Rex", "owner": {}})
        shown = await tn.call("showPet", {"petId": created.structured["id"]})
        assert shown.structured["name"] == "Rex"
        with pytest.raises(ToolArgumentsError):
            await tn.call("showPet", {"petId": "../admin"})
        with pytest.raises(ToolClientError) as info:
            await tn.call("showPet", {"petId": 999_999})
        assert info.value.status == 404 and not info.value.retryable


async def test_array_body_and_recursive_schema(pet_api):
    async with ToolNode(pets_config(pet_api)) as tn:
        tags = await tn.call("replaceTags", {"petId": 7, "body": ["a", "b"]})
        assert tags.structured == {"pet": 7, "tags": ["a", "b"]}
        tree = {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]}
        assert (await tn.call("createTree", tree)).structured == {"nodes": 3}
        with pytest.raises(ToolArgumentsError, match="children"):
            await tn.call("createTree", {"value": 1, "children": [{"value": "x"}]})


async def test_requests_stay_on_base_url_and_size_limits(pet_api):
    cfg = pets_config(pet_api, allow=["redirectAway", "huge", "whoAmI"], max_response_bytes=10_000)
    async with ToolNode(cfg) as tn:
        with pytest.raises(ToolClientError, match="redirect"):
            await tn.call("redirectAway", {})
        with pytest.raises(ToolResponseError, match="max_response_bytes"):
            await tn.call("huge", {})
        # One pooled client: sequential calls reuse the same connection.
        ports = {(await tn.call("whoAmI", {})).structured["port"] for _ in range(5)}
        assert len(ports) == 1


async def test_document_from_dict_and_file(pet_api, tmp_path):
    doc = openapi_module.document()
    path = tmp_path / "pets.json"
    path.write_text(json.dumps(doc))
    for source in (doc, str(path)):
        async with ToolNode(pets_config(pet_api, openapi=source, allow=["showPet"])) as tn:
            assert [s.name for s in tn.specs] == ["pets.showPet"]


async def test_bad_documents_are_config_errors(pet_api, tmp_path):
    bad = tmp_path / "swagger.json"
    bad.write_text(json.dumps({"swagger": "2.0", "paths": {}}))
    cases = [
        (str(bad), "OpenAPI 3"),
        (str(tmp_path / "missing.json"), "cannot read"),
        (f"{pet_api.url}/openapi-moved.json", "redirects are not followed"),
        (f"{pet_api.url}/openapi.json", "max_openapi_bytes"),
    ]
    for source, message in cases:
        extra = {"max_openapi_bytes": 100} if message == "max_openapi_bytes" else {}
        tn = ToolNode(pets_config(pet_api, openapi=source, **extra))
        with pytest.raises(ToolConfigError, match=message):
            await tn.connect()
        await tn.close()


def test_config_needs_operations_or_openapi():
    with pytest.raises(ToolConfigError, match="openapi"):
        ExternalToolConfig.from_dict(
            {"name": "x", "transport": "http", "base_url": "http://127.0.0.1:1", "allow": ["*"]}
        )
    with pytest.raises(ToolConfigError, match="reserved"):
        ExternalToolConfig.from_dict(
            {
                "name": "x",
                "transport": "http",
                "base_url": "http://127.0.0.1:1",
                "operations": [{"name": "a", "path": "/a", "header_params": ["Authorization"]}],
            }
        )


def test_conversion_details():
    doc = {
        "openapi": "3.0.0",
        "paths": {
            "/items/{item-id}": {"get": {"operationId": "bad path param"}},
            "/things": {
                "get": {
                    "operationId": "list.things",
                    "parameters": [
                        {
                            "name": "min",
                            "in": "query",
                            "schema": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                        },
                        {"name": "Authorization", "in": "header", "schema": {"type": "string"}},
                    ],
                },
                "delete": {
                    "operationId": "purge",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "properties": {"all": {}}}
                            }
                        }
                    },
                },
            },
        },
    }
    ops = {op.name: op for op in operations_from_openapi(load_openapi(doc, max_bytes=10**6))}
    assert set(ops) == {"list_things", "purge"}  # the bad path parameter is skipped
    things = ops["list_things"]
    assert things.args_schema["properties"] == {"min": {"type": "number", "exclusiveMinimum": 0}}
    assert things.query == ("min",) and things.header_params == ()
    assert ops["purge"].body_param == "body"  # DELETE: the body is one argument
    only = operations_from_openapi(doc, select=lambda name: name == "purge")
    assert [op.name for op in only] == ["purge"]
