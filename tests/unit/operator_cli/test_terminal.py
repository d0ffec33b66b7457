"""What the CLI writes, on a terminal and off one (operator_cli.terminal): tables as aligned plain text without colour
codes and never wrapped when piped, bold headers on a terminal; progress as bars on a terminal and as one plain line
per move when piped; data printed as it is, never read as rich markup."""

from __future__ import annotations

import io

from operator_cli.terminal import PIPE_WIDTH, ProgressBars, columns, print_table


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stdout is in an operator's shell."""

    def isatty(self) -> bool:
        return True


def test_a_piped_table_is_plain_aligned_and_one_line_a_row_however_wide() -> None:
    out = io.StringIO()
    long_error = "MailchimpError: " + "x" * (2 * PIPE_WIDTH)
    print_table(columns([("my-shop", "3", long_error), ("a[bold]b[/bold]", "12", "-")], "STORE", "N", "ERROR"), out)

    lines = out.getvalue().splitlines()
    assert "\x1b[" not in out.getvalue()
    assert lines == [
        "STORE            N   ERROR",
        f"my-shop          3   {long_error}",
        "a[bold]b[/bold]  12  -",
    ]


def test_numbers_columns_are_right_aligned() -> None:
    out = io.StringIO()
    print_table(columns([("a", "3"), ("b", "120")], "STORE", "SEEN", numbers=("SEEN",)), out)
    assert out.getvalue().splitlines() == ["STORE  SEEN", "a         3", "b       120"]


def test_a_table_on_a_terminal_has_bold_headers() -> None:
    out = Terminal()
    print_table(columns([("my-shop",)], "STORE"), out)
    assert "\x1b[1mSTORE" in out.getvalue() and "my-shop" in out.getvalue()


def test_a_sentence_standing_in_for_an_empty_table_is_printed_as_it_is() -> None:
    out = io.StringIO()
    print_table("no store is registered (register one with `commerce-sync add-store`)", out)
    assert out.getvalue() == "no store is registered (register one with `commerce-sync add-store`)\n"


def test_piped_progress_is_a_plain_line_per_move_and_notes_in_between() -> None:
    err = io.StringIO()
    with ProgressBars(err) as bars:
        bars.update("orders", "my-shop orders: 3/10 (30%), 3 written", "my-shop orders", 3, 10, "3 written")
        bars.note("my-shop: a slice failed (503); it is retried")
        bars.update("orders", "my-shop orders: 10/10 (100%), 10 written", "my-shop orders", 10, 10, "10 written")
    assert err.getvalue().splitlines() == [
        "my-shop orders: 3/10 (30%), 3 written",
        "my-shop: a slice failed (503); it is retried",
        "my-shop orders: 10/10 (100%), 10 written",
    ]


def test_progress_on_a_terminal_is_a_bar_not_lines() -> None:
    err = Terminal()
    with ProgressBars(err) as bars:
        bars.update("orders", "my-shop orders: 3/10", "my-shop orders", 3, 10, "3 written")
        bars.update("orders", "my-shop orders: 7/10", "my-shop orders", 7, 10, "7 written")
        bars.note("my-shop: a slice failed (503); it is retried")
    shown = err.getvalue()
    assert "my-shop orders" in shown and "7/10" in shown and "7 written" in shown
    assert "━" in shown, "a bar is drawn"
    assert "my-shop orders: 3/10" not in shown, "no plain progress line on a terminal"
    assert "my-shop: a slice failed (503); it is retried" in shown
