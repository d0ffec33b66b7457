"""The log scan over a whole test run (issue 17, "Security and hygiene"): every line the functions log while the
suite runs — the runner's containers, as CloudWatch would receive them, and the in-process handlers' Powertools
logger — is scanned for e-mail addresses, Mailchimp API keys, platform access tokens and every secret the tests
registered. The findings fail the run at the end of the session (the runner fixture's teardown), each shown with
the secret masked and the test that was running.

A pattern, not a list of the tests' values alone: a secret a test made up without telling the harness (a key
added to the emulator, a token of a platform stand-in) is caught by its shape."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass

# An address as shoppers type them; what the redaction leaves (`<email>`) does not match.
EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Mailchimp API keys (32 hex digits, then the datacenter), Shopify Admin API tokens, WooCommerce REST keys.
SECRET_SHAPES = re.compile(r"\b[0-9a-f]{32}-us\d+\b|\bshp(?:at|ss|ca|pa)_[A-Za-z0-9_]+|\b(?:ck|cs)_[0-9a-f]{20,}\b")
MAX_FINDINGS = 20


@dataclass(frozen=True)
class Finding:
    test: str
    kind: str
    line: str


def _masked(line: str, values: list[str]) -> str:
    for value in values:
        line = line.replace(value, f"<{value[:4]}…>" if len(value) > 8 else "<…>")
    return line[:300]


class LeakScanner:
    """A stream the runner's log lines are written to (LogStream.capture), scanned line by line and kept no
    further; `known` holds the secrets the harness registered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._partial = ""
        self.known: set[str] = set()
        self.findings: list[Finding] = []
        self.lines = 0

    def remember(self, secret: str) -> None:
        if len(secret) >= 12:  # shorter values would match ordinary words
            with self._lock:
                self.known.add(secret)

    def write(self, text: str) -> int:
        with self._lock:
            self._partial += text
            *lines, self._partial = self._partial.split("\n")
            for line in lines:
                self._scan(line)
        return len(text)

    def flush(self) -> None:
        return None

    def _scan(self, line: str) -> None:
        self.lines += 1
        if len(self.findings) >= MAX_FINDINGS:
            return
        found = [("e-mail address", match.group()) for match in EMAIL.finditer(line)]
        found += [("credential", match.group()) for match in SECRET_SHAPES.finditer(line)]
        found += [("registered secret", secret) for secret in self.known if secret in line]
        if found:
            test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
            kinds = ", ".join(sorted({kind for kind, _ in found}))
            self.findings.append(Finding(test, kinds, _masked(line, [value for _, value in found])))

    def report(self) -> str:
        kept = "\n".join(f"  [{finding.kind}] {finding.test}: {finding.line}" for finding in self.findings)
        return f"{len(self.findings)} log line(s) of {self.lines} hold what logs must not:\n{kept}"


SCANNER = LeakScanner()
