"""The benchmark line chart is well-formed SVG with round axis ticks."""

import xml.etree.ElementTree as ET

from pipeline.bench.svg import _ticks, line

NS = "{http://www.w3.org/2000/svg}"


def test_ticks_are_round_and_cover_the_top():
    assert _ticks(98_000) == [0, 20_000, 40_000, 60_000, 80_000, 100_000]
    assert _ticks(7.3) == [0, 2, 4, 6, 8]
    assert _ticks(0) == [0.0]


def test_a_polyline_per_series_through_every_point_a_legend_and_the_band():
    read = [(0.0, 0), (30.0, 0), (31.0, 5000), (60.0, 95_000), (61.0, 100_000)]
    committed = [(0.0, 0), (31.0, 0), (40.0, 30_000), (61.0, 100_000)]
    root = ET.fromstring(line("a & b", [("read", read), ("committed", committed)], x_label="s", y_label="events",
                              band=(31.0, 60.0, "steady")))
    lines = root.findall(f"{NS}polyline")
    assert [len(p.get("points").split()) for p in lines] == [len(read), len(committed)]
    assert lines[0].get("stroke") != lines[1].get("stroke")
    assert root.find(f"{NS}rect") is not None
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert {"a & b", "steady", "100k", "read", "committed"} <= set(texts)
