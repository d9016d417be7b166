"""The carriers in the background for `runserver`: started once, stopped, reported."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from checker.services.carrier_daemon import BackgroundCarriers
from checker.services.layout import Layout


@pytest.fixture
def carriers(tmp_path) -> Iterator[BackgroundCarriers]:
    service = BackgroundCarriers(Layout(tmp_path / "home"))
    yield service
    service.stop()


def _quote(service: BackgroundCarriers) -> httpx.Response:
    transport = httpx.HTTPTransport(uds=str(service.socket))
    with httpx.Client(transport=transport, base_url="http://carriers") as client:
        return client.get(
            "/carriers/Parcelpost/quote", params={"price": "10", "city": "Oslo"}
        )


def test_started_it_answers_quotes_and_a_second_start_does_nothing(carriers):
    started = carriers.start()

    assert started == [
        f"Started the carriers' quote service on {carriers.socket} "
        f"(log: {carriers.log})."
    ]
    assert _quote(carriers).json()["carrier"] == "Parcelpost"
    assert carriers.status().running
    assert carriers.start() == []


def test_a_stale_socket_left_by_a_killed_service_is_replaced(carriers):
    carriers.socket.parent.mkdir(parents=True)
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(carriers.socket))

    carriers.start()

    assert _quote(carriers).status_code == 200


def test_stopped_it_no_longer_runs_and_its_socket_is_gone(carriers):
    carriers.start()

    assert carriers.stop() == ["Stopped the carriers' quote service."]
    assert not carriers.status().running
    assert not carriers.socket.exists()
    assert carriers.stop() == []
