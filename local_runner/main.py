"""`commerce-sync-local`: serve template.yaml's routes on 127.0.0.1 against a Mailchimp URL.

    commerce-sync-local --port 3000 --mailchimp-api-url http://127.0.0.1:8400/3.0

With no --mailchimp-api-url (and no MAILCHIMP_API_URL), the bundled Mailchimp emulator is started
too. The operator CLI's settings are written to runner.env in the state directory (--state-dir, default
.local in the current directory) for `commerce-sync --env-file`, so two runners in one checkout each
keep their own.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path

# In AWS each function has its own service name; in one local process they share Powertools' logger.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "commerce-sync-local")

from commerce_sync.accounts.oauth import CALLBACK_PATH

from local_runner.runner import LocalRunner, RunnerConfig

DEMO_API_KEY = "0123456789abcdef0123456789abcdef-us6"
# The bundled emulator's second account and OAuth app (README, "Connect a store's own Mailchimp account").
MERCHANT_ACCOUNT = "merchant-account"
MERCHANT_API_KEY = "fedcba9876543210fedcba9876543210-us6"
LOCAL_OAUTH_CLIENT_ID = "commerce-sync-local"
LOCAL_OAUTH_CLIENT_SECRET = "local-oauth-client-secret"
STATE_DIR = Path(".local")
ENV_FILE_NAME = "runner.env"


def write_env_file(runner: LocalRunner, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"export {name}={value}" for name, value in sorted(runner.operator_environment().items())]
    # Whole or not at all: whoever waits for the file (a test, a script, the operator CLI) may read it the moment
    # it appears, and write_text creates it empty before writing.
    partial = path.with_name(path.name + ".partial")
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="commerce-sync-local", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--mailchimp-api-url", default=os.environ.get("MAILCHIMP_API_URL"))
    parser.add_argument("--aws-endpoint-url", help="an AWS endpoint already running (default: start moto)")
    parser.add_argument("--retry-delay", type=int, default=2, help="seconds before a failed record is retried")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=STATE_DIR,
        help="where the operator CLI's settings (runner.env) are written (default: .local)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="at most N invocations of one function at once (default: the template's concurrency, "
        "or 10 for a function without reserved concurrency)",
    )
    parser.add_argument(
        "--serial",
        action="store_true",
        help="run every invocation in this process, one at a time (for a debugger; races cannot show)",
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    api_key = os.environ.get("MAILCHIMP_API_KEY", DEMO_API_KEY)
    emulator = None
    mailchimp_url = arguments.mailchimp_api_url
    login_url = None
    if not mailchimp_url:
        from emulators.mailchimp import MailchimpEmulator

        emulator = MailchimpEmulator(api_key=api_key, account_id="local-account", host=arguments.host, port=0)
        emulator.start()
        mailchimp_url = emulator.base_url
        login_url = emulator.login_url
        print(f"Mailchimp emulator on {mailchimp_url} (state: {mailchimp_url.removesuffix('/3.0')}/_emulator/state)")
        # A merchant's own account and an OAuth app, so that connecting a store's own Mailchimp account
        # (README, docs/mailchimp-accounts.md) works offline; the merchant is logged in and allows access.
        emulator.add_account(MERCHANT_ACCOUNT, MERCHANT_API_KEY, account_name="Merchant's own account")
        emulator.oauth_login_as(MERCHANT_ACCOUNT)

    runner = LocalRunner(
        RunnerConfig(
            mailchimp_api_url=mailchimp_url,
            mailchimp_api_key=api_key,
            mailchimp_login_url=login_url,
            host=arguments.host,
            port=arguments.port,
            aws_endpoint_url=arguments.aws_endpoint_url,
            retry_delay_seconds=arguments.retry_delay,
            concurrency=arguments.concurrency,
            serial=arguments.serial,
        )
    ).start()
    env_file = write_env_file(runner, arguments.state_dir / ENV_FILE_NAME)
    if emulator:
        emulator.register_oauth_app(LOCAL_OAUTH_CLIENT_ID, LOCAL_OAUTH_CLIENT_SECRET, f"{runner.url}{CALLBACK_PATH}")
        print(
            f"Mailchimp emulator: a merchant's own account {MERCHANT_ACCOUNT} (API key {MERCHANT_API_KEY}), logged in "
            f"at its login server; OAuth app {LOCAL_OAUTH_CLIENT_ID} (client secret {LOCAL_OAUTH_CLIENT_SECRET})"
        )
    print(f"webhooks: POST {runner.url}/webhooks/{{platform}}")
    print(f"AWS (moto): {runner.aws_endpoint_url}; operator CLI settings in {env_file}")
    print(f"register a store: commerce-sync --env-file {env_file} add-store --help")
    print(f"wait until every queue is drained: commerce-sync --env-file {env_file} status --wait-idle")

    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    runner.stop()
    if emulator:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
