"""A leaderboard as one self-contained static HTML page.

`write_report(records, out_dir)` scores the records and writes `out_dir/index.html` with, inline
(no server, no network, nothing fetched: CSS and JavaScript in the page, plots as SVG or base64
PNG data):

- the leaderboard: score with its 95% interval and, per workload, the median over studies with
  its ratio to the best; every column sorts on a click on its header;
- the performance-profile plot and, per workload, the curves of every trial;
- the protocol (ruleset, measure, rules version, budgets and evaluation periods), the record
  schema and package versions, and the hardware fingerprints;
- per workload, a table of its trials linking to their records, which are copied under
  `out_dir/records/` in their usual layout so the folder can be moved or published as it is.
"""

from __future__ import annotations

import base64
import datetime
import html
import math
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from bench import reporting, scoring
from bench.trial.record import read_record, record_paths
from bench.scoring import Leaderboard

PAGE = "index.html"
RECORDS = "records"

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:0.5em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.sortable th{cursor:pointer;background:#f3f3f3;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}
table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
.miss{color:#a00}.plot svg,.plot img{max-width:100%;height:auto}
.meta td:first-child{font-weight:bold;white-space:nowrap}.warn{color:#a60}
"""

# Click a header: sort the rows by that column (numbers by value, misses last), again to reverse.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (header, column) {
    header.addEventListener("click", function () {
      var ascending = header.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[column], value = cell.getAttribute("data-value");
        return value === null ? cell.textContent.trim() : parseFloat(value);
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), order;
        if (typeof x === "number" && typeof y === "number") {
          if (isNaN(x) || isNaN(y)) { return isNaN(x) - isNaN(y); }
          order = x < y ? -1 : x > y ? 1 : 0;
        } else { order = String(x).localeCompare(String(y)); }
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def build(sources: Sequence[str | Path], out_dir: str | Path, *, ruleset: str | None = None,
          measure: str = "time", mixed_hardware: bool = False, bootstrap_samples: int = 1000,
          seed: int = 0, command: str | None = None) -> Path:
    """Score the records under `sources` and write the page into `out_dir`."""
    paths = list(record_paths(sources))
    records = [read_record(path) for path in paths]
    board = scoring.score(records, ruleset=ruleset, measure=measure,
                          mixed_hardware=mixed_hardware, bootstrap_samples=bootstrap_samples,
                          seed=seed)
    return write_report(board, records, out_dir, record_paths=paths, command=command)


def write_report(board: Leaderboard, records: Sequence[Mapping], out_dir: str | Path,
                 record_paths: Sequence[str | Path] = (), command: str | None = None) -> Path:
    """Write the page (and copies of the records it links to); returns the page's path.

    `record_paths[i]` is where `records[i]` was read from; without paths there are no links.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    links = copy_records(records, record_paths, out)
    with tempfile.TemporaryDirectory() as scratch:
        figures = render_figures(board, records, Path(scratch))
    page = out / PAGE
    page.write_text(render_page(board, records, figures, links, command))
    return page


def copy_records(records: Sequence[Mapping], paths: Sequence[str | Path], out: Path) -> list:
    """Copy each record under out/records/<ruleset>/<submission>/...; its link, or None."""
    links = []
    for record, path in zip(records, paths):
        relative = Path(RECORDS, record["ruleset"], record["submission"], record["workload"],
                        f"study_{record['study']}", f"trial_{record['trial']}.json")
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out / relative)
        links.append(relative.as_posix())
    return links + [None] * (len(records) - len(links))


def render_figures(board: Leaderboard, records: Sequence[Mapping], scratch: Path) -> dict:
    """The profile as inline SVG markup and each workload's curves as a PNG data URL."""
    figures = {}
    for path in reporting.plot_profiles(board, scratch):
        if path.suffix == ".svg":
            text = path.read_text()
            figures["profile"] = text[text.index("<svg"):]
    for path in reporting.plot_curves(list(records), scratch, ruleset=board.ruleset):
        workload = path.stem.removeprefix("curves_")
        data = base64.b64encode(path.read_bytes()).decode()
        figures[workload] = f"data:image/png;base64,{data}"
    return figures


def render_page(board: Leaderboard, records: Sequence[Mapping], figures: Mapping,
                links: Sequence[str | None], command: str | None) -> str:
    title = f"Leaderboard: {board.ruleset} tuning, {board.measure} to target"
    chosen = [(r, link) for r, link in zip(records, links) if r["ruleset"] == board.ruleset]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        leaderboard_table(board),
        "<p>Cells: median over studies of each study's time to target (ratio to the best "
        "submission; a miss is infinite). Score: normalised area under the performance "
        "profile (1 = fastest on every workload), with its 95% bootstrap interval. Click a "
        "column's header to sort.</p>",
        *[f'<p class="warn">warning: {_e(w)}</p>' for w in board.warnings],
        '<h2 id="profile">Performance profile</h2>',
        f'<div class="plot">{figures.get("profile", "")}</div>',
        '<h2 id="protocol">Protocol and rules</h2>', protocol_table(board, chosen, command),
        '<h2 id="hardware">Hardware</h2>', hardware_table(r for r, _ in chosen),
        '<h2 id="workloads">Workloads</h2>',
    ]
    for workload in sorted({r["workload"] for r, _ in chosen}):
        parts.append(workload_section(workload, [(r, link) for r, link in chosen
                                                 if r["workload"] == workload], figures))
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def leaderboard_table(board: Leaderboard) -> str:
    columns = board.workloads + sorted(board.variants)
    head = ['<th>submission</th>', '<th class="num">score</th>', '<th class="num">95% CI</th>']
    head += [f'<th class="num">{_e(w)}{" (variant)" if w in board.variants else ""}</th>'
             for w in columns]
    rows = []
    for submission in board.submissions:
        low, high = board.intervals.get(submission, (math.nan, math.nan))
        score = board.scores[submission]
        cells = [f"<td>{_e(submission)}</td>", _num(score, f"{score:.3f}"),
                 _num(low, f"[{low:.3f}, {high:.3f}]")]
        for workload in columns:
            entry = board.entries[submission].get(workload)
            if entry is None:
                cells.append(_num(math.nan, "-"))
                continue
            text = reporting.format_value(entry.median, board.measure)
            ratio = board.ratios[submission].get(workload)
            if ratio is not None:
                text += f" ({reporting.format_ratio(ratio, entry.median)})"
            cells.append(_num(entry.median, text, miss=not math.isfinite(entry.median)))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ('<table class="sortable" id="leaderboard"><thead><tr>' + "".join(head)
            + "</tr></thead><tbody>" + "\n".join(rows) + "</tbody></table>")


def protocol_table(board: Leaderboard, chosen: Sequence, command: str | None) -> str:
    records = [r for r, _ in chosen]
    rules = sorted({r.get("rules", "cpu-v1") for r in records} | _board_rules(board))
    facts = [
        ("ruleset", f"{board.ruleset} tuning"),
        ("measure", f"{board.measure} to target (submission time: evaluation and "
                    "compilation not counted)" if board.measure == "time"
         else "steps to target"),
        ("rules version", ", ".join(rules)),
        ("record schema", ", ".join(sorted({str(r.get("schema_version")) for r in records}))),
        ("bench versions", ", ".join(sorted({str((r.get("versions") or {}).get("bench"))
                                             for r in records}))),
        ("git commits", ", ".join(sorted({str(r.get("git_commit")) for r in records}))),
        ("trials", f"{len(records)} records, finished "
                   f"{_span(r.get('finished_at') for r in records)}"),
        ("page written", datetime.datetime.now(datetime.timezone.utc)
         .isoformat(timespec="seconds")),
    ]
    if command:
        facts.append(("command", f"<code>{_e(command)}</code>"))
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{v if k == 'command' else _e(v)}</td></tr>"
                   for k, v in facts)
    return f'<table class="meta" id="protocol-table">{rows}</table>'


def hardware_table(records: Iterable[Mapping]) -> str:
    machines: dict[str, Mapping] = {}
    for record in records:
        hardware = record.get("hardware") or {}
        machines.setdefault(hardware.get("fingerprint", "?"), hardware)
    keys = ("fingerprint", "backend", "device_kind", "device_count", "cpu", "cpu_count")
    head = "".join(f"<th>{k.replace('_', ' ')}</th>" for k in keys)
    rows = "".join("<tr>" + "".join(f"<td>{_e(str(h.get(k, '-')))}</td>" for k in keys)
                   + "</tr>" for _, h in sorted(machines.items()))
    return f'<table id="hardware-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def workload_section(workload: str, chosen: Sequence, figures: Mapping) -> str:
    spec = chosen[0][0]["workload_spec"]
    protocol = chosen[0][0].get("protocol") or {}
    direction = ">=" if spec.get("higher_is_better", True) else "<="
    budget = protocol.get("max_runtime")
    facts = (f"target: validation {spec['target_metric']} {direction} "
             f"{spec['validation_target']}; step hint {spec.get('step_hint')}; budget "
             f"{'-' if budget is None else f'{budget:g} s'}; evaluation every "
             f"{protocol.get('eval_period') or '-'} s")
    image = figures.get(workload)
    plot = (f'<div class="plot"><img alt="{_e(workload)}: validation metric against submission '
            f'time, every trial" src="{image}"></div>') if image else ""
    head = ("<tr><th>submission</th><th class='num'>study</th><th class='num'>trial</th>"
            "<th>outcome</th><th class='num'>time to target</th><th class='num'>steps</th>"
            "<th>record</th></tr>")
    rows = []
    for record, link in sorted(chosen, key=lambda c: (c[0]["submission"], c[0]["study"],
                                                      c[0]["trial"])):
        time = record.get("time_to_target")
        anchor = f'<a href="{_e(link)}">{_e(Path(link).name)}</a>' if link else "-"
        rows.append(
            f"<tr><td>{_e(record['submission'])}</td>{_num(record['study'], str(record['study']))}"
            f"{_num(record['trial'], str(record['trial']))}<td>{_e(record['outcome'])}</td>"
            f"{_num(time, '-' if time is None else f'{time:.2f}s')}"
            f"{_num(record['steps'], str(record['steps']))}<td>{anchor}</td></tr>")
    return (f'<h3 id="workload-{_e(workload)}">{_e(workload)}</h3><p>{_e(facts)}</p>{plot}'
            f'<table class="sortable trials"><thead>{head}</thead><tbody>'
            + "\n".join(rows) + "</tbody></table>")


def _board_rules(board: Leaderboard) -> set[str]:
    rules = getattr(board, "rules", None)
    return {rules} if isinstance(rules, str) else set()


def _span(stamps: Iterable[str | None]) -> str:
    known = sorted(s for s in stamps if s)
    return f"{known[0]} to {known[-1]}" if known else "(unknown)"


def _num(value, text: str, miss: bool = False) -> str:
    """A right-aligned cell that sorts by `value` (NaN and None sort last, inf after numbers)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        sort = "NaN"
    elif isinstance(value, float) and math.isinf(value):
        sort = "Infinity" if value > 0 else "-Infinity"
    else:
        sort = repr(value)
    css = "num miss" if miss else "num"
    return f'<td class="{css}" data-value="{sort}">{_e(text)}</td>'


def _e(text) -> str:
    return html.escape(str(text), quote=True)
