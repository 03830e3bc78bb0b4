"""The cpu-tier leaderboard beside published full-scale results, as a Markdown table (issue 21).

    python scripts/reference/fidelity.py results/reference/self/leaderboard.json [--out FILE.md]

LEADERBOARD is a leaderboard.json that `bench score` wrote (scripts/reference/run.py writes
results/reference/<ruleset>/leaderboard.json). Its scores are set beside the published results
of the same tuning ruleset (bench/data/published/*.toml: AlgoPerf v0.5 and v0.6 leaderboards, the
learning-rate-free study's findings), with a verdict per submission and Kendall's tau-b over the
submissions present in both (`bench.fidelity`). The leaderboard's bootstrap intervals, when it
has them, tell a tie within the cpu tier's noise from an order. Prints the table; `--out` also
writes it. Exit status 2 on a file it cannot read.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from bench import fidelity, ranking  # noqa: E402


def read_leaderboard(path: Path) -> ranking.Ranking:
    """The scores, bootstrap intervals and ruleset of a leaderboard.json."""
    try:
        board = ranking.read_ranking(path)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if board.ruleset is None:
        raise click.UsageError(f"{path} is not a leaderboard.json of `bench score`: "
                               "it names no ruleset")
    return board


@click.command(help=__doc__.split("\n\n")[0])
@click.argument("leaderboard", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the table to this Markdown file.")
def main(leaderboard, out):
    board = read_leaderboard(leaderboard)
    text = (f"cpu tier: {leaderboard} ({board.ruleset} ruleset)\n\n"
            + fidelity.markdown(board.scores, board.ruleset, fidelity.load_published(),
                                board.intervals))
    click.echo(text, nl=False)
    if out:
        out.write_text(text)


if __name__ == "__main__":
    main()
