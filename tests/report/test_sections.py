"""The report's declared sections cover what issue #11 asks for, each with a command that makes it."""

from __future__ import annotations

from medseglab.report import sections as S


def test_every_required_section_is_declared_once():
    keys = [s.key for s in S.SECTIONS]
    assert len(keys) == len(set(keys))
    assert {"table1", "table2", "tableS1", "tableS2", "tableS3", "tableS4", "challenge", "depletion", "learning",
            "distributions", "galleries", "algorithm1", "algorithm1_estimated", "umap", "splits"} <= set(keys)
    paths = {c for s in S.SECTIONS for p in s.parts for c in p.candidates()}
    assert {"stats/tables/learning_curves.csv", "stats/tables/learning_curve_backtest.csv",
            "stats/plots/learning_curves.png", "ensemble/estimated_choice.csv", "ensemble/estimator_evaluation.json",
            "ensemble/estimated_vs_oracle.png", "splits/split_report.csv", "splits/split_overlap.csv",
            "explain/umap.png", "stats/tables/isic2018.csv"} <= paths


def test_parts_are_of_known_kinds_and_commands_name_the_study():
    for section in S.SECTIONS:
        assert section.command.startswith("medseglab ") and "{dataset}" in section.command
        for part in section.parts:
            assert part.kind in S.KINDS, (section.key, part)
    assert S.titles()[0] == S.OVERVIEW_TITLE and S.titles()[-1] == S.PROVENANCE_TITLE


def test_a_table_falls_back_to_its_csv_then_to_another_table():
    part = S.Part("stats/tables/a", "table", fallback="stats/tables/b")
    assert part.candidates() == ("stats/tables/a.md", "stats/tables/a.csv", "stats/tables/b.md", "stats/tables/b.csv")
