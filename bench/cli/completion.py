"""`bench completion SHELL`: the shell-completion script of the `bench` command (Click's)."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx, shell):
    """Print the completion script for SHELL. Install it with

    \b
        bash: eval "$(bench completion bash)"      (in ~/.bashrc)
        zsh:  eval "$(bench completion zsh)"       (in ~/.zshrc)
        fish: bench completion fish > ~/.config/fish/completions/bench.fish

    Commands, options, choices, workload and file names then complete with TAB.
    """
    script = get_completion_class(shell)(ctx.find_root().command, {}, "bench", "_BENCH_COMPLETE")
    click.echo(script.source())
