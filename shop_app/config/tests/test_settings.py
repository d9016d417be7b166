import os
import subprocess
import sys
from pathlib import Path

SHOP = Path(__file__).resolve().parents[2]


def _check(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=SHOP,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_settings_load_and_the_deployment_checklist_finds_no_error():
    # Its warnings are what lesson 9 fixes.
    result = _check(
        "--deploy",
        "--fail-level",
        "ERROR",
        DJANGO_SETTINGS_MODULE="config.settings.deploy",
        DJANGO_SECRET_KEY="x" * 64 + "-deploy-check-only-" + "y" * 16,
        DJANGO_ALLOWED_HOSTS="shop.example.com",
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified" in result.stdout + result.stderr


def test_deploy_settings_refuse_a_missing_secret_key():
    result = _check(
        "--deploy",
        DJANGO_SETTINGS_MODULE="config.settings.deploy",
        DJANGO_SECRET_KEY="",
    )

    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY to a long random value" in result.stderr
