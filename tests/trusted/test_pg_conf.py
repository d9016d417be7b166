"""A learner's postgresql.conf is read as text, only the settings asked for."""

import pytest

from checker.trusted.pg_conf import ConfError, conf_read

NAMES = ("log_min_duration_statement", "auto_explain.log_analyze")


def test_chosen_settings_are_read_with_their_lines_and_the_others_passed(tmp_path):
    conf = tmp_path / "postgresql.conf"
    conf.write_text(
        "# a comment\n"
        "shared_preload_libraries = 'pg_stat_statements,auto_explain'\n"
        "log_min_duration_statement = -1\n"
        "\n"
        "log_min_duration_statement 250ms  # set twice: the last one counts\n"
        "auto_explain.log_analyze = 'it''s on'\n"
    )

    assert conf_read(conf, NAMES, shown="postgresql.conf") == {
        "log_min_duration_statement": ("250ms", 5),
        "auto_explain.log_analyze": ("it's on", 6),
    }


def test_a_line_that_is_no_setting_is_refused_with_its_place(tmp_path):
    conf = tmp_path / "postgresql.conf"
    conf.write_text("log_min_duration_statement = 100ms\nlog_min = = 3\n")

    with pytest.raises(ConfError) as refused:
        conf_read(conf, NAMES, shown="shop_app/deploy/postgresql.conf")

    assert refused.value.args[0] == (
        "shop_app/deploy/postgresql.conf:2 is not `name = value`: 'log_min = = 3'"
    )


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfError, match=r"^conf is missing$"):
        conf_read(tmp_path / "none", NAMES, shown="conf")
