"""One CLI style (issue 13): every command of `commerce-sync`, down to each subcommand, shows at least one example
in its help, each a command line that parses as typed, and takes `--json`. tests/e2e/test_cli_examples.py runs
every example against the local runner."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator

import pytest

from operator_cli.help_texts import LOCAL_COMMAND, example_lines
from operator_cli.main import parser


def leaf_commands(
    command: argparse.ArgumentParser | None = None, names: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command that runs something (no subcommands of its own), as the words that name it."""
    command = command or parser()
    groups = [action for action in command._actions if isinstance(action, argparse._SubParsersAction)]
    if not groups:
        yield names, command
        return
    for group in groups:
        for name, subcommand in group.choices.items():
            yield from leaf_commands(subcommand, (*names, name))


LEAVES = dict(leaf_commands())


def test_the_tree_is_walked_down_to_the_subcommands() -> None:
    # A walk that stopped at the top would pass every check below with a handful of commands.
    assert {("stores", "remove"), ("rotate", "store-secret"), ("privacy", "erase"), ("add-store",)} <= set(LEAVES)
    assert ("stores",) not in LEAVES and ("rotate",) not in LEAVES


@pytest.mark.parametrize("names", list(LEAVES), ids=" ".join)
def test_every_command_shows_an_example_that_parses_as_typed(names: tuple[str, ...]) -> None:
    lines = example_lines(LEAVES[names].epilog)
    assert lines, f"`commerce-sync {' '.join(names)} --help` shows no example (help_texts.example_options)"
    for line in lines:
        words = shlex.split(line)
        assert line.startswith(LOCAL_COMMAND) and words[0] == ".venv/bin/commerce-sync", line
        arguments = parser().parse_args(words[1:])
        assert arguments.run is LEAVES[names].get_default("run"), f"{line} runs another command than {names}"


@pytest.mark.parametrize("names", list(LEAVES), ids=" ".join)
def test_every_command_takes_json(names: tuple[str, ...]) -> None:
    options = {option for action in LEAVES[names]._actions for option in action.option_strings}
    assert "--json" in options, f"`commerce-sync {' '.join(names)}` has no --json"


def test_a_missing_example_is_caught() -> None:
    """The walk sees a command added without examples (as a new command would be)."""
    root = parser()
    group = next(action for action in root._actions if isinstance(action, argparse._SubParsersAction))
    group.add_parser("without-examples")
    assert not example_lines(dict(leaf_commands(root))[("without-examples",)].epilog)
