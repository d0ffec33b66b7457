"""The SQS functions import Powertools Batch before pydantic is loaded, so that it does not build its parser models
(they only type a `model=` option no function passes): about 20 ms of each of those functions' cold start. An import
reordered in the handler, or a module that loads pydantic first, would bring them back unnoticed but for this."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.paths import PROJECT

PARSER_MODELS = "aws_lambda_powertools.utilities.parser.models"


@pytest.mark.parametrize("function", ["cart_events", "order_status", "product_sync"])
def test_the_handler_leaves_powertools_parser_models_unbuilt(function: str) -> None:
    task_root = PROJECT / "functions" / function
    path = os.pathsep.join([str(task_root), str(PROJECT / "layers" / "commerce_sync")])
    probe = f"import sys, app; print({PARSER_MODELS!r} in sys.modules, 'pydantic' in sys.modules)"
    answer = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=task_root,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.stdout.split() == ["False", "True"]
