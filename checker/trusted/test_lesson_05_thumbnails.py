"""Trusted tests of lesson 5's thumbnails, made by a worker on their own queue.

They drive the shop apart (`checker.harness`): the upload must publish the
task once the image row is committed and make no thumbnail itself; a worker
the trusted side started on the images queue must make it.
"""

from __future__ import annotations

import base64
import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from checker.budgets import assert_within
from checker.budgets.tasks import (
    drained_by_worker,
    task_offloaded,
    task_published_on_commit,
)
from checker.harness.run import ShopRun
from checker.harness.shop import Shop
from checker.harness.workers import Workers, drain_report, published
from checker.trusted.commits import commits_refused
from checker.trusted.offload import (
    DRAIN_SECONDS,
    Request,
    cache_emptied,
    defined_at,
    files,
    requested,
)

__all__ = ["cache_emptied"]

THUMBNAIL_TASK = "make_thumbnail"
IMAGES_QUEUE = "images"
THUMBNAIL_MAX = (200, 200)


def _upload() -> dict[str, Any]:
    picture = io.BytesIO()
    Image.new("RGB", (800, 400), "orange").save(picture, format="PNG")
    content = base64.b64encode(picture.getvalue()).decode()
    return {
        "__upload__": "kettle.png",
        "content_type": "image/png",
        "content": content,
    }


def _images(trusted_sql: Any, product_pk: int) -> list[tuple[int, str, str]]:
    """Return the product's images: id, image name, thumbnail name."""
    rows = trusted_sql.execute(
        "SELECT id, image, thumbnail FROM public.catalog_productimage"
        " WHERE product_id = %s ORDER BY id",
        [product_pk],
    ).fetchall()
    return [(int(pk), str(image or ""), str(thumb or "")) for pk, image, thumb in rows]


@dataclass
class Upload:
    """A staff member, a product to upload images of, and what checks them."""

    shop: Shop
    media: Path
    staff: str
    product: dict[str, Any]
    trusted_sql: Any

    @property
    def path(self) -> str:
        return f"/products/{self.product['slug']}/images/upload/"

    def posted(self, label: str = "") -> Request:
        """Upload an image; return what it published and made."""
        return requested(
            self.shop,
            self.media,
            self.path,
            user=self.staff,
            data={"image": _upload()},
            label=label,
        )

    def offloaded(self, label: str = "") -> Request:
        """Upload an image; fail, naming where, unless no thumbnail was made."""
        request = self.posted(label)
        images = {image for _, image, _ in _images(self.trusted_sql, self.pk)}
        made = sorted(request.made - images)
        if made:
            site = request.saved_from(made[0])
            raise AssertionError(
                f"{request.label} made the thumbnail inside the request: wrote "
                f"{made[0]}{f' from {site}' if site else ''}. Expected "
                f"{THUMBNAIL_TASK} published to a worker. Call "
                f"`{THUMBNAIL_TASK}.delay_on_commit(product_image.pk)` where the "
                "image is saved, instead of making the thumbnail there."
            )
        assert request.page.status == 302, (
            f"{request.label} answered {request.page.status}; expected a redirect"
            " to the product page once the image is stored."
        )
        assert_within(request.tasks(THUMBNAIL_TASK), task_offloaded(THUMBNAIL_TASK))
        return request

    @property
    def pk(self) -> int:
        return int(self.product["pk"])


def _upload_for(shop: Shop, media: Path, staff: str, trusted_sql: Any) -> Upload:
    [product] = shop.build("catalog_make", products=1, reviews_per_product=0)
    return Upload(shop, media, staff, product, trusted_sql)


@pytest.fixture
def upload(
    shop: Shop, media: Path, staff: str, trusted_sql: Any, workers: Workers
) -> Upload:
    return _upload_for(shop, media, staff, trusted_sql)


@pytest.mark.exercise("05-thumbnails", budget="offloaded")
def test_the_upload_publishes_the_thumbnail_task_and_makes_none_itself(
    upload: Upload,
) -> None:
    upload.offloaded()


@pytest.mark.exercise("05-thumbnails", budget="on-commit")
def test_the_thumbnail_task_leaves_once_the_image_row_is_committed(
    shop: Shop,
    shop_run: ShopRun,
    media: Path,
    workers: Workers,
    trusted_sql: Any,
) -> None:
    # Many projects run each request in a transaction; the admin saves a
    # product and its images in one too. The next test gets the shop as the
    # run started it.
    atomic = shop_run.restart(COURSE_ATOMIC_REQUESTS="1")
    staff = str(atomic.build("staff_make")["username"])
    upload = _upload_for(atomic, media, staff, trusted_sql)
    label = f"POST {upload.path} with ATOMIC_REQUESTS"
    first = upload.offloaded(label)

    # An upload whose transaction fails to commit must publish nothing: a
    # message sent before the COMMIT would reach a worker for a row that
    # never existed. No clock is compared: the broker saw it or not.
    with commits_refused(trusted_sql, "catalog_productimage"):
        before = files(media)
        failed = f"{label}, whose transaction failed to commit,"
        # The page fails, or the shop hides the failure: either way, only
        # what reached the broker counts.
        with atomic.redis.commands_watch() as log:
            with contextlib.suppress(AssertionError):
                atomic.post(upload.path, {"image": _upload()}, user=staff)
            early = published(log, THUMBNAIL_TASK)
        places = atomic.command("places")
    refused = Request(failed, first.page, early, files(media) - before, places)
    records = (
        first.tasks(THUMBNAIL_TASK)["tasks"]["published"]
        + refused.tasks(THUMBNAIL_TASK, transaction="rolled back")["tasks"]["published"]
    )
    assert_within(
        {"label": failed, "tasks": {"published": records}},
        task_published_on_commit(THUMBNAIL_TASK),
    )


def _settings_site(shop_run: ShopRun) -> str:
    """Return `shop_app/config/settings/base.py:<line>` of its Celery settings."""
    module = "shop_app/config/settings/base.py"
    path = Path(shop_run.plan.root) / module
    lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
    found = [n for n, line in enumerate(lines, 1) if line.startswith("CELERY_")]
    return f"{module}:{found[-1] if found else 1}"


@pytest.mark.exercise("05-thumbnails", budget="queue")
def test_thumbnails_go_to_the_images_queue_whose_workers_are_recycled(
    upload: Upload, shop_run: ShopRun
) -> None:
    request = upload.offloaded()

    # The queue is the one the message was pushed to, as Redis saw it.
    [message] = [m for m in request.messages if m.short == THUMBNAIL_TASK][:1]
    site = _settings_site(shop_run)
    where = request.call_site(message.id)
    assert message.queue == IMAGES_QUEUE, (
        f"{request.label} published {THUMBNAIL_TASK} to queue {message.queue!r}"
        f"{f' from {where}' if where else ''} (budget: {THUMBNAIL_TASK} on queue"
        f" {IMAGES_QUEUE!r}): it waits behind every other task there, and its"
        " memory grows the workers that serve them. Route it in"
        f" {site}: CELERY_TASK_ROUTES ="
        f' {{"catalog.tasks.{THUMBNAIL_TASK}": {{"queue": "{IMAGES_QUEUE}"}}}}.'
    )
    # Recycling is a setting the worker reads at start, not something a
    # request does: no server can count it, so the shop's configuration is
    # asked. A shop that lies here only lies about its own production
    # setup; no point rests on a count it reports.
    conf, _ = upload.shop.invoke(
        "checker.harness.shop_data.celery_settings",
        names=["worker_max_tasks_per_child", "worker_max_memory_per_child"],
    )
    assert any(conf.values()), (
        f"{THUMBNAIL_TASK} goes to queue {IMAGES_QUEUE!r}, whose workers are"
        " never recycled: a worker that opens large images keeps the memory."
        " Set CELERY_WORKER_MAX_TASKS_PER_CHILD and/or"
        f" CELERY_WORKER_MAX_MEMORY_PER_CHILD (KiB) in {site}."
    )


def _thumbnail_kind(media: Path, name: str) -> tuple[str, int, int]:
    path = (media / name).resolve()
    assert path.is_relative_to(media.resolve()) and path.is_file(), (
        f"The thumbnail {name} is not a file in storage."
    )
    with Image.open(path) as thumbnail:
        width, height = thumbnail.size
        return str(thumbnail.format), width, height


@pytest.mark.exercise("05-thumbnails", budget="drained")
def test_a_worker_makes_a_jpeg_thumbnail_within_200px(
    upload: Upload, shop_run: ShopRun, workers: Workers
) -> None:
    request = upload.offloaded()
    [message] = [m for m in request.messages if m.short == THUMBNAIL_TASK][:1]
    before = files(upload.media)

    # Wherever the shop routes it, a worker on that queue runs it.
    workers.start([message.queue])
    drained = drain_report(
        upload.shop.redis, message.queue, [message.id], timeout=DRAIN_SECONDS
    )

    assert_within(drained, drained_by_worker())
    [(pk, _, thumbnail)] = _images(upload.trusted_sql, upload.pk)
    site = defined_at(shop_run, "shop_app/catalog/tasks.py", THUMBNAIL_TASK)
    assert thumbnail and thumbnail in files(upload.media) - before, (
        f"The worker ran {THUMBNAIL_TASK} ({site}) successfully, and"
        f" ProductImage {pk} still has no thumbnail: the task must save one into"
        " ProductImage.thumbnail."
    )
    kind, width, height = _thumbnail_kind(upload.media, thumbnail)
    most_wide, most_high = THUMBNAIL_MAX
    assert kind == "JPEG" and width <= most_wide and height <= most_high, (
        f"The thumbnail {thumbnail} is a {kind} of {width} x {height} pixels;"
        f" expected a JPEG of at most {most_wide} x {most_high}."
    )
