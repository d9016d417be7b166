"""Lesson 10's error reporting fails when one piece of the reference fix is out."""

from __future__ import annotations

import pytest

from tests.lessons.conftest import graded_with_breaks

# Events still go out, but nothing scrubs the addresses the shop puts in them.
BREAKS = [
    ("shop_app/config/errors.py", r"^\s+before_send=event_scrub,\n", ""),
    ("shop_app/config/errors.py", r"^\s+before_send_transaction=event_scrub,\n", ""),
]


@pytest.fixture(scope="module")
def unscrubbed(tmp_path_factory, grade, course):
    root = tmp_path_factory.mktemp("lesson-10-unscrubbed")
    return graded_with_breaks(
        root, grade, course, "10-error-reporting", ["10-error-reporting"], BREAKS
    )


def test_events_without_a_scrubber_carry_the_customers_email(unscrubbed):
    errors = unscrubbed["10-error-reporting"]

    assert errors["view-error"].passed
    assert errors["task-error"].passed
    assert not errors["personal-data"].passed
    assert "carries the customer's email address in" in errors["personal-data"].message
    assert ".stacktrace.frames[" in errors["personal-data"].message
    assert ".vars.email" in errors["personal-data"].message
    assert "shop_app/config/errors.py:" in errors["personal-data"].message
    assert "errors.py:3)" not in errors["personal-data"].message
    assert "before_send" in errors["personal-data"].message
