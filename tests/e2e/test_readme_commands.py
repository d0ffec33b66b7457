"""The README's store-registration walk-through, typed as a new user types it, does what the README says.

The commands are read out of README.md itself on every run, never copied here, so a README edit that breaks
a command breaks this test:

- the runner's command line, the first `commerce-sync-local` line of the ```sh block under "Running it
  locally against your own payloads" (`.venv/bin/commerce-sync-local --port 3000`, moto and the bundled
  Mailchimp emulator);
- the Shopify stand-in's command line, quoted in the prose of "Register a store"
  (`.venv/bin/python -m emulators.shopify --port 8402 ... --sample`);
- the ```sh block of "Register a store" that holds `add-store`: every command in it runs, except the two
  lines that cannot work offline as written (LEFT_OUT_OFFLINE names them, and each must match exactly one
  command, so nothing else can slip out).
- then the ```sh block of "Connect a store's own Mailchimp account", every command of it, and the link
  `connect-mailchimp` prints, opened as the merchant's browser would (the bundled emulator plays Mailchimp's
  login server): my-shop then writes to the emulator's second account, `merchant-account`.

Everything runs as a real process, from a temporary directory that holds only a symlink `.venv` to the
project's virtualenv, so `.venv/bin/...` and `.local/runner.env` resolve as the README writes them, and the
files the commands make (`secret.txt`, `.local/`) land there. `python -m emulators.shopify` needs no
PYTHONPATH from there: the editable install maps the project's top-level packages (`emulators` among them)
wherever the interpreter starts, as it does for a user in the project root. The processes get a new user's
shell environment (USER_SHELL_VARIABLES), not this test process's, which holds the settings of the runner
other tests start in the same worker; PYTHONUNBUFFERED=1 stands in for the terminal, so the runner's
"Mailchimp emulator on <url>" line arrives when printed rather than when its pipe buffer fills.

Each command of the block runs in a `bash -e -o pipefail -c` of its own, byte for byte (continuation lines
and trailing comments included), and they run in order, stopping at the first that fails (the block's
commands keep no shell state between them: no variables, no `cd`). Each runs in a new session, without a
controlling terminal, so `getpass` reads its prompt's answer from stdin: `stores set-credentials my-shop`,
which the README says prompts for the access token, gets the stand-in's `--access-token` there, and every
other command gets an empty stdin, so a prompt the README does not mention fails the command.

What it proves: the runner, the stand-in and every command run offline exactly as printed, each command exits 0
and prints what the README's comments promise (`prints "..."`); Mailchimp then holds store my-shop under the
updated name with every product of the stand-in's sample catalog (the sync ran); `stores list` names my-shop,
`stores show` its secret's key names; catalog-status shows the run; backfill brought the stand-in's sample order
history (its orders and customers, is_syncing off again); reconcile then repaired nothing and found every webhook
subscription `webhooks --create` made; and neither the access token nor the webhook secret in secret.txt appears
in any output, the runner's included.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from commerce_sync.platforms.shopify.webhooks import SUBSCRIBED_TOPICS

from emulators.shopify.discounts import sample_price_rules
from emulators.shopify.fixtures import sample_catalog
from emulators.shopify.history import sample_history
from tests.paths import PROJECT

README = PROJECT / "README.md"
RUNNER_SECTION = "## Running it locally against your own payloads"
REGISTER_SECTION = "### Register a store"
CONNECT_SECTION = "### Connect a store's own Mailchimp account"
MERCHANT_ACCOUNT = "merchant-account"

STORE_ID = "my-shop"
UPDATED_STORE_NAME = "My Shop EU"

# The block's commands that cannot work offline as written, each matched on its own (and required to match
# exactly one command): everything else in the block runs.
LEFT_OUT_OFFLINE = {
    "rotate mailchimp-key --stdin < key.txt": "key.txt must hold a Mailchimp API key the user made in Mailchimp",
    "rotate bigcommerce-client-secret my-bc-store": "my-bc-store is a BigCommerce store the block never registers",
}

# What a new user's shell has; the rest of this process's environment is the test session's own.
USER_SHELL_VARIABLES = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "PYTHONDONTWRITEBYTECODE",
)

RUNNER_READY_SECONDS = 40.0
STAND_IN_READY_SECONDS = 15.0
COMMAND_SECONDS = 40.0
STOP_SECONDS = 10.0

Ready = TypeVar("Ready")


# ---- reading the README ------------------------------------------------------------------------------------


def readme_section(heading: str) -> str:
    """The README's text from `heading` to the next heading of the same or a higher level (code blocks'
    `#` lines are not headings)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    assert heading in lines, f"README.md has no heading {heading!r}"
    start = lines.index(heading)
    depth = len(heading) - len(heading.lstrip("#"))
    in_code = False
    for index in range(start + 1, len(lines)):
        if lines[index].startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(rf"#{{1,{depth}}} ", lines[index]):
            return "\n".join(lines[start:index])
    return "\n".join(lines[start:])


def sh_blocks(section: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)


def shell_commands(block: str) -> list[str]:
    """The block's commands as bash reads them: a line ending in a backslash continues on the next; lines
    holding only a comment run nothing."""
    commands: list[str] = []
    pending: list[str] = []
    for line in block.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending.append(line)
        if not line.endswith("\\"):
            commands.append("\n".join(pending))
            pending = []
    assert not pending, f"the block ends inside a continued command: {pending}"
    return commands


def runner_command_line() -> str:
    """The README's first `commerce-sync-local` line: the one with the bundled Mailchimp emulator."""
    lines = [
        line
        for block in sh_blocks(readme_section(RUNNER_SECTION))
        for line in block.splitlines()
        if line.startswith(".venv/bin/commerce-sync-local")
    ]
    assert lines, f"no .venv/bin/commerce-sync-local line in the README's {RUNNER_SECTION!r}"
    assert "--mailchimp-api-url" not in lines[0], (
        f"the first runner line no longer uses the bundled emulator: {lines[0]}"
    )
    return lines[0]


def stand_in_command_line() -> str:
    """The Shopify stand-in's command line, as the prose of "Register a store" quotes it (a line break in
    the Markdown source is a space to the reader and to the shell)."""
    found = re.search(r"`(\.venv/bin/python -m emulators\.shopify [^`]*)`", readme_section(REGISTER_SECTION))
    assert found, f"no `.venv/bin/python -m emulators.shopify ...` in the README's {REGISTER_SECTION!r}"
    return " ".join(found.group(1).split())


def walkthrough_commands() -> list[str]:
    blocks = [block for block in sh_blocks(readme_section(REGISTER_SECTION)) if "add-store" in block]
    assert blocks, f"no ```sh block with add-store in the README's {REGISTER_SECTION!r}"
    assert "sync-catalog" in blocks[0], "the walk-through block no longer runs sync-catalog"
    commands = shell_commands(blocks[0])
    # Each command runs in a shell of its own: one that may set shell state for the next would need one shell.
    setting_state = re.compile(r"\s*(?:(?:cd|export|source|\.|alias|set)\s|\w+=)")
    keeping_state = [command for command in commands if setting_state.match(command)]
    assert not keeping_state, f"commands that set shell state for the next: {keeping_state}"
    return commands


def connect_commands() -> list[str]:
    """The ```sh block of "Connect a store's own Mailchimp account", every command of it."""
    blocks = sh_blocks(readme_section(CONNECT_SECTION))
    assert len(blocks) == 1, f"the README's {CONNECT_SECTION!r} should hold one ```sh block"
    commands = shell_commands(blocks[0])
    assert any("connect-mailchimp" in command for command in commands), "the block no longer prints the link"
    return commands


def option(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} is missing from {shlex.join(argv)}"
    return argv[argv.index(name) + 1]


def is_left_out(command: str) -> bool:
    return any(line in command for line in LEFT_OUT_OFFLINE)


def prompts_for_access_token(command: str) -> bool:
    """`stores set-credentials <store>` without --stdin: the README says it prompts for the access token."""
    words = shlex.split(command, comments=True)
    return "set-credentials" in words and "--stdin" not in words


def promised_outputs(command: str) -> list[str]:
    """What the command's comment says it prints: `# ...: prints "store my-shop updated: ..."`."""
    return re.findall(r'#.*?\bprints "([^"]+)"', command)


# ---- processes ---------------------------------------------------------------------------------------------


def new_user_environment() -> dict[str, str]:
    environment = {name: os.environ[name] for name in USER_SHELL_VARIABLES if name in os.environ}
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def fail_if_port_taken(port: int, whose: str) -> None:
    """The README fixes the ports; another program on one must fail the test at once, naming it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is no obstacle
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            taken = error
        else:
            return
    pytest.fail(f"port {port}, which the README gives {whose}, is already taken on this machine ({taken})")


class BackgroundProcess:
    """A long-running README command (the runner, the stand-in) with its output read as it comes."""

    def __init__(self, name: str, command_line: str, cwd: Path) -> None:
        self.name = name
        self.command_line = command_line
        self.process = subprocess.Popen(
            shlex.split(command_line, comments=True),
            cwd=cwd,
            env=new_user_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: the runner's function containers with it
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, name=f"{name}-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def wait_for(self, what: str, ready: Callable[[], Ready | None], timeout: float) -> Ready:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} ({self.command_line}) exited with {self.process.returncode} before {what}:\n"
                    f"{self.output}"
                )
            value = ready()
            if value is not None:
                return value
            time.sleep(0.1)
        pytest.fail(f"{self.name} ({self.command_line}): no {what} after {timeout:.0f} s:\n{self.output}")

    def stop(self) -> None:
        """Ctrl-C, as the user stops it; the whole process group is killed if that does not end it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_SECONDS)
        self._reader.join(STOP_SECONDS)
        if self.process.stdout is not None:
            self.process.stdout.close()


def answer_of(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=2)
    except requests.ConnectionError:
        return None


@dataclass
class RunningRunner:
    process: BackgroundProcess
    url: str
    mailchimp_api_url: str

    def mailchimp_state(self, account: str | None = None) -> dict[str, Any]:
        query = {"account": account} if account else None
        answer = requests.get(
            f"{self.mailchimp_api_url.removesuffix('/3.0')}/_emulator/state", params=query, timeout=10
        )
        answer.raise_for_status()
        state: dict[str, Any] = answer.json()
        return state


@dataclass
class CommandRun:
    command: str
    returncode: int
    stdout: str
    stderr: str

    def transcript(self) -> str:
        return f"$ {self.command}\n[exit {self.returncode}]\n{self.stdout}{self.stderr}"


def run_of(runs: list[CommandRun], subcommand: str) -> CommandRun:
    """The one run of the block whose command is `subcommand` (a word of its command line)."""
    matching = [run for run in runs if subcommand in shlex.split(run.command, comments=True)]
    assert len(matching) == 1, f"{len(matching)} commands of the block run {subcommand}"
    return matching[0]


def run_as_typed(command: str, cwd: Path, typed: str | None) -> CommandRun:
    """One command of the block, byte for byte, with `typed` as the answer to its prompt (no terminal: a new
    session has no /dev/tty, so getpass reads stdin)."""
    try:
        finished = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", command],
            cwd=cwd,
            env=new_user_environment(),
            input=typed if typed is not None else "",
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(f"still running after {COMMAND_SECONDS:.0f} s: {command}\n{timeout.stdout!r}\n{timeout.stderr!r}")
    return CommandRun(command, finished.returncode, finished.stdout, finished.stderr)


# ---- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture
def user_directory(tmp_path: Path) -> Path:
    """Where the user types the commands: `.venv` is the project's virtualenv, and nothing else is there."""
    (tmp_path / ".venv").symlink_to(PROJECT / ".venv", target_is_directory=True)
    return tmp_path


@pytest.fixture
def local_runner(user_directory: Path) -> Iterator[RunningRunner]:
    command_line = runner_command_line()
    port = int(option(shlex.split(command_line, comments=True), "--port"))
    fail_if_port_taken(port, "the local runner")
    runner = BackgroundProcess("the local runner", command_line, user_directory)
    try:
        announced = runner.wait_for(
            '"Mailchimp emulator on <url>"',
            lambda: re.search(r"^Mailchimp emulator on (\S+)", runner.output, flags=re.MULTILINE),
            RUNNER_READY_SECONDS,
        )
        env_file = user_directory / ".local" / "runner.env"
        runner.wait_for(".local/runner.env", lambda: env_file.exists() or None, RUNNER_READY_SECONDS)
        settings = dict(re.findall(r"^export (\w+)=(.*)$", env_file.read_text(), flags=re.MULTILINE))
        url = f"http://127.0.0.1:{port}"
        assert settings.get("LOCAL_RUNNER_URL") == url, f".local/runner.env names another runner: {settings}"

        def answers_status() -> bool | None:
            answer = answer_of(f"{url}/_local/status")
            return True if answer is not None and answer.ok and "idle" in answer.json() else None

        runner.wait_for(f"answer from GET {url}/_local/status", answers_status, RUNNER_READY_SECONDS)
        yield RunningRunner(process=runner, url=url, mailchimp_api_url=announced.group(1))
    finally:
        runner.stop()


@pytest.fixture
def shopify_stand_in(user_directory: Path) -> Iterator[BackgroundProcess]:
    command_line = stand_in_command_line()
    port = int(option(shlex.split(command_line), "--port"))
    fail_if_port_taken(port, "the Shopify stand-in")
    stand_in = BackgroundProcess("the Shopify stand-in", command_line, user_directory)
    try:
        stand_in.wait_for(
            f"answer on 127.0.0.1:{port}",
            lambda: answer_of(f"http://127.0.0.1:{port}/admin/api/2025-01/shop.json"),
            STAND_IN_READY_SECONDS,
        )
        yield stand_in
    finally:
        stand_in.stop()


# ---- the test ----------------------------------------------------------------------------------------------


def test_the_readme_walkthrough_typed_literally_registers_and_syncs_my_shop(
    local_runner: RunningRunner, shopify_stand_in: BackgroundProcess, user_directory: Path
) -> None:
    access_token = option(shlex.split(shopify_stand_in.command_line), "--access-token")
    commands = walkthrough_commands()
    for line in LEFT_OUT_OFFLINE:
        matching = [command for command in commands if line in command]
        assert len(matching) == 1, f"{line!r} should match exactly one command of the block, matches {matching}"
    to_run = [command for command in commands if not is_left_out(command)]
    assert len(to_run) == len(commands) - len(LEFT_OUT_OFFLINE)
    assert sum(map(prompts_for_access_token, to_run)) == 1, "the block should prompt for the access token once"

    runs: list[CommandRun] = []
    for command in to_run:
        run = run_as_typed(command, user_directory, f"{access_token}\n" if prompts_for_access_token(command) else None)
        runs.append(run)
        if run.returncode != 0:
            earlier = "\n".join(f"$ {done.command}" for done in runs[:-1]) or "(none)"
            pytest.fail(
                f"a README command failed as typed:\n{run.transcript()}\ncommands that ran before it:\n{earlier}"
            )
        for promised in promised_outputs(command):
            assert promised in run.stdout, f"the README says it prints {promised!r}:\n{run.transcript()}"
    assert [run.command for run in runs] == to_run

    prompted = next(run for run in runs if prompts_for_access_token(run.command))
    assert "access token" in prompted.stderr, f"set-credentials should have prompted for it:\n{prompted.transcript()}"

    mailchimp_store = local_runner.mailchimp_state()["stores"].get(STORE_ID)
    assert mailchimp_store is not None, f"Mailchimp holds no store {STORE_ID}"
    assert mailchimp_store["store"]["name"] == UPDATED_STORE_NAME
    catalog_ids = {str(product["id"]) for product in sample_catalog()}
    assert set(mailchimp_store["products"]) == catalog_ids, "Mailchimp should hold the stand-in's sample catalog"
    # sync-catalog brought its discounts too, but the buy X get Y one (docs/promotions.md).
    rules = {str(rule["id"]) for rule, _ in sample_price_rules() if rule["title"] != "BUY2GET1"}
    assert set(mailchimp_store["promo_rules"]) == rules, "Mailchimp should hold the stand-in's price rules"

    # backfill brought the stand-in's sample history (emulators.shopify.history.sample_history), quietly.
    customers, orders = sample_history()
    assert set(mailchimp_store["orders"]) == {str(order["id"]) for order in orders}, "backfill: orders"
    assert len(mailchimp_store["customers"]) == len(customers), "backfill: customers"
    assert mailchimp_store["store"]["is_syncing"] is False
    backfilled = run_of(runs, "backfill").stdout
    assert f"{STORE_ID}: backfill done in" in backfilled and f"orders {len(orders)} written" in backfilled, backfilled

    # reconcile found nothing missed after the backfill, and every Shopify subscription `webhooks --create` made.
    reconciled = run_of(runs, "reconcile").stdout
    assert "repaired 0; failed 0" in reconciled, reconciled
    topics = len(SUBSCRIBED_TOPICS)
    assert f"webhooks: {topics} topics, {topics} active, 0 reactivated, 0 missing" in reconciled, reconciled
    stand_in_port = option(shlex.split(shopify_stand_in.command_line), "--port")
    subscribed = requests.get(
        f"http://127.0.0.1:{stand_in_port}/admin/api/2025-01/webhooks.json",
        params={"limit": 250},
        headers={"X-Shopify-Access-Token": access_token},
        timeout=10,
    ).json()["webhooks"]
    runner_port = option(shlex.split(runner_command_line()), "--port")
    assert {item["address"] for item in subscribed} == {f"http://127.0.0.1:{runner_port}/webhooks/shopify"}
    assert len(subscribed) == len(SUBSCRIBED_TOPICS), subscribed

    listed = run_of(runs, "list").stdout
    shown = run_of(runs, "show").stdout
    assert re.search(
        r"^secret keys:\s+kind, platform_api_credentials \(access_token\), webhook_secret$", shown, re.M
    ), shown
    assert re.search(rf"^{STORE_ID}\s+shopify:my-shop\.myshopify\.com\s", listed, flags=re.MULTILINE), listed
    status = run_of(runs, "catalog-status").stdout
    finished_row = rf"^{STORE_ID}\s+\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+{len(catalog_ids)}\s"
    assert re.search(finished_row, status, flags=re.MULTILINE), f"catalog-status shows no finished run:\n{status}"

    webhook_secret = (user_directory / "secret.txt").read_text().strip()
    assert len(webhook_secret) == 64
    outputs = {run.command: run.stdout + run.stderr for run in runs} | {"the local runner": local_runner.process.output}
    for secret_name, secret in (("the access token", access_token), ("the webhook secret", webhook_secret)):
        leaked = [where for where, output in outputs.items() if secret in output]
        assert not leaked, f"{secret_name} appears in the output of {leaked}"

    # Then "Connect a store's own Mailchimp account", in the same directory against the same runner.
    connected: list[CommandRun] = []
    for command in connect_commands():
        run = run_as_typed(command, user_directory, None)
        connected.append(run)
        if run.returncode != 0:
            pytest.fail(f"a README command failed as typed:\n{run.transcript()}")
        for promised in promised_outputs(command):
            assert promised in run.stdout, f"the README says it prints {promised!r}:\n{run.transcript()}"
    link = run_of(connected, "connect-mailchimp").stdout.strip().splitlines()[-1]
    assert link.startswith(f"{local_runner.url}/connect/mailchimp/{STORE_ID}?invite="), link
    page = requests.get(link, timeout=30)  # the merchant's browser, through Mailchimp's (the emulator's) login
    assert page.status_code == 200, page.text
    assert f"Store {STORE_ID} now writes to Mailchimp account" in page.text
    assert STORE_ID in local_runner.mailchimp_state(MERCHANT_ACCOUNT)["stores"], "the merchant's account lacks my-shop"
    assert MERCHANT_ACCOUNT in run_of(connected, "status").stdout
    for run in connected:
        assert "local-oauth-client-secret" not in run.stdout + run.stderr, run.transcript()
