"""Serve the trusted side's commands inside the shop under test.

Started by the harness as `python -m checker.harness.agent`, with the channel's
file descriptor in COURSE_AGENT_FD and the shop on the Python path. It runs
requests through Django's test client (so signals, `on_commit` and the
session behave as in the shop), data builders and ORM writes, and reports what
the in-shop recorder saw: the file:line, template line and relation of every
query. It decides no verdict: every number that earns a point is counted by
the trusted side from the servers, and this process may be the submission's
to rewrite.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import os
import socket
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from checker.harness.channel import ChannelClosed, message_read, message_write

__all__ = ["main"]

# Builders a command may call by name: the trusted side never sends code.
BUILDERS = "checker.harness.shop_data"
_REF = "__ref__"
# A form field sent as {"__upload__": name, "content_type": ..., "content":
# base64}: the trusted side's JSON cannot carry a file to upload.
_UPLOAD = "__upload__"


def _ref(value: Any) -> Any:
    """Turn model instances into references the trusted side can send back."""
    from django.db.models import Model

    if isinstance(value, Model):
        ref: dict[str, Any] = {_REF: value._meta.label, "pk": value.pk}
        for name in ("slug", "username"):
            if hasattr(value, name):
                ref[name] = getattr(value, name)
        url = getattr(value, "get_absolute_url", None)
        if callable(url):
            ref["url"] = url()
        return ref
    if isinstance(value, list | tuple):
        return [_ref(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _ref(item) for key, item in value.items()}
    return value


def _deref(value: Any) -> Any:
    """Turn references back into model instances, fetched fresh."""
    from django.apps import apps

    if isinstance(value, dict) and _REF in value:
        return apps.get_model(value[_REF])._default_manager.get(pk=value["pk"])
    if isinstance(value, list):
        return [_deref(item) for item in value]
    if isinstance(value, dict):
        return {key: _deref(item) for key, item in value.items()}
    return value


def _form(data: Any) -> Any:
    """Turn the uploads among a request's fields into files to post."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    if not isinstance(data, dict):
        return data
    return {
        key: SimpleUploadedFile(
            str(value[_UPLOAD]),
            base64.b64decode(value["content"]),
            str(value.get("content_type") or "application/octet-stream"),
        )
        if isinstance(value, dict) and _UPLOAD in value
        else value
        for key, value in data.items()
    }


@contextmanager
def _places_recorded(project: Any, places: dict[str, Any]) -> Iterator[None]:
    """Name the project lines that saved each file and published each task.

    Only places, for a diagnosis: what was saved and published is read by
    the trusted side from the media folder and the broker.
    """
    from celery import signals
    from django.core.files.storage import Storage

    places.clear()
    places.update(saved=[], published=[])
    original = Storage.save

    def chain(frame: Any) -> list[str]:
        return list(reversed(project.lines_on_stack(frame)))

    def save(storage: Storage, name: str | None, *args: Any, **kwargs: Any) -> str:
        saved = original(storage, name, *args, **kwargs)
        places["saved"].append({"name": saved, "places": chain(sys._getframe(1))})
        return saved

    def publish(sender: Any = None, headers: Any = None, **_: Any) -> None:
        task_id = (headers or {}).get("id")
        where = chain(sys._getframe(1))
        places["published"].append({"task": sender, "id": task_id, "places": where})

    Storage.save = save  # type: ignore[method-assign,assignment]
    signals.before_task_publish.connect(publish, weak=False)
    try:
        yield
    finally:
        Storage.save = original  # type: ignore[method-assign]
        signals.before_task_publish.disconnect(publish)


class Agent:
    """One shop process's answers to the trusted side."""

    def __init__(self) -> None:
        self.project = _shop_code()
        self._clients: dict[str, Any] = {}
        self._prepared: dict[str, Any] = {}
        self._places: dict[str, Any] = {}

    def _client(self, user: str | None) -> Any:
        from django.test import Client

        if user is None:
            return self._clients.setdefault("", Client())
        if user not in self._clients:
            raise LookupError(f"no client logged in as {user!r}")
        return self._clients[user]

    def op_login(self, *, user: str) -> None:
        """Log a client in, apart from any request the trusted side counts."""
        from django.contrib.auth import get_user_model
        from django.test import Client

        client = Client()
        client.force_login(get_user_model().objects.get(username=user))
        self._clients[user] = client

    def op_prepare(self, *, kwargs: dict[str, Any]) -> None:
        """Fetch the instances a later `invoke` takes, before it is counted."""
        self._prepared = _deref(kwargs)

    def op_request(
        self,
        *,
        method: str,
        path: str,
        user: str | None = None,
        data: Any = None,
        label: str = "",
        cache: bool = False,
    ) -> dict[str, Any]:
        """Run one request through the test client and report what it did.

        With `cache`, the in-shop cache recorder names each operation's key
        family and line; the trusted side counts hits from Redis itself.
        """
        from checker.measure import measure

        client = self._client(user)
        call: Callable[..., Any] = getattr(client, method.lower())
        with (
            measure(
                label or f"{method} {path}",
                project=self.project,
                cache=cache,
                # Redis's own counters are read by the trusted side; the shop's
                # user may not run INFO.
                cross_check=False,
                tasks=False,
                memory=False,
            ) as measurement,
            _places_recorded(self.project, self._places),
        ):
            response = call(path, _form(data)) if data is not None else call(path)
            if getattr(response, "streaming", False):
                body = b"".join(response.streaming_content)
            else:
                body = response.content
        return {
            "status": response.status_code,
            "headers": dict(response.items()),
            "body": base64.b64encode(body).decode(),
            "queries": [_query(query) for query in measurement.queries],
            "cache": measurement.cache.to_dict() if measurement.cache else None,
        }

    def op_places(self) -> dict[str, Any]:
        """Name where the last request saved files and published tasks.

        Each place is a chain of project lines, outermost first.
        """
        return self._places

    def op_invoke(self, *, function: str, label: str = "") -> dict[str, Any]:
        """Call a shop function (`orders.selectors.order_history`), measured.

        Its arguments are the last ones prepared; the result comes back as
        JSON data, model instances as references.
        """
        from checker.measure import measure

        module, _, name = function.rpartition(".")
        target = getattr(importlib.import_module(module), name)
        with measure(
            label or function,
            project=self.project,
            cache=False,
            tasks=False,
            memory=False,
        ) as measurement:
            result = target(**self._prepared)
        return {
            "result": _ref(result),
            "queries": [_query(query) for query in measurement.queries],
        }

    def op_call(self, *, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Call a data builder by name with references resolved."""
        builders = importlib.import_module(BUILDERS)
        if name not in builders.__all__:
            raise LookupError(f"no data builder named {name!r}")
        return _ref(getattr(builders, name)(*_deref(args), **_deref(kwargs)))

    def op_migrate(self) -> None:
        """Apply the shop's migrations to the run's empty database."""
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)

    def op_forget_clients(self) -> None:
        """Drop logged-in clients: their users are gone after a truncation."""
        self._clients.clear()

    def op_ping(self) -> str:
        """Answer, so the trusted side knows Django is set up."""
        return "pong"


def _place(location: Any) -> list[Any] | None:
    if location is None:
        return None
    return [location.path, location.line, location.in_project]


def _query(query: Any) -> dict[str, Any]:
    """Return what the recorder knows of a query that the server cannot tell."""
    return {
        "sql": query.sql,
        "frame": _place(query.frame),
        "template": _place(query.template),
        "access": query.access.to_dict() if query.access else None,
    }


def _shop_code() -> Any:
    from checker.origins import ProjectCode
    from checker.services.layout import project_root

    return ProjectCode(roots=("shop_app",), base=project_root())


def _failure(error: BaseException) -> dict[str, Any]:
    project = _shop_code()
    where = ""
    for frame, line in traceback.walk_tb(error.__traceback__):
        if project.contains(frame.f_code.co_filename):
            where = f"{project.relative(frame.f_code.co_filename)}:{line}"
    return {"error": f"{type(error).__name__}: {error}"[:2000], "where": where}


def serve(sock: socket.socket) -> None:
    """Answer commands until the trusted side closes the channel."""
    agent = Agent()
    while True:
        try:
            command = message_read(sock)
        except ChannelClosed:
            return
        handler = getattr(agent, f"op_{command.pop('op', '')}", None)
        try:
            if handler is None:
                raise LookupError("unknown command")
            reply: dict[str, Any] = {"result": handler(**command)}
        except Exception as error:
            reply = _failure(error)
        message_write(sock, reply)


# What every shop's setup imports, loaded before the word to set up comes:
# the trusted side creates the run's database meanwhile.
_PRELOADED = (
    "django.contrib.admin",
    "django.core.handlers.wsgi",
    "django.db.backends.postgresql.base",
    "django.db.models",
    "django.test.client",
)


def main() -> None:
    """Set Django up when told, then serve the channel in COURSE_AGENT_FD."""
    sock = socket.socket(fileno=int(os.environ["COURSE_AGENT_FD"]))
    told = False
    try:
        import django
        from django.test.utils import setup_test_environment

        for module in _PRELOADED:
            importlib.import_module(module)
        message_read(sock)
        told = True
        django.setup()
        # As a test run does: the test client's host allowed, mail kept in
        # memory, templates instrumented.
        setup_test_environment()
    except ChannelClosed:
        return
    except Exception as error:
        # Answered in turn: the trusted side reads after it said `setup`.
        if not told:
            with contextlib.suppress(ChannelClosed):
                message_read(sock)
        message_write(sock, _failure(error))
        sys.exit(1)
    message_write(sock, {"result": "ready"})
    serve(sock)


if __name__ == "__main__":
    main()
