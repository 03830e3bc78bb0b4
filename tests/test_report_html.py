"""The static leaderboard page: parsed as HTML, checked against the scores worked out by hand."""

import json
import math
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench import report_html
from tests.record_factory import real_record, variant, write_all

# submission -> workload -> per study the trial times (None: a miss).
# Medians over studies of each study's fastest trial, by hand:
#   fast: tiny  median(2, 5) = 3.5;  tiny2 median(4, 4.5) = 4.25
#   slow: tiny  median(3, 6) = 4.5;  tiny2 every study missed: inf
TIMES = {"fast": {"tiny": [[2.0, 3.0], [5.0, None]], "tiny2": [[4.0], [4.5]]},
         "slow": {"tiny": [[3.0], [None, 6.0]], "tiny2": [[None], [None]]}}
MEDIANS = {("fast", "tiny"): 3.5, ("fast", "tiny2"): 4.25, ("slow", "tiny"): 4.5,
           ("slow", "tiny2"): math.inf}


class Page(HTMLParser):
    """Tags with their attributes, and the text of every table's cells by table id."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.tables, self.stack, self.cell = [], {}, [], None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self.stack.append(self.tables.setdefault(attrs.get("id", f"t{len(self.tables)}"), []))
        elif tag == "tr" and self.stack:
            self.stack[-1].append([])
        elif tag in ("td", "th") and self.stack:
            self.cell = {"text": "", **attrs}
            self.stack[-1][-1].append(self.cell)

    def handle_endtag(self, tag):
        if tag == "table" and self.stack:
            self.stack.pop()
        elif tag in ("td", "th"):
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell["text"] += data


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    seed = real_record(root / "seed")
    records = [variant(seed, submission=s, workload=w, study=k, trial=n, time=t)
               for s, by_workload in TIMES.items() for w, studies in by_workload.items()
               for k, times in enumerate(studies) for n, t in enumerate(times)]
    write_all(root / "results", records)
    page = report_html.build([root / "results"], root / "site", bootstrap_samples=50,
                             command="bench report results --out site")
    return page, Page(page.read_text()), records


def test_page_is_self_contained(site):
    page, parsed, _ = site
    assert page.name == "index.html"
    for tag, attrs in parsed.tags:
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not value.startswith(("http:", "https:", "//")), (tag, attrs)
        assert not (tag == "script" and "src" in attrs)
        assert not (tag == "link" and attrs.get("rel") == "stylesheet")
    text = page.read_text()
    assert "<style>" in text and "<script>" in text and "addEventListener" in text


def test_leaderboard_cells_hold_the_medians_and_sort_keys(site):
    _, parsed, _ = site
    header, *rows = parsed.tables["leaderboard"]
    names = [cell["text"] for cell in header]
    assert names[:3] == ["submission", "score", "95% CI"]
    assert set(names[3:]) == {"tiny", "tiny2"}
    assert [row[0]["text"] for row in rows] == ["fast", "slow"]  # by score
    for row in rows:
        for column, cell in zip(names[3:], row[3:]):
            assert float(cell["data-value"]) == MEDIANS[(row[0]["text"], column)]
    miss = rows[1][names.index("tiny2")]
    assert "miss" in miss["text"] and "miss" in miss["class"]
    assert rows[0][names.index("tiny")]["text"] == "3.50s (1.00)"  # full figures, ratio 3.5/3.5


def test_plots_protocol_and_hardware_are_in_the_page(site):
    page, parsed, records = site
    text = page.read_text()
    profile = text[text.index('id="profile"'):text.index('id="protocol"')]
    assert "<svg" in profile and "</svg>" in profile
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) == 2 and all(a["src"].startswith("data:image/png;base64,") for a in images)
    protocol = {row[0]["text"]: row[1]["text"] for row in parsed.tables["protocol-table"]}
    assert protocol["ruleset"] == "external tuning" and protocol["rules version"] == "cpu-v2"
    assert protocol["record schema"] == "1"
    hardware = parsed.tables["hardware-table"]
    assert hardware[1][0]["text"] == records[0]["hardware"]["fingerprint"]


def test_every_trial_links_to_a_copy_of_its_record(site):
    page, parsed, records = site
    links = [attrs["href"] for tag, attrs in parsed.tags if tag == "a"]
    assert len(links) == len(records) == 11
    copied = [json.loads((page.parent / link).read_text()) for link in links]
    place = lambda r: (r["submission"], r["workload"], r["study"], r["trial"])  # noqa: E731
    assert sorted(map(place, copied)) == sorted(map(place, records))
    assert all(not Path(link).is_absolute() for link in links)
