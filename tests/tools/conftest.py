import pytest
from toolsupport import HttpApi, McpHttpServer, demo_settings, oauth_module, openapi_module


@pytest.fixture(scope="session")
def streamable_server():
    server = McpHttpServer("streamable-http")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sse_server():
    server = McpHttpServer("sse")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def http_api():
    api = HttpApi()
    api.start()
    yield api
    api.stop()


@pytest.fixture
def demo_config():
    return demo_settings


@pytest.fixture(scope="session")
def pet_api():
    api = HttpApi(openapi_module.build_app())
    api.start()
    yield api
    api.stop()


@pytest.fixture(scope="session")
def oauth_provider():
    api = HttpApi(*oauth_module.build_app())
    api.start()
    yield api
    api.stop()
