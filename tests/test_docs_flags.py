"""The operator docs' flag and metric tables are generated from the code and must not drift from it."""

from __future__ import annotations

import dataclasses

import pytest

from batcher.flags import batcher_table
from common.service.flags import Flag, FlagKind
from docs import gen_flags
from docs.gen_flags import (
    BATCHER_NOTES,
    DOCS_DIR,
    flag_rows,
    generated_blocks,
    removed_rows,
    render,
    stale_files,
)
from proposer.flags import proposer_table

MIGRATION = DOCS_DIR / "migration.md"


@pytest.fixture(scope="module")
def blocks() -> dict[str, str]:
    return generated_blocks()


def test_committed_docs_match_the_generated_tables(blocks):
    """Regenerating every block in memory reproduces the committed docs byte for byte."""
    stale = stale_files(blocks)
    assert stale == [], f"stale generated docs {stale}: run `python -m docs.gen_flags`"


def test_migration_guide_holds_every_generated_block(blocks):
    """Each generator output has a block in migration.md, so nothing generated is silently unused."""
    text = MIGRATION.read_text()
    for key in blocks:
        assert f"<!-- BEGIN GENERATED {key} " in text, key
        assert f"<!-- END GENERATED {key} -->" in text, key


def test_every_flag_and_env_var_appears_in_the_migration_guide():
    """All flag names, aliases and env vars of both services are documented, hidden ones included."""
    text = MIGRATION.read_text()
    for table in (batcher_table(), proposer_table()):
        for flag in table.flags:
            for name in flag.names:
                assert f"`--{name}`" in text, f"{table.app_name} --{name}"
            for env in flag.env:
                assert env in text, f"{table.app_name} {env}"


def test_a_changed_flag_default_makes_the_docs_stale(blocks):
    """Changing one default in the code yields a different table than the committed one."""
    table = batcher_table()
    changed = tuple(
        dataclasses.replace(f, default=7 * 10**9) if f.name == "poll-interval" else f for f in table.flags
    )
    altered = dataclasses.replace(table, flags=changed)
    new_blocks = {**blocks, "batcher-flags": flag_rows(altered, BATCHER_NOTES)}
    text = MIGRATION.read_text()
    assert "`7s`" in new_blocks["batcher-flags"]
    assert render(text, new_blocks) != text
    assert stale_files(new_blocks) == [MIGRATION]


def test_a_new_flag_makes_the_docs_stale(blocks):
    """A flag added to the table without regenerating the docs is detected."""
    table = proposer_table()
    extra = Flag("brand-new", FlagKind.BOOL, "A flag the docs do not know", env=("OP_PROPOSER_BRAND_NEW",))
    altered = dataclasses.replace(table, flags=(*table.flags, extra))
    new_blocks = {**blocks, "proposer-flags": flag_rows(altered, gen_flags.PROPOSER_NOTES)}
    assert "`--brand-new`" in new_blocks["proposer-flags"]
    assert render(MIGRATION.read_text(), new_blocks) != MIGRATION.read_text()


def test_render_only_rewrites_text_between_markers():
    """Hand-written prose around a block is kept; only the block body is replaced."""
    text = (
        "intro\n<!-- BEGIN GENERATED k (python -m docs.gen_flags; do not edit) -->\nold\n"
        "<!-- END GENERATED k -->\noutro\n"
    )
    out = render(text, {"k": "new body\n"})
    assert out == text.replace("old\n", "new body\n")


def test_an_unknown_block_key_is_an_error():
    """A block whose key has no generator fails loudly instead of being left stale."""
    text = "<!-- BEGIN GENERATED nope -->\nx\n<!-- END GENERATED nope -->\n"
    with pytest.raises(KeyError, match="nope"):
        render(text, {"k": ""})


def test_notes_for_undeclared_flags_are_rejected():
    """A parity note naming a flag the table lacks (e.g. after a rename) fails generation."""
    with pytest.raises(KeyError, match="no-such-flag"):
        flag_rows(batcher_table(), {"no-such-flag": "x"})


def test_removed_go_flags_are_proven_rejected():
    """The 'no longer accepted' list is checked by parsing; an accepted flag cannot be listed."""
    assert "flag provided but not defined: -throttle-interval" in removed_rows(
        batcher_table(), ["throttle-interval"]
    )
    with pytest.raises(ValueError, match="accepts --poll-interval"):
        removed_rows(batcher_table(), ["poll-interval"])


def test_pprof_rows_say_no_profiler_is_started(blocks):
    """The documented difference for pprof (accepted, no profiler) is in both services' tables."""
    for key in ("batcher-flags", "proposer-flags"):
        row = next(line for line in blocks[key].splitlines() if line.startswith("| `--pprof.enabled`"))
        assert "no profiler is started" in row


def test_metric_sections_list_additions_and_no_missing_go_series(blocks):
    """Every Go series is exported; the additions list names the Python-only series."""
    assert "`op_batcher_default_safe_head_lag_seconds`" in blocks["batcher-metrics"]
    assert "`op_proposer_default_proposals_skipped_total`" in blocks["proposer-metrics"]
    for key in ("batcher-metrics", "proposer-metrics"):
        assert "Go series not exported here:\n\n- none" in blocks[key]


def test_check_cli_reports_fresh_docs(capsys):
    """``python -m docs.gen_flags --check`` exits 0 on the committed docs and 2 on bad usage."""
    assert gen_flags.main(["--check"]) == 0
    assert gen_flags.main(["--bogus"]) == 2
    assert "usage" in capsys.readouterr().err
