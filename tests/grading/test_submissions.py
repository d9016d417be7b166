"""Submissions are copied into a scratch folder: only shop_app/, and safely."""

import io
import os
import subprocess
import tarfile
import zipfile

import pytest

from checker.grading.submissions import (
    Caps,
    SubmissionError,
    submission_parse,
    submission_unpack,
)


def _shop(root, text="VALUE = 1\n"):
    (root / "shop_app" / "catalog").mkdir(parents=True)
    (root / "shop_app" / "catalog" / "models.py").write_text(text)
    return root


def _unpack(tmp_path, spec, **kwargs):
    scratch = tmp_path / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    return submission_unpack(submission_parse(spec, **kwargs), scratch=scratch)


def _refusal(tmp_path, spec, **kwargs):
    with pytest.raises(SubmissionError) as caught:
        _unpack(tmp_path, spec, **kwargs)
    return str(caught.value)


def _git(root, *args):
    subprocess.run(
        ["git", "-c", "user.name=S", "-c", "user.email=s@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def test_the_student_is_named_after_the_folder_archive_or_repository(tmp_path):
    names = [
        submission_parse(str(tmp_path / spec)).name
        for spec in ("alice", "bob.zip", "carol.tar.gz", "dan.git", "Eve Smith")
    ]

    assert names == ["alice", "bob", "carol", "dan", "Eve-Smith"]


def test_a_ref_after_an_at_sign_is_split_from_the_path(tmp_path):
    submission = submission_parse(f"{tmp_path}/alice.git@lesson-02")

    assert (submission.source, submission.ref, submission.name) == (
        tmp_path / "alice.git",
        "lesson-02",
        "alice",
    )


def test_an_existing_path_with_an_at_sign_is_not_split(tmp_path):
    (tmp_path / "me@home").mkdir()

    assert submission_parse(str(tmp_path / "me@home")).ref is None


def test_only_shop_app_is_copied_without_bytecode(tmp_path):
    source = _shop(tmp_path / "alice")
    (source / "checker").mkdir()
    (source / "checker" / "runner.py").write_text("raise SystemExit(0)\n")
    (source / "course.toml").write_text("")
    (source / "shop_app" / "__pycache__").mkdir()
    (source / "shop_app" / "__pycache__" / "x.pyc").write_bytes(b"\0")

    root = _unpack(tmp_path, str(source))

    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == [
        "shop_app",
        "shop_app/catalog",
        "shop_app/catalog/models.py",
    ]


def test_a_zip_with_one_wrapping_folder_is_unpacked(tmp_path):
    with zipfile.ZipFile(tmp_path / "alice.zip", "w") as bundle:
        bundle.writestr("project/shop_app/catalog/models.py", "VALUE = 2\n")

    root = _unpack(tmp_path, str(tmp_path / "alice.zip"))

    assert (root / "shop_app/catalog/models.py").read_text() == "VALUE = 2\n"


def test_a_tar_gz_is_unpacked(tmp_path):
    _shop(tmp_path / "build")
    with tarfile.open(tmp_path / "alice.tar.gz", "w:gz") as bundle:
        bundle.add(tmp_path / "build" / "shop_app", arcname="shop_app")

    root = _unpack(tmp_path, str(tmp_path / "alice.tar.gz"))

    assert (root / "shop_app/catalog/models.py").read_text() == "VALUE = 1\n"


def test_a_zip_member_climbing_out_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as bundle:
        bundle.writestr("../../evil.py", "")

    assert _refusal(tmp_path, str(tmp_path / "evil.zip")) == (
        "archive member '../../evil.py' points outside the submission"
    )
    assert not (tmp_path / "evil.py").exists()


def test_an_absolute_tar_member_is_refused(tmp_path):
    with tarfile.open(tmp_path / "evil.tar.gz", "w:gz") as bundle:
        member = tarfile.TarInfo("/tmp/evil.py")
        bundle.addfile(member, io.BytesIO(b""))

    assert _refusal(tmp_path, str(tmp_path / "evil.tar.gz")) == (
        "archive member '/tmp/evil.py' points outside the submission"
    )


def test_a_tar_symlink_out_of_the_submission_is_refused(tmp_path):
    with tarfile.open(tmp_path / "evil.tar", "w") as bundle:
        member = tarfile.TarInfo("shop_app/secrets")
        member.type = tarfile.SYMTYPE
        member.linkname = "../../../../etc"
        bundle.addfile(member)

    assert _refusal(tmp_path, str(tmp_path / "evil.tar")) == (
        "archive link 'shop_app/secrets' points outside the submission"
    )


def test_a_zip_symlink_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as bundle:
        info = zipfile.ZipInfo("shop_app/passwd")
        info.external_attr = 0o120777 << 16
        bundle.writestr(info, "/etc/passwd")

    assert _refusal(tmp_path, str(tmp_path / "evil.zip")) == (
        "archive member 'shop_app/passwd' is a link"
    )


def test_a_symlink_inside_shop_app_is_kept(tmp_path):
    source = _shop(tmp_path / "alice")
    os.symlink("models.py", source / "shop_app" / "catalog" / "alias.py")

    root = _unpack(tmp_path, str(source))

    assert (root / "shop_app/catalog/alias.py").read_text() == "VALUE = 1\n"


def test_a_symlinked_shop_app_is_refused(tmp_path):
    _shop(tmp_path / "real")
    (tmp_path / "alice").mkdir()
    os.symlink(tmp_path / "real" / "shop_app", tmp_path / "alice" / "shop_app")

    assert _refusal(tmp_path, str(tmp_path / "alice")) == (
        "refused: shop_app/ is a symlink"
    )


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("checker/__init__.py", "shop_app/checker folder"),
        ("checker.py", "shop_app/checker.py file"),
        ("conftest.py", "shop_app/conftest.py file"),
        ("pytest_django/__init__.py", "shop_app/pytest_django folder"),
        ("django/__init__.py", "shop_app/django folder"),
        ("sitecustomize.py", "shop_app/sitecustomize.py file"),
        ("json.py", "shop_app/json.py file"),
    ],
)
def test_a_shop_app_that_could_shadow_the_grader_is_refused(tmp_path, path, reason):
    source = _shop(tmp_path / "alice")
    (source / "shop_app" / path).parent.mkdir(parents=True, exist_ok=True)
    (source / "shop_app" / path).write_text("")

    assert _refusal(tmp_path, str(source)) == (
        f"refused: {reason} would shadow the trusted grader; remove it"
    )


def test_a_submission_over_the_size_cap_is_refused(tmp_path):
    source = _shop(tmp_path / "alice")
    with (source / "shop_app" / "big.bin").open("wb") as handle:
        handle.truncate(3 * 1024 * 1024)

    with pytest.raises(SubmissionError) as caught:
        submission_unpack(
            submission_parse(str(source)), scratch=tmp_path, caps=Caps(megabytes=2)
        )

    assert str(caught.value) == "larger than 2 MB unpacked"


def test_a_zip_over_the_file_cap_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as bundle:
        for number in range(5):
            bundle.writestr(f"shop_app/f{number}.py", "")

    with pytest.raises(SubmissionError) as caught:
        submission_unpack(
            submission_parse(str(tmp_path / "many.zip")),
            scratch=tmp_path,
            caps=Caps(files=3),
        )

    assert str(caught.value) == "more than 3 files"


def test_a_git_repository_is_read_at_the_ref_asked_for(tmp_path):
    repo = _shop(tmp_path / "alice", "VALUE = 'tagged'\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")
    _git(repo, "tag", "lesson-02")
    (repo / "shop_app/catalog/models.py").write_text("VALUE = 'head'\n")
    _git(repo, "commit", "-qam", "second")

    tagged = _unpack(tmp_path / "a", f"{repo}@lesson-02")
    head = _unpack(tmp_path / "b", str(repo), ref="HEAD")

    assert (tagged / "shop_app/catalog/models.py").read_text() == "VALUE = 'tagged'\n"
    assert (head / "shop_app/catalog/models.py").read_text() == "VALUE = 'head'\n"


def test_a_bare_repository_is_read_at_its_head(tmp_path):
    repo = _shop(tmp_path / "work", "VALUE = 'bare'\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")
    _git(tmp_path, "clone", "-q", "--bare", str(repo), str(tmp_path / "alice.git"))

    root = _unpack(tmp_path, str(tmp_path / "alice.git"))

    assert (root / "shop_app/catalog/models.py").read_text() == "VALUE = 'bare'\n"


def test_a_missing_git_ref_is_named(tmp_path):
    repo = _shop(tmp_path / "alice")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")

    assert _refusal(tmp_path, f"{repo}@lesson-99") == "no git ref 'lesson-99' in alice"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("notes.zip", "text", "not a valid zip archive"),
        ("notes.tar.gz", "text", "not a valid tar archive"),
        ("notes.txt", "text", "not a directory, git repository or archive "
         "(.zip, .tar.gz, .tgz, .tar): notes.txt"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_an_archive_is_refused(tmp_path, name, content, reason):
    (tmp_path / name).write_text(content)

    assert _refusal(tmp_path, str(tmp_path / name)) == reason


def test_a_path_that_does_not_exist_is_refused(tmp_path):
    assert _refusal(tmp_path, str(tmp_path / "ghost")) == (
        f"no such file or directory: {tmp_path / 'ghost'}"
    )


def test_a_folder_without_shop_app_is_refused(tmp_path):
    (tmp_path / "alice" / "src").mkdir(parents=True)

    assert _refusal(tmp_path, str(tmp_path / "alice")) == "no shop_app/ folder in alice"


def test_a_ref_on_a_folder_that_is_not_a_repository_is_refused(tmp_path):
    _shop(tmp_path / "alice")

    assert _refusal(tmp_path, str(tmp_path / "alice"), ref="lesson-02") == (
        "alice is not a git repository, so it has no ref 'lesson-02'"
    )


def test_only_shop_app_counts_toward_the_caps_of_a_folder(tmp_path):
    source = _shop(tmp_path / "alice")
    (source / ".venv").mkdir()
    for number in range(20):
        (source / ".venv" / f"module{number}.py").write_text("")

    root = submission_unpack(
        submission_parse(str(source)), scratch=tmp_path, caps=Caps(files=5)
    )

    assert (root / "shop_app/catalog/models.py").exists()
