"""Celery tasks about orders."""

from celery import shared_task

from orders.services import sales_report_build


@shared_task
def build_sales_report() -> str:
    """Build the sales report and return its name in storage."""
    return sales_report_build()
