"""Trusted tests of lesson 9: the shop deployed behind Gunicorn and Nginx.

The shop's own `shop_app/deploy/nginx.conf` and `gunicorn.conf.py` run in
its sandbox (`checker.harness.deployed`), with a relay between Nginx and
Gunicorn on the trusted side: a request counts as reaching Django only when
the relay forwarded it. Worker processes are counted in the operating
system's process table (psutil, on Linux and macOS alike), database
connections at the run's PostgreSQL proxy, answers read by the test's own
HTTP client.
"""

from __future__ import annotations

import email.utils
import itertools
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import httpx
import pytest

from checker.harness.deployed import Deployed, LoadResult, deployed, load_run
from checker.harness.run import ShopRun
from checker.harness.shop import Shop
from checker.services.stack import GUNICORN_CONFIG, NGINX_CONFIG
from checker.trusted.sites import shop_site

STATIC = "/static/admin/css/base.css"
PAGE = "/products/"
_FRESH = itertools.count()
# Django's own copy of that file, read on the trusted side.
STATIC_SOURCE = Path(django.__file__).parent / "contrib/admin/static/admin/css/base.css"
DAY_SECONDS = 86400
ACCEPTED_BYTES = 5 * 1000 * 1000
REFUSED_BYTES = 6 * 1024 * 1024
SERIAL_REQUESTS = 20
LOAD_REQUESTS = 120
LOAD_CONCURRENCY = 8
DEPLOY_SETTINGS = "shop_app/config/settings/deploy.py"


@pytest.fixture(scope="module")
def site(shop_run: ShopRun) -> Iterator[Deployed]:
    """Deploy the shop once for the module: Gunicorn, Nginx, the relay between."""
    with deployed(shop_run) as running:
        yield running


@pytest.fixture
def products(shop: Shop) -> list[dict[str, Any]]:
    """Give the pages a few products to show."""
    return list(shop.build("catalog_make", products=5, reviews_per_product=1))


def _reached(site: Deployed, mark: int, path: str) -> bool:
    """Say if a request for `path` passed the relay since `mark`."""
    if moved := site.relay.moved():
        raise AssertionError(
            f"The relay between Nginx and Gunicorn was tampered with while the"
            f" stack ran: {moved}. Nginx then reached something other than the"
            " course's relay, so nothing it answered can count."
        )
    return any(r.path.startswith(path) for r in site.relay.requests(mark))


def _fresh(path: str) -> str:
    """Return `path` with a query of its own, which no cache has answered yet."""
    return f"{path}?fresh={next(_FRESH)}"


def _relayed(site: Deployed, mark: int, label: str, path: str, answer: str) -> None:
    """Fail unless a request for `path` passed the relay since `mark`.

    Gunicorn listens only where the relay can reach it, so an answer that
    did not pass the relay came from something else: it cannot count.
    """
    if not _reached(site, mark, path):
        raise AssertionError(
            f"{label} answered {answer}, but the request never passed the"
            " course's relay between Nginx and Gunicorn, the only way to the"
            " shop (budget: the shop's pages reach Django through {{ upstream"
            " }}). Whatever answered, it was not the shop: pass every page to"
            " `proxy_pass http://shop;`, with `upstream shop { server {{"
            " upstream }}; }`."
        )


def _answer(response: httpx.Response) -> str:
    where = response.headers.get("location")
    return f"{response.status_code}" + (f" to {where}" if where else "")


def _not_secure(label: str, response: httpx.Response, root: str) -> str:
    """Explain a redirect loop: Django behind TLS that thinks it is on HTTP."""
    site = shop_site(root, NGINX_CONFIG, r"proxy_pass")
    return (
        f"{label} answered {_answer(response)}: Django did not see a secure"
        " request, so SECURE_SSL_REDIRECT sends the browser to the page it"
        " asked for, for ever. Nginx ends TLS and speaks plain HTTP to"
        f" Gunicorn; in {site} tell Django the scheme:"
        " `proxy_set_header X-Forwarded-Proto $scheme;` (the deploy"
        " settings' SECURE_PROXY_SSL_HEADER reads it)."
    )


def _cached_seconds(response: httpx.Response) -> int:
    """Return how long the answer may be cached, from Cache-Control or Expires."""
    found = re.search(r"max-age=(\d+)", response.headers.get("cache-control", ""))
    if found:
        return int(found.group(1))
    expires = response.headers.get("expires")
    if not expires:
        return 0
    try:
        return int(email.utils.parsedate_to_datetime(expires).timestamp() - time.time())
    except (TypeError, ValueError):
        return 0


@pytest.mark.exercise("09-nginx", budget="static")
def test_static_files_never_reach_django(site: Deployed, shop_run: ShopRun) -> None:
    label = f"GET https://localhost{STATIC}"
    mark = site.relay.mark()
    with site.client() as client:
        response = client.get(STATIC)
        # A page through the same Nginx must reach Django, or the relay's
        # silence about the static file proves nothing.
        page = client.get(_fresh(PAGE))
    _relayed(site, mark, f"GET https://localhost{PAGE}", PAGE, _answer(page))
    root = shop_run.plan.root
    where = shop_site(root, NGINX_CONFIG, r"location /static/|TODO\(lesson 9\): static")
    if _reached(site, mark, "/static/"):
        raise AssertionError(
            f"{label} reached Django, which answered {_answer(response)} (budget:"
            " Nginx serves every static file itself; the relay between Nginx"
            " and Gunicorn saw the request). Gunicorn's workers are few and"
            " slow next to Nginx reading a file. In"
            f" {where}, add `location /static/ {{ alias {{{{ static_root }}}};"
            " expires 1d; }`."
        )
    assert response.status_code == 200, (
        f"{label} answered {_answer(response)} from Nginx; expected 200 with the"
        " file collectstatic copied. Check the alias: it ends with a slash."
    )
    assert response.content == STATIC_SOURCE.read_bytes(), (
        f"{label} answered 200 but not with Django's admin/css/base.css."
    )
    seconds = _cached_seconds(response)
    assert seconds >= DAY_SECONDS, (
        f"{label} may be cached for {seconds} s (budget: at least a day,"
        " DAY_SECONDS=86400). Static files change only on a deploy: in"
        f" {where}, add `expires 1d;` (or longer with hashed file names)."
    )


@pytest.mark.exercise("09-nginx", budget="compressed")
def test_html_and_json_are_compressed(
    site: Deployed, shop_run: ShopRun, products: list[dict[str, Any]]
) -> None:
    root = shop_run.plan.root
    for path, kind in (("/products/", "HTML"), ("/api/products/", "JSON")):
        label = f"GET https://localhost{path}"
        mark = site.relay.mark()
        with site.client() as client:
            response = client.get(_fresh(path), headers={"accept-encoding": "gzip"})
        _relayed(site, mark, label, path, _answer(response))
        if response.status_code in (301, 302) and response.headers.get(
            "location", ""
        ).startswith(f"https://localhost{path}"):
            raise AssertionError(_not_secure(label, response, root))
        assert response.status_code == 200, (
            f"{label} answered {_answer(response)}; expected 200."
        )
        encoding = response.headers.get("content-encoding", "none")
        size = len(response.content)
        assert encoding == "gzip", (
            f"{label} sent {size:,} bytes of {kind} with Content-Encoding:"
            f" {encoding} (budget: gzip, for a client that accepts it). Text"
            f" shrinks several times over; in {shop_site(root, NGINX_CONFIG, 'server')}"
            " add `gzip on; gzip_proxied any; gzip_types application/json"
            " text/css application/javascript;` (text/html is always in)."
        )


@pytest.mark.exercise("09-nginx", budget="redirect")
def test_plain_http_is_redirected_by_nginx(site: Deployed, shop_run: ShopRun) -> None:
    path = "/products/?page=2"
    label = f"GET http://localhost{path}"
    mark = site.relay.mark()
    with site.client(https=False) as client:
        response = client.get(path)
    where = shop_site(shop_run.plan.root, NGINX_CONFIG, r"listen \{\{ http_listen")
    reached = _reached(site, mark, "/products/")
    # The same page over HTTPS must reach Django, or the relay's silence
    # about the plain request proves nothing.
    control = site.relay.mark()
    with site.client() as client:
        secure = client.get(path)
    _relayed(site, control, f"GET https://localhost{path}", path, _answer(secure))
    if reached:
        raise AssertionError(
            f"{label} reached Django, which answered {_answer(response)}"
            " (budget: Nginx redirects plain HTTP itself, and nothing of the"
            " shop is served over it). In the plain HTTP server block at"
            f" {where}, answer every request with"
            " `return 301 {{ https_origin }}$request_uri;`."
        )
    assert response.status_code in (301, 308), (
        f"{label} answered {_answer(response)}; expected 301 to"
        f" https://localhost{path}."
    )
    assert response.headers.get("location") == f"https://localhost{path}", (
        f"{label} redirected to {response.headers.get('location')}; expected"
        f" https://localhost{path}, the same page and query over HTTPS."
    )


@pytest.mark.exercise("09-nginx", budget="secure")
def test_behind_tls_django_sees_a_secure_request(
    site: Deployed, shop_run: ShopRun
) -> None:
    path = "/admin/login/"
    label = f"GET https://localhost{path}"
    mark = site.relay.mark()
    with site.client() as client:
        response = client.get(_fresh(path))
    _relayed(site, mark, label, path, _answer(response))
    if response.status_code != 200:
        raise AssertionError(_not_secure(label, response, shop_run.plan.root))
    hsts = response.headers.get("strict-transport-security", "")
    assert "max-age=" in hsts, (
        f"{label} sent no Strict-Transport-Security header: Django sends HSTS"
        " only on a request it sees as secure (SECURE_HSTS_SECONDS)."
    )
    cookies = response.headers.get_list("set-cookie")
    csrf = [c for c in cookies if c.startswith("csrftoken=")]
    assert csrf, f"{label} set no csrftoken cookie; the login form needs one."
    assert "secure" in csrf[0].lower(), (
        f"{label} set the CSRF cookie without Secure: {csrf[0].split(';')[0]}..."
        f" Set CSRF_COOKIE_SECURE = True in {DEPLOY_SETTINGS}."
    )


def _post(site: Deployed, size: int) -> tuple[int | str, bool]:
    """POST `size` bytes over HTTPS; return the status (or error) and if it got in."""
    mark = site.relay.mark()
    with site.client() as client:
        try:
            status: int | str = client.post(
                "/upload-probe/",
                content=b"\0" * size,
                headers={"content-type": "application/octet-stream"},
            ).status_code
        except httpx.HTTPError as error:
            status = type(error).__name__
    return status, _reached(site, mark, "/upload-probe/")


@pytest.mark.exercise("09-nginx", budget="upload")
def test_a_5_mb_upload_is_accepted_and_a_larger_one_refused_by_nginx(
    site: Deployed, shop_run: ShopRun
) -> None:
    where = shop_site(shop_run.plan.root, NGINX_CONFIG, r"ssl_certificate_key")
    status, reached = _post(site, ACCEPTED_BYTES)
    assert reached and status != 413, (
        f"POST https://localhost/upload-probe/ with {ACCEPTED_BYTES:,} bytes"
        f" answered {status} from Nginx and never reached Django (budget: an"
        " upload of 5 MB reaches the shop). Nginx refuses a body over"
        " client_max_body_size, 1 MB unless set: in the HTTPS server block"
        f" near {where}, add `client_max_body_size 5m;`."
    )
    status, reached = _post(site, REFUSED_BYTES)
    assert not reached and status == 413, (
        f"POST https://localhost/upload-probe/ with {REFUSED_BYTES:,} bytes"
        f" answered {status}{' from Django' if reached else ''} (budget: 413"
        " from Nginx, before a worker reads it). Keep client_max_body_size at"
        " 5m."
    )


def _cores() -> set[int]:
    counts = {os.cpu_count() or 1}
    if hasattr(os, "sched_getaffinity"):
        counts.add(len(os.sched_getaffinity(0)))
    return counts


@pytest.mark.exercise("09-gunicorn", budget="workers")
def test_the_worker_count_follows_the_cores(site: Deployed, shop_run: ShopRun) -> None:
    workers = len(site.stack.gunicorn_workers())
    expected = sorted(2 * cores + 1 for cores in _cores())
    if workers in expected:
        return
    cores = min(_cores())
    where = shop_site(shop_run.plan.root, GUNICORN_CONFIG, r"^workers")
    raise AssertionError(
        f"Gunicorn runs {workers} worker{'s' if workers != 1 else ''} on a machine"
        f" with {cores} cores (budget: {expected[0]}, 2 x cores + 1). A sync"
        " worker serves one request at a time and idles while PostgreSQL"
        f" answers. In {where}, compute it:"
        " `workers = 2 * multiprocessing.cpu_count() + 1`."
    )


@pytest.mark.exercise("09-gunicorn", budget="connections")
def test_database_connections_are_reused(
    site: Deployed, shop_run: ShopRun, products: list[dict[str, Any]]
) -> None:
    assert shop_run.proxy is not None
    workers = len(site.stack.gunicorn_workers())
    mark = shop_run.proxy.mark()
    # Straight to Gunicorn, saying the request came over TLS as Nginx would.
    with site.gunicorn() as client:
        for _ in range(SERIAL_REQUESTS):
            response = client.get("/products/", headers={"x-forwarded-proto": "https"})
            assert response.status_code == 200, (
                f"GET /products/ at Gunicorn answered {_answer(response)}."
            )
    opened = len({s.connection for s in shop_run.proxy.statements(mark)})
    where = shop_site(shop_run.plan.root, DEPLOY_SETTINGS, r"TODO\(lesson 9\)|CONN_")
    assert opened <= workers, (
        f"{SERIAL_REQUESTS} requests for GET /products/ opened {opened}"
        f" connections to PostgreSQL, counted at the run's database proxy"
        f" (budget: at most one per worker, {workers}). Django closes its"
        " connection at the end of each request unless told to keep it, and"
        " a new one costs a handshake and a server process. In"
        f" {where}, set DATABASES['default']['CONN_MAX_AGE'] (600, say) and"
        " CONN_HEALTH_CHECKS = True."
    )


def _load_verdict(
    site: Deployed, mark: int, label: str, result: LoadResult, expected: int
) -> None:
    # A micro-cache may answer most of them, but not one reaching the shop
    # means something else answered.
    _relayed(site, mark, label, "/products/", f"{result.statuses}")
    assert not result.errors and result.requests == expected, (
        f"{label}: {len(result.errors)} of {result.requests} requests failed"
        f" (budget: none): {'; '.join(sorted(set(result.errors))[:3])}."
    )


@pytest.mark.exercise("09-gunicorn", budget="load")
def test_a_bounded_load_through_nginx_completes_without_errors(
    site: Deployed, products: list[dict[str, Any]]
) -> None:
    mark = site.relay.mark()
    result = load_run(
        site.client,
        "/products/",
        requests=LOAD_REQUESTS,
        concurrency=LOAD_CONCURRENCY,
    )
    _load_verdict(
        site,
        mark,
        f"{LOAD_REQUESTS} GET /products/ through Nginx, {LOAD_CONCURRENCY} at once",
        result,
        LOAD_REQUESTS,
    )


@pytest.mark.exercise("09-gunicorn", budget="reload")
def test_a_graceful_reload_drops_no_request(
    site: Deployed, products: list[dict[str, Any]]
) -> None:
    before = set(site.stack.gunicorn_workers())
    mark = site.relay.mark()
    result = load_run(
        site.client,
        "/products/",
        requests=LOAD_REQUESTS,
        concurrency=LOAD_CONCURRENCY,
        midway=site.stack.reload,
    )
    _load_verdict(
        site,
        mark,
        f"{LOAD_REQUESTS} GET /products/ through Nginx while Gunicorn reloaded"
        " (SIGHUP)",
        result,
        LOAD_REQUESTS,
    )
    deadline = time.monotonic() + 10
    while set(site.stack.gunicorn_workers()) & before:
        assert time.monotonic() < deadline, (
            "Gunicorn still runs its old workers 10 s after SIGHUP: a reload"
            " replaces them once they finish their requests (graceful_timeout)."
        )
        time.sleep(0.1)


# What `manage.py check` prints for each issue: "?: (security.W012) ...".
_CHECK_ISSUE = re.compile(r"^\S*: \((\w+\.[CEW]\d+)\) (.*)$", re.MULTILINE)
_CHECK_DONE = re.compile(r"^System check identified (no issues|\d+ issues?)", re.M)
# The setting each of the deploy warnings a shop is likely to meet asks for.
_CHECK_FIX = {
    "security.W004": "SECURE_HSTS_SECONDS = 31536000",
    "security.W005": "SECURE_HSTS_INCLUDE_SUBDOMAINS = True",
    "security.W008": "SECURE_SSL_REDIRECT = True",
    "security.W009": "a long random SECRET_KEY from the environment",
    "security.W012": "SESSION_COOKIE_SECURE = True",
    "security.W016": "CSRF_COOKIE_SECURE = True",
    "security.W018": "DEBUG = False",
    "security.W020": "ALLOWED_HOSTS from the environment",
    "security.W021": "SECURE_HSTS_PRELOAD = True",
}


@pytest.mark.exercise("09-gunicorn", budget="check-deploy")
def test_check_deploy_finds_nothing(site: Deployed, shop_run: ShopRun) -> None:
    argv = [sys.executable, "shop_app/manage.py", "check", "--deploy"]
    label = "python shop_app/manage.py check --deploy, with the deploy settings"
    # The shop's process writes to a file only this side can open by name.
    with tempfile.TemporaryFile() as output:
        process = shop_run.spawn(argv, env=site.stack.environment(), output=output)
        try:
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
        output.seek(0)
        text = output.read(1 << 20).decode(errors="replace")
    issues = _CHECK_ISSUE.findall(text)
    where = shop_site(
        shop_run.plan.root, DEPLOY_SETTINGS, r"TODO\(lesson 9\): `manage", r"_SECURE ="
    )
    if not issues and (code != 0 or not _CHECK_DONE.search(text)):
        raise AssertionError(
            f"{label} did not finish its checks (exit status {code}):"
            f" {text[-1500:].strip() or 'it printed nothing'}"
        )
    if issues:
        named = "; ".join(
            f"{ident} ({_CHECK_FIX[ident]})" if ident in _CHECK_FIX else ident
            for ident, _ in issues
        )
        raise AssertionError(
            f"{label} reported {len(issues)} issue{'s' if len(issues) != 1 else ''}"
            f" (budget: none): {named}. Each names a setting Django wants on a"
            f" site served over HTTPS; set them in {where}. The first says:"
            f" {issues[0][1]}"
        )
    _deploy_settings_seen(site, where)


def _deploy_settings_seen(site: Deployed, where: str) -> None:
    """Fail unless the deployed shop answers as a clean `check --deploy` says.

    That report is text the shop's own process wrote; what the stack answers
    is the evidence. A shop whose settings hold what the warnings ask for
    shows no debug page and, on a request it sees as secure, sends full HSTS
    and a Secure CSRF cookie. (When it does not see one, the `secure` budget
    fails and says why; the headers cannot be seen then.)
    """
    mark = site.relay.mark()
    with site.client() as client:
        login = client.get(_fresh("/admin/login/"))
        missing = client.get(_fresh("/no-such-page/"))
    _relayed(
        site,
        mark,
        "GET https://localhost/admin/login/",
        "/admin/login/",
        _answer(login),
    )
    wanted = {"DEBUG = False": b"Using the URLconf" not in missing.content}
    hsts = login.headers.get("strict-transport-security", "")
    if login.status_code == 200:
        cookies = login.headers.get_list("set-cookie")
        csrf = [c for c in cookies if c.startswith("csrftoken=")]
        wanted |= {
            "SECURE_HSTS_SECONDS = 31536000": "max-age=" in hsts
            and "max-age=0" not in hsts,
            "SECURE_HSTS_INCLUDE_SUBDOMAINS = True": "includeSubDomains" in hsts,
            "SECURE_HSTS_PRELOAD = True": "preload" in hsts,
            "CSRF_COOKIE_SECURE = True": bool(csrf) and "secure" in csrf[0].lower(),
        }
    unmet = [setting for setting, seen in wanted.items() if not seen]
    assert not unmet, (
        "check --deploy reported no issue, yet the deployed shop answers as if"
        f" these were missing: {', '.join(unmet)} (Strict-Transport-Security:"
        f" {hsts or 'none'}). Set them in {where}, and silence no check."
    )
