"""Cheats on the budgets of lessons 3, 5 and 11, stopped by the trusted evidence.

Each shop is a scratch copy patched up to an exercise, with one cheat added:
the budget it aims at must still fail, because its number comes from the
kernel or from the servers, not from the shop's process.
"""

from __future__ import annotations

import pytest

from tests.lessons.conftest import graded_with_breaks

END = r"\Z"
# The export's memory measured by tracemalloc would read nothing.
TRACER_BLINDED = (
    "shop_app/orders/apps.py",
    END,
    "\nimport tracemalloc\ntracemalloc.stop()\n"
    "tracemalloc.start = lambda *args: None\n"
    "tracemalloc.get_traced_memory = lambda: (0, 0)\n",
)
# 300 MiB held from the start and let go when the second export begins, so
# the export's own objects take memory the process already had.
BALLAST = (
    "shop_app/orders/apps.py",
    END,
    "\nfrom django.core.signals import request_started\n"
    "_ballast = [bytearray(300 * 2**20)]\n"
    "_exports = []\n\n\n"
    "def _let_go(sender, environ, **kwargs):\n"
    "    if environ.get('PATH_INFO', '').endswith('.csv'):\n"
    "        _exports.append(1)\n"
    "        if len(_exports) == 2:\n"
    "            _ballast.clear()\n\n\n"
    "request_started.connect(_let_go, weak=False)\n",
)
# Celery runs every task inside the call that publishes it.
EAGER = (
    "shop_app/config/settings/base.py",
    END,
    "\nCELERY_TASK_ALWAYS_EAGER = True\n",
)
# The task is published, and its body run in the request as well.
INLINE_TOO = (
    "shop_app/customers/services.py",
    r"^(\s+)send_welcome_email\.delay_on_commit\(user\.pk\)(.*)$",
    r"\1send_welcome_email.delay_on_commit(user.pk)\2\n\1send_welcome_email(user.pk)",
)

# Each SKU lookup sends its statement again many times, in a shape the sku
# index answers in a few buffers: pg_stat_statements' mean a call drops.
DILUTED = (
    "shop_app/catalog/browsing.py",
    r'^(\s+)return found\.order_by\("sku"\)\[:LOOKUP_LIMIT\]$',
    r"\1for _ in range(40):\n"
    r"\1    list(Product.objects.filter(is_active=True, sku__istartswith='')"
    r".order_by('sku')[:1])\n"
    r"\1return found.order_by('sku')[:LOOKUP_LIMIT]",
)


def _budgets(tmp_path, grade, course, upto, exercise, cheat):
    graded = graded_with_breaks(tmp_path, grade, course, upto, [exercise], [cheat])
    return graded[exercise]


@pytest.mark.parametrize(
    ("cheat", "said"),
    [(TRACER_BLINDED, "peaked at"), (BALLAST, "the shop held")],
    ids=["tracer", "ballast"],
)
def test_the_naive_export_fails_its_memory_budget_whatever_its_process_hides(
    tmp_path, grade, course, cheat, said
):
    budgets = _budgets(
        tmp_path, grade, course, "02-category-page", "03-order-export", cheat
    )

    assert not budgets["memory"].passed
    assert said in budgets["memory"].message
    assert budgets["same-output"].passed


def test_a_shop_holding_nothing_back_passes_the_memory_budget(tmp_path, grade, course):
    budgets = _budgets(
        tmp_path,
        grade,
        course,
        "03-order-export",
        "03-order-export",
        ("shop_app/orders/apps.py", END, "\n"),
    )

    assert budgets["memory"].passed


@pytest.mark.parametrize("cheat", [EAGER, INLINE_TOO], ids=["eager", "inline-too"])
def test_a_welcome_email_sent_in_the_request_is_not_offloaded(
    tmp_path, grade, course, cheat
):
    budgets = _budgets(
        tmp_path, grade, course, "05-welcome-email", "05-welcome-email", cheat
    )

    assert not budgets["offloaded"].passed
    assert "sent the welcome email inside the request" in budgets["offloaded"].message


def test_cheap_calls_added_to_the_sku_lookup_do_not_hide_its_scan(
    tmp_path, grade, course
):
    budgets = _budgets(
        tmp_path, grade, course, "10-slow-queries", "11-missing-index", DILUTED
    )

    assert not budgets["buffers"].passed
    assert "run again with its own parameters, touched" in budgets["buffers"].message
