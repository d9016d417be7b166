from checker.cli import main


def test_services_up_twice_says_there_is_nothing_to_do(monkeypatch, layout, capsys):
    monkeypatch.setenv("COURSE_HOME", str(layout.home))
    try:
        assert main(["services", "up"]) == 0
        capsys.readouterr()

        assert main(["services", "up"]) == 0
        assert capsys.readouterr().out == "Nothing to do: services already up.\n"
    finally:
        main(["services", "down"])


def test_a_service_that_cannot_start_exits_1_without_a_traceback(
    monkeypatch, layout, capsys
):
    monkeypatch.setenv("COURSE_HOME", str(layout.home))
    layout.postgres_data.mkdir(parents=True)
    (layout.postgres_data / "PG_VERSION").write_text("not a version\n")

    assert main(["services", "up"]) == 1

    out = capsys.readouterr().out
    assert out.startswith("error: PostgreSQL could not start: ")
    assert "try: run `course services down` then `course services up`" in out
    assert "Traceback" not in out
