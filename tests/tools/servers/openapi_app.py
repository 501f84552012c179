"""A starlette pet-store API that serves its own OpenAPI 3.0 document at /openapi.json."""

from __future__ import annotations

import itertools

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

API_KEY = "pet-store-api-key-123456"


def document() -> dict:
    pet_id = {"name": "petId", "in": "path", "required": True, "schema": {"type": "integer"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Pets", "version": "1"},
        # Never used: requests go to the configured base_url only.
        "servers": [{"url": "http://evil.invalid/v1"}],
        "paths": {
            "/pets": {
                "get": {
                    "operationId": "listPets",
                    "summary": "List pets",
                    "parameters": [
                        {"$ref": "#/components/parameters/Limit"},
                        {
                            "name": "tag",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["cat", "dog"]},
                        },
                        {"name": "X-Trace-Id", "in": "header", "schema": {"type": "string"}},
                        {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                    ],
                },
                "post": {
                    "operationId": "createPet",
                    "summary": "Create a pet",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                        },
                    },
                },
            },
            "/pets/{petId}": {
                "parameters": [pet_id],
                "get": {"operationId": "showPet", "description": "One pet by id."},
                "delete": {"operationId": "deletePet"},
            },
            "/pets/{petId}/tags": {
                "put": {
                    "operationId": "replaceTags",
                    "parameters": [pet_id],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": {"type": "string"}}
                            }
                        }
                    },
                }
            },
            "/trees": {
                "post": {
                    "operationId": "createTree",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Tree"}}
                        },
                    },
                }
            },
            "/upload": {
                "post": {
                    "operationId": "upload",
                    "requestBody": {
                        "required": True,
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                }
            },
            "/redirect": {"get": {"operationId": "redirectAway"}},
            "/huge": {"get": {"operationId": "huge"}},
            "/conn": {"get": {"operationId": "whoAmI"}},
            "/anonymous": {"get": {"summary": "no operationId: never imported"}},
        },
        "components": {
            "parameters": {
                "Limit": {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                }
            },
            "schemas": {
                "Pet": {
                    "type": "object",
                    "required": ["name", "id"],
                    "properties": {
                        "id": {"type": "integer", "readOnly": True},
                        "name": {"type": "string"},
                        "nickname": {"type": "string", "nullable": True},
                        "owner": {"$ref": "#/components/schemas/Owner"},
                    },
                },
                "Owner": {
                    "type": "object",
                    "required": ["email"],
                    "properties": {"email": {"type": "string"}},
                },
                "Tree": {
                    "type": "object",
                    "required": ["value"],
                    "properties": {
                        "value": {"type": "integer"},
                        "children": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Tree"},
                        },
                    },
                },
            },
        },
    }


class _PetStore:
    """The pets API's state and the handlers that use it."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.pets: dict[int, dict] = {}

    def authorised(self, request: Request) -> bool:
        return request.headers.get("x-api-key") == API_KEY

    async def list_pets(self, request: Request) -> Response:
        if not self.authorised(request):
            return JSONResponse({"error": "no key"}, 401)
        return JSONResponse(
            {
                "query": dict(request.query_params),
                "trace": request.headers.get("x-trace-id"),
                "cookie": request.headers.get("cookie"),
                "pets": list(self.pets.values()),
            }
        )

    async def create_pet(self, request: Request) -> Response:
        body = await request.json()
        pet = {"id": next(self.ids), **body}
        self.pets[pet["id"]] = pet
        return JSONResponse(pet, 201)

    async def pet(self, request: Request) -> Response:
        pet_id = int(request.path_params["pet_id"])
        if request.method == "DELETE":
            self.pets.pop(pet_id, None)
            return Response(status_code=204)
        if pet_id not in self.pets:
            return JSONResponse({"error": "no such pet"}, 404)
        return JSONResponse(self.pets[pet_id])


async def openapi(request: Request) -> Response:
    return JSONResponse(document())


async def openapi_moved(request: Request) -> Response:
    return RedirectResponse("http://127.0.0.2:9/openapi.json", 302)


async def tags(request: Request) -> Response:
    return JSONResponse({"pet": int(request.path_params["pet_id"]), "tags": await request.json()})


async def trees(request: Request) -> Response:
    def count(node: dict) -> int:
        return 1 + sum(count(c) for c in node.get("children", []))

    return JSONResponse({"nodes": count(await request.json())})


async def redirect(request: Request) -> Response:
    return RedirectResponse("http://127.0.0.2:9/stolen", 307)


async def huge(request: Request) -> Response:
    return PlainTextResponse("x" * 50_000)


async def conn(request: Request) -> Response:
    client = request.scope.get("client") or ("?", 0)
    return JSONResponse({"port": client[1]})


def build_app() -> Starlette:
    store = _PetStore()
    routes = [
        Route("/openapi.json", openapi),
        Route("/openapi-moved.json", openapi_moved),
        Route("/v1/pets", store.list_pets, methods=["GET"]),
        Route("/v1/pets", store.create_pet, methods=["POST"]),
        Route("/v1/pets/{pet_id:int}", store.pet, methods=["GET", "DELETE"]),
        Route("/v1/pets/{pet_id:int}/tags", tags, methods=["PUT"]),
        Route("/v1/trees", trees, methods=["POST"]),
        Route("/v1/redirect", redirect),
        Route("/v1/huge", huge),
        Route("/v1/conn", conn),
    ]
    return Starlette(routes=routes)
