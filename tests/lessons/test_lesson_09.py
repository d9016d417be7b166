"""Lesson 9's budgets fail when one piece of the reference fix is taken out."""

from __future__ import annotations

import pytest

from tests.lessons.conftest import graded_with_breaks

NGINX = "shop_app/deploy/nginx.conf"
GUNICORN = "shop_app/deploy/gunicorn.conf.py"
DEPLOY = "shop_app/config/settings/deploy.py"
CHOSEN = ["09-nginx", "09-gunicorn"]

# Nginx serves no static files, compresses nothing and takes any upload;
# Gunicorn runs one worker; HSTS leaves out preloading, with its warning
# silenced so that `check --deploy` reports nothing.
# The other budgets keep their fix.
SERVED_BY_DJANGO = [
    (NGINX, r"    location /static/ \{\n(.*\n)*?    \}\n", ""),
    (NGINX, r"^    gzip on;\n", ""),
    (NGINX, r"client_max_body_size 5m;", "client_max_body_size 100m;"),
    (GUNICORN, r"^workers = .*$", "workers = 1"),
    (
        DEPLOY,
        r"^SECURE_HSTS_PRELOAD = True\n",
        'SILENCED_SYSTEM_CHECKS = ["security.W021"]\n',
    ),
]
# Django is not told about TLS, plain HTTP goes to the shop, and the database
# connection closes after each request.
UNTOLD = [
    (NGINX, r"^ +proxy_set_header X-Forwarded-Proto \$scheme;\n", ""),
    (
        NGINX,
        r"return 301 \{\{ https_origin \}\}\$request_uri;",
        "proxy_pass http://shop;",
    ),
    (DEPLOY, r'^DATABASES\["default"\]\["CONN_MAX_AGE"\] = 600\n', ""),
]


@pytest.fixture(scope="module")
def served_by_django(tmp_path_factory, grade, course):
    root = tmp_path_factory.mktemp("lesson-09-served")
    return graded_with_breaks(
        root, grade, course, "09-gunicorn", CHOSEN, SERVED_BY_DJANGO
    )


@pytest.fixture(scope="module")
def untold(tmp_path_factory, grade, course):
    root = tmp_path_factory.mktemp("lesson-09-untold")
    return graded_with_breaks(root, grade, course, "09-gunicorn", CHOSEN, UNTOLD)


def test_static_files_without_a_location_reach_django(served_by_django):
    static = served_by_django["09-nginx"]["static"]

    assert not static.passed
    assert "base.css reached Django" in static.message


def test_pages_without_gzip_are_sent_uncompressed(served_by_django):
    compressed = served_by_django["09-nginx"]["compressed"]

    assert not compressed.passed
    assert "with Content-Encoding: none (budget: gzip" in compressed.message


def test_a_body_limit_above_5_mb_lets_a_larger_upload_reach_django(served_by_django):
    upload = served_by_django["09-nginx"]["upload"]

    assert not upload.passed
    assert "6,291,456 bytes answered" in upload.message
    assert "from Django (budget: 413 from Nginx" in upload.message


def test_one_worker_is_named_against_the_cores(served_by_django):
    gunicorn = served_by_django["09-gunicorn"]

    assert not gunicorn["workers"].passed
    assert "Gunicorn runs 1 worker on a machine with" in gunicorn["workers"].message
    assert gunicorn["connections"].passed


def test_a_silenced_warning_is_caught_at_the_deployed_stack(served_by_django):
    check = served_by_django["09-gunicorn"]["check-deploy"]

    assert not check.passed
    assert check.message.startswith(
        "check --deploy reported no issue, yet the deployed shop answers as if"
        " these were missing: SECURE_HSTS_PRELOAD = True (Strict-Transport-Security:"
        " max-age=31536000; includeSubDomains). Set them in"
        " shop_app/config/settings/deploy.py:"
    )


def test_the_budgets_whose_fix_stays_pass_with_those_pieces_out(served_by_django):
    nginx = served_by_django["09-nginx"]

    assert nginx["redirect"].passed
    assert nginx["secure"].passed


def test_without_the_forwarded_scheme_django_redirects_to_itself(untold):
    nginx = untold["09-nginx"]

    assert not nginx["secure"].passed
    assert "Django did not see a secure request" in nginx["secure"].message
    assert nginx["static"].passed
    assert nginx["upload"].passed


def test_plain_http_passed_to_the_shop_is_named(untold):
    redirect = untold["09-nginx"]["redirect"]

    assert not redirect.passed
    assert "?page=2 reached Django, which answered" in redirect.message


def test_connections_closed_after_each_request_are_counted(untold):
    gunicorn = untold["09-gunicorn"]

    assert not gunicorn["connections"].passed
    assert "opened 20 connections to PostgreSQL" in gunicorn["connections"].message
    assert gunicorn["workers"].passed
    assert gunicorn["check-deploy"].passed
    assert gunicorn["load"].passed
    assert gunicorn["reload"].passed
