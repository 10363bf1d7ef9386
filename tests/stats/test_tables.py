import numpy as np
import pandas as pd
import pytest

from medseglab.stats.render import to_html, to_markdown, write_tables
from medseglab.stats.summary import StatsOptions, compute_statistics
from medseglab.stats.tables import build_tables, select_split, table1, table2, table_s2

OPTS = StatsOptions(bootstrap=100)
PAPER_COLUMNS = ["AUROC LMI", "AUROC TII", "Dice LMI", "Dice TII", "Sens LMI", "Sens TII", "Spec LMI", "Spec TII"]


@pytest.fixture
def table1_fixture(make_table):
    tii = {
        "auroc_mask": [0.95, 0.96, 0.97, 0.98, 0.99, 0.97],  # TII far better and Mood-significant
        "dice": [0.5, 0.6, 0.7, 0.8, 0.9, 0.95],  # LMI > 5% better, Mood not significant
        "sensitivity": [0.7, 0.8, 0.9, 0.7, 0.8, 0.9],  # equal
        "specificity": [0.99] * 6,
        "auroc_prob": [0.9] * 6,
    }
    lmi = dict(tii, auroc_mask=[0.6, 0.62, 0.65, 0.7, 0.68, 0.66], dice=[0.55, 0.65, 0.78, 0.85, 0.92, 0.96])
    return make_table({"tii": tii, "lmi": lmi})


def test_table1_paper_layout_and_marks(table1_fixture):
    stats = compute_statistics(table1_fixture, OPTS)
    t = table1(stats, split=0)
    frame = t.frame
    assert list(frame.columns[:11]) == ["dataset", "source", "n"] + PAPER_COLUMNS
    study, paper_row = frame.iloc[0], frame.iloc[1]
    assert study["source"].startswith("this study (split 0, 80:20)") and study["n"] == "6"
    assert study["AUROC TII"] == "0.9700 (0.9700)*†"
    assert study["AUROC LMI"] == "0.6550 (0.6517)"
    assert study["Dice LMI"] == "0.8150 (0.7850)†"  # better by > 5%, p >= 0.05: no star
    assert study["Dice TII"] == "0.7500 (0.7417)"
    for col in ("Sens LMI", "Sens TII", "Spec LMI", "Spec TII"):
        assert not study[col].endswith(("*", "†")), col
    # the paper's own numbers, in the same cells
    assert paper_row["AUROC LMI"] == "0.8544 (0.8120)" and paper_row["Dice TII"] == "0.8857 (0.8250)"
    assert paper_row["n"] == "2,758" and paper_row["AUROC(prob) TII"] == "—"
    md = to_markdown(t)
    assert "| skin | this study (split 0, 80:20) | 6 | 0.6550 (0.6517) | 0.9700 (0.9700)*† |" in md
    assert "Mood's median test" in md and "'below'" in md
    assert "<td>0.9700 (0.9700)*†</td>" in to_html(t)


def _split_stats(make_table, gaps_scores):
    parts = []
    for split, (tii_med, lmi_med) in enumerate(gaps_scores):
        base = np.linspace(-0.02, 0.02, 9)
        parts.append(make_table({"tii": {"dice": tii_med + base}, "lmi": {"dice": lmi_med + base}}, split=split))
    return compute_statistics(pd.concat(parts, ignore_index=True), OPTS, by_label=False)


def test_split_selection_best_among_close_splits(make_table):
    # split 0: best score but TII 12% ahead; split 1: within 5%, score 0.86; split 2: within 5%, 0.80
    stats = _split_stats(make_table, [(0.95, 0.85), (0.87, 0.85), (0.81, 0.79)])
    chosen, sel = select_split(stats)
    assert chosen == 1
    assert sel.set_index("split")["eligible"].tolist() == [False, True, True]
    assert "within 5%" in sel.loc[sel["chosen"], "reason"].iloc[0]


def test_split_selection_without_close_split_takes_best(make_table):
    stats = _split_stats(make_table, [(0.95, 0.80), (0.90, 0.70)])
    chosen, sel = select_split(stats)
    assert chosen == 0 and "no split had" in sel.loc[sel["chosen"], "reason"].iloc[0]


def test_table2_depletion_rows_and_paper_values(make_table):
    parts = [
        make_table({"tii": {"dice": np.linspace(0.8, 0.9, 7)}, "lmi": {"dice": np.linspace(0.7, 0.8, 7)}}, ratio=r)
        for r in (80, 20)
    ]
    parts.append(make_table({"tii": {"dice": np.full(7, 0.5)}, "lmi": {"dice": np.full(7, 0.5)}}, ratio=20, split=1))
    stats = compute_statistics(pd.concat(parts, ignore_index=True), OPTS, by_label=False)
    t2, t2_all, curve = table2(stats, split=0)
    rows = t2.frame.set_index("train %")
    assert rows.loc["20", "split"] == "0"  # the chosen split, not split 1
    assert rows.loc["20", "paper Dice LMI"] == "0.7855" and rows.loc["80", "paper Dice TII"] == "0.8857"
    assert rows.loc["20", "Dice TII"].startswith("0.8500")
    assert set(curve.columns) >= {"train_pct", "init", "dice_median", "paper_dice_median"}
    assert curve.loc[(curve["train_pct"] == 80) & (curve["init"] == "lmi"), "dice_median"].item() == pytest.approx(0.75)


def test_table_s2_labels_and_overlap(make_table):
    a = make_table({"tii": {"dice": [0.5] * 4}}, labels=["benign", "benign", "malignant", "benign"])
    b = make_table({"tii": {"dice": [0.5] * 2}}, split=1, labels=["benign", "benign"])  # img0, img1 shared
    t = table_s2(pd.concat([a, b], ignore_index=True), 80)
    rows = t.frame.set_index("split")
    assert rows.loc["0", "benign"] == "3 (75.0%)" and rows.loc["0", "malignant"] == "1 (25.0%)"
    assert rows.loc["0", "shared with another split"] == "2 (50.0%)"
    assert "Images in every test set: 2" in t.notes[1]


def test_build_and_write_all_tables(tmp_path, table1_fixture):
    stats = compute_statistics(table1_fixture, OPTS)
    tables, _, chosen, _ = build_tables(stats, table1_fixture)
    assert chosen == 0
    assert {"table1", "table1_tests", "table1_statistics", "table2", "tableS1", "tableS2", "tableS3", "tableS4"} <= set(tables)
    files = write_tables(tables, tmp_path, "test")
    assert (tmp_path / "index.html").read_text().count("<section") == len(tables)
    csv = pd.read_csv(tmp_path / "table1.csv")
    assert csv.loc[0, "AUROC TII"] == "0.9700 (0.9700)*†"
    assert all(f.exists() for f in files)


# ----------------------------------------------------------------------------- issue #8: trust at a glance

def _all_cells(tables):
    return [str(v) for t in tables.values() for v in t.frame.to_numpy().ravel()]


def test_synthetic_data_and_fallback_weights_are_said_in_every_table(table1_fixture):
    from medseglab.stats.provenance import Provenance

    prov = Provenance(True, "synthetic phantoms", ("hed-bsds500",))
    stats = compute_statistics(table1_fixture, OPTS)
    tables, _, _, _ = build_tables(stats, table1_fixture, prov)
    study, paper_row = tables["table1"].frame.iloc[0], tables["table1"].frame.iloc[1]
    assert "SYNTHETIC demo data" in study["source"] and "SYNTHETIC" not in paper_row["source"]
    for name, t in tables.items():
        assert t.title.endswith("[SYNTHETIC demo data]"), name
        assert any(n.startswith("SYNTHETIC demo data") for n in t.notes), name
        if name != "tableS2":  # every table with TII results names the weights TII used
            assert any("BSDS500 VGG16 fallback" in n and "not ImageNet" in n for n in t.notes), name
    # Table 1: a footnote mark on the study's row, its sentence once below; the paper's TII was ImageNet
    assert study["source"].endswith("ᵃ") and paper_row["source"].endswith("ᵇ")
    notes = tables["table1"].notes
    assert sum(n.startswith("ᵃ TII here: BSDS500 VGG16 fallback") for n in notes) == 1
    assert any(n.startswith("ᵇ") and "ImageNet" in n for n in notes)
    md = to_markdown(tables["table1"])
    assert "[SYNTHETIC demo data]" in md.splitlines()[0]


def test_real_data_with_imagenet_weights_reads_as_before_plus_the_weights(table1_fixture):
    from medseglab.stats.provenance import Provenance

    stats = compute_statistics(table1_fixture, OPTS)
    tables, _, _, _ = build_tables(stats, table1_fixture, Provenance(False, "isic2018", ("imagenet-keras-cache",)))
    assert not any("SYNTHETIC" in t.title for t in tables.values())
    assert tables["table1"].frame.iloc[0]["source"] == "this study (split 0, 80:20)ᵃ"
    assert any("ImageNet VGG16" in n for n in tables["table1"].notes)


@pytest.fixture
def tied_and_undefined(make_table):
    """Label 'a': every Dice is 1 (Mood's test undefined under ties 'below'); label 'b': empty ground
    truth, every Dice undefined (no Mood row at all, as kidney's 'no kidney' slices)."""
    labels = ["a"] * 6 + ["b"] * 4
    dice = [1.0] * 6 + [np.nan] * 4
    spec = [0.99, 0.98, 0.97, 0.99, 0.96, 0.95, 0.9, 0.91, 0.92, 0.93]
    values = {init: {"dice": dice, "specificity": spec} for init in ("tii", "lmi")}
    return make_table(values, labels=labels)


def test_table_cells_hold_marks_not_sentences_or_nan(tied_and_undefined):
    stats = compute_statistics(tied_and_undefined, OPTS)
    tables, _, _, _ = build_tables(stats, tied_and_undefined)
    s4 = tables["tableS4"].frame.set_index(["clinical label", "metric"])
    assert s4.loc[("a", "Dice"), "Mood p"] == "n/aᵃ"
    assert s4.loc[("b", "Dice"), "Mood p"] == "n/a"  # was "n/a (nan)"
    notes = tables["tableS4"].notes
    explained = [n for n in notes if n.startswith("ᵃ ")]
    assert explained == ["ᵃ Mood's test undefined: all values at or below the grand median "
                         "(try --set stats.mood_ties=above)."]
    cells = _all_cells(tables)
    assert not [c for c in cells if "nan" in c.lower() or "grand median" in c], "a cell leaks a raw value or a sentence"
    # counts are integers wherever they appear
    for t in tables.values():
        for col in ("n", "n test", "n pairs", "n images", "n dropped"):
            if col in t.frame:
                assert t.frame[col].str.replace(",", "").str.isdigit().all(), (t.name, col, t.frame[col].tolist())
    assert tables["tableS3"].frame.set_index("clinical label").loc["b", "n (LMI/TII)"] == "4/4"  # specificity stays defined
