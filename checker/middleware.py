"""Development middleware: measure each request, and raise or log on an N+1.

    MIDDLEWARE = [..., "checker.middleware.NPlusOneMiddleware"]

In "raise" mode (`CHECKER_NPLUSONE_MODE`, the default) the request fails with
`NPlusOneDetected`, whose message is the diagnosis, so Django's debug page
shows it; in "warn" mode the diagnosis is logged as a warning on the
`checker.nplusone` logger and the response goes out. It records every query
of every request, so it stands aside (`MiddlewareNotUsed`) unless DEBUG is on:
left in production settings, it costs nothing; under tests, which run with
DEBUG off, the fixtures and context managers of `checker.detect` do its job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponseBase

from checker.allowlist import Allowlist, missing_entries
from checker.detect import mode_from_settings, report_n_plus_ones
from checker.measure import measure
from checker.origins import ProjectCode

__all__ = ["NPlusOneMiddleware"]

logger = logging.getLogger("checker.nplusone")


class NPlusOneMiddleware:
    """Measure the queries of each request; report its N+1s with their fix."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        if not settings.DEBUG:
            raise MiddlewareNotUsed("the N+1 middleware runs with DEBUG on only")
        self.get_response = get_response
        # Read once, when the server loads its middleware, so a bad setting
        # stops it at startup rather than on the first request.
        self.mode = mode_from_settings()
        self.allowlist = Allowlist.from_settings()
        for entry, why in missing_entries(self.allowlist, ProjectCode.from_settings()):
            logger.warning(
                "CHECKER_NPLUSONE_ALLOW entry %r is stale: %s. Remove it or"
                " name the relation and call site as they are now.",
                str(entry),
                why,
            )

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        label = f"{request.method} {request.get_full_path()}"
        with measure(label, cache=False, tasks=False, memory=False) as measurement:
            response = self.get_response(request)
        report_n_plus_ones(
            measurement, mode=self.mode, allowlist=self.allowlist, warn=logger.warning
        )
        return response
