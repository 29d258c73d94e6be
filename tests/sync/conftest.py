"""Sync fixtures: the Trello, HubSpot and Asana emulators with their connectors' API objects, and the deal → project
settings of a sync file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from passerelle.connectors.registry import get_source
from passerelle.connectors.run import retry_settings
from passerelle.sync.config import DealToProject, load_sync_config
from tests.connectors.helpers import source_config


def quiet(sandbox: Any, vendor: str) -> Any:
    """The emulator's control client with its rate limits off (a test that wants them turns them on)."""
    control = sandbox.vendors[vendor].control
    control.config(enforce_rate_limits=False)
    return control


def connector_api(sandbox: Any, vendor: str, **extra: Any) -> Any:
    """The connector's API object on the emulator: what the sync writes through, as the extract reads
    (``extra``: Connection extras, e.g. a request budget no test session exhausts)."""
    source = get_source(vendor)
    config = source_config(sandbox, vendor, **extra)
    return source.connect(config, retry_settings(source, config))


@pytest.fixture
def trello(sandbox: Any) -> Any:
    return quiet(sandbox, "trello")


@pytest.fixture
def trello_api(sandbox: Any, trello: Any) -> Any:
    return connector_api(sandbox, "trello")


@pytest.fixture
def hubspot(sandbox: Any) -> Any:
    return quiet(sandbox, "hubspot")


@pytest.fixture
def hubspot_api(sandbox: Any, hubspot: Any) -> Any:
    return connector_api(sandbox, "hubspot")


@pytest.fixture
def asana(sandbox: Any) -> Any:
    return quiet(sandbox, "asana")


@pytest.fixture
def session(sandbox: Any, asana: Any) -> Any:
    """The Asana connector's session (API object and Connection settings)."""
    return connector_api(sandbox, "asana")


@pytest.fixture
def deal_config(sync_file: Callable[..., Path]) -> Callable[..., DealToProject]:
    def load(**kwargs: Any) -> DealToProject:
        config = load_sync_config(sync_file(**kwargs)).deal_to_project
        assert config is not None
        return config
    return load
