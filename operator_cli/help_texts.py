"""Help texts' examples: each is a command line that works as typed from the project's directory with the local
runner started (`.local/runner.env` is the file it writes); tests/e2e/test_cli_examples.py runs every one."""

from __future__ import annotations

import argparse
from typing import Any

# How the README types the CLI against the local runner; deployed, `--stack NAME` takes the place of --env-file.
LOCAL_COMMAND = ".venv/bin/commerce-sync --env-file .local/runner.env"
EXAMPLES_HEADING = "examples (local runner; for a deployed stack give --stack NAME instead of --env-file):"


def examples(*command_lines: str) -> str:
    """An epilog of examples, each `command_lines` item the words after the program and its settings."""
    return "\n".join([EXAMPLES_HEADING, *(f"  {LOCAL_COMMAND} {line}" for line in command_lines)])


class ExamplesFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps the description as argparse always does, and keeps the examples one a line: a command line wrapped
    in two could not be copied."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(EXAMPLES_HEADING):
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)


def example_options(*command_lines: str) -> dict[str, Any]:
    """add_parser's keywords for a command whose epilog shows `command_lines`."""
    return {"epilog": examples(*command_lines), "formatter_class": ExamplesFormatter}


def example_lines(epilog: str | None) -> list[str]:
    """The command lines of an epilog made by `examples`, as typed."""
    return [line.strip() for line in (epilog or "").splitlines() if line.strip().startswith(LOCAL_COMMAND)]
