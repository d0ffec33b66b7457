"""How the CLI reads platform API credentials from stdin (operator_cli.credentials): the three forms, and
messages that name fields and lines but never a value."""

from __future__ import annotations

import pytest
from commerce_sync.platforms.registry import connection_for

from operator_cli.credentials import CredentialsInputError, connection_of, parse_credentials, prompt_credentials

SHOPIFY = connection_of("shopify")
WOOCOMMERCE = connection_of("woocommerce")


@pytest.mark.parametrize(
    "text",
    [
        "shpat_abc=\n",  # the token alone, even one holding "="
        "access_token=shpat_abc=",
        '  access_token = "shpat_abc="  ',
        "# from the app's settings\n\naccess_token=shpat_abc=\n",
        '{"access_token": "shpat_abc="}',
    ],
)
def test_every_form_gives_the_same_credentials(text: str) -> None:
    assert parse_credentials(text, SHOPIFY) == {"access_token": "shpat_abc="}


def test_a_key_pair_needs_both_fields_named() -> None:
    given = "consumer_key=ck_1\nconsumer_secret='cs_2'\n"
    assert parse_credentials(given, WOOCOMMERCE) == {"consumer_key": "ck_1", "consumer_secret": "cs_2"}
    with pytest.raises(CredentialsInputError, match="line 1 of the credentials is not name=value"):
        parse_credentials("ck_1\ncs_2\n", WOOCOMMERCE)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "no credentials were given"),
        ("consumer_key=ck_1", "missing or empty: consumer_secret"),
        ("consumer_key=ck_1\nconsumer_secret=", "missing or empty: consumer_secret"),
        ("consumer_key=ck_1\nconsumer_key=ck_2\nconsumer_secret=cs_2", "consumer_key is given twice"),
        ("cs_secret_value=x\nconsumer_key=ck_1", "line 1 names a field (not shown)"),
        ('{"consumer_key": "ck_1", "cs_secret_value": "x"}', "1 field(s) (names not shown)"),
        ('{"consumer_key": "ck_1", ', "not valid JSON"),
        ('["ck_1"]', "a JSON object of strings"),
    ],
)
def test_bad_input_is_named_without_its_values(text: str, words: str) -> None:
    with pytest.raises(CredentialsInputError) as refused:
        parse_credentials(text, WOOCOMMERCE)
    assert words in str(refused.value)
    assert "cs_secret_value" not in str(refused.value) and "ck_1" not in str(refused.value)


def test_a_prompt_asks_for_each_field() -> None:
    asked: list[str] = []
    answers = iter([" ck_1 ", "cs_2"])
    given = prompt_credentials(WOOCOMMERCE, lambda prompt: asked.append(prompt) or next(answers))
    assert given == {"consumer_key": "ck_1", "consumer_secret": "cs_2"}
    assert [prompt.split(" (")[0] for prompt in asked] == [field.label.split(" (")[0] for field in WOOCOMMERCE.fields]


def test_a_platform_without_an_api_takes_none() -> None:
    assert connection_for("canonical") is None
    with pytest.raises(CredentialsInputError, match="a canonical store has no platform API"):
        connection_of("canonical")
