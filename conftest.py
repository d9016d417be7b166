"""Start the services the suite needs before pytest-django creates its database."""

import pytest

from checker.services import ServiceError, ensure_up


def pytest_configure(config: pytest.Config) -> None:
    try:
        ensure_up()
    except ServiceError as error:
        pytest.exit(f"{error}", returncode=3)
