"""The report's HTML pieces: escaping, medseglab's Markdown subset, tables, data-URI images."""

from __future__ import annotations

import base64

import pandas as pd

from medseglab.report import html as H


def test_markdown_tables_lists_headings_and_escaping():
    text = ("### Table 1. skin <b>\n\n| a | b \\| c |\n| --- | --- |\n| 1 | <script>x</script> |\n\n"
            "- note with `code`\n- second\n\nA paragraph\nover two lines.\n")
    out = H.markdown(text)
    assert "<h5>Table 1. skin &lt;b&gt;</h5>" in out  # ### moved down two levels under the section's h2
    assert "<th>b | c</th>" in out  # an escaped pipe stays inside its cell
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert out.count("<tr>") == 2  # header + one row; the --- line is no row
    assert "<li>note with <code>code</code></li>" in out
    assert "<p>A paragraph over two lines.</p>" in out


def test_frame_table_rounds_and_says_how_many_rows_were_left_out():
    frame = pd.DataFrame({"x": [0.123456789, float("nan")] + [1.0] * 8, "name": ["<a>"] * 10})
    out = H.frame_table(frame, max_rows=3)
    assert "0.1235" in out and "&lt;a&gt;" in out
    assert out.count("<tr>") == 4 and "first 3 of 10 rows" in out
    assert "(no rows)" in H.frame_table(frame.iloc[:0])


def test_image_is_a_data_uri_and_the_page_fetches_nothing():
    png = b"\x89PNG\r\n\x1a\nfake"
    fig = H.image(png, "a < b", "caption")
    assert f"src='data:image/png;base64,{base64.b64encode(png).decode()}'" in fig and "alt='a &lt; b'" in fig
    page = H.page("T", "sub", ["SYNTHETIC"], [("s", "S")], ["<section></section>"])
    assert "default-src 'none'" in page and "<script" not in page and "http" not in page.replace("http-equiv", "")


def test_flatten_nested_json():
    assert H.flatten({"a": {"b": 1, "c": [1, 2]}, "d": [{"e": 3}]}) == [("a.b", 1), ("a.c", "1, 2"), ("d.0.e", 3)]


def test_missing_names_the_command():
    out = H.missing("Learning curves", "medseglab stats --dataset skin")
    assert "not computed for this study" in out and "<code>medseglab stats --dataset skin</code>" in out
