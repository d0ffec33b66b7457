"""A Mailchimp account's credentials as its secret holds them, and the client they open.

Two kinds, told apart by the secret's `kind` (docs/mailchimp-accounts.md):

- `mailchimp_api_key` (`{"kind", "api_key", "account_id"?}`): a key made in Mailchimp's UI. Its datacenter
  is the key's `-usN` suffix; it authenticates with HTTP Basic (any user name, the key as password). The
  deployment's default secret (`MailchimpApiKeySecret`) and per-account secrets made by `add-store
  --mailchimp-api-key-stdin` have this shape; the rotation function rotates it.
- `mailchimp_oauth` (`{"kind", "access_token", "dc", "account_id"}`): a token from Mailchimp's OAuth 2
  flow (`/connect/mailchimp/...`). It never expires and has no refresh token; its datacenter comes from
  the OAuth metadata endpoint at connect time, and it authenticates with `Authorization: OAuth <token>`.
  It is replaced by connecting again, never rotated.

Nothing here puts a key or token into a message or a repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from commerce_sync.mailchimp.client import MailchimpClient, RetryPolicy, datacenter_of_key

KIND_API_KEY: Final = "mailchimp_api_key"
KIND_OAUTH: Final = "mailchimp_oauth"
CredentialKind = Literal["mailchimp_api_key", "mailchimp_oauth"]


class CredentialsError(Exception):
    """The secret does not hold usable Mailchimp credentials (the message never holds its value)."""


@dataclass(frozen=True)
class MailchimpCredentials:
    kind: CredentialKind
    secret: str = field(repr=False)
    datacenter: str
    account_id: str | None = None

    @classmethod
    def from_secret(cls, secret_id: str, value: dict[str, Any]) -> MailchimpCredentials:
        kind = value.get("kind") or (KIND_API_KEY if "api_key" in value else KIND_OAUTH)
        account_id = str(value["account_id"]) if value.get("account_id") else None
        if kind == KIND_API_KEY:
            key = str(value.get("api_key") or "").strip()
            if not key:
                raise CredentialsError(f"secret {secret_id} holds no api_key")
            try:
                datacenter = datacenter_of_key(key)
            except ValueError as error:
                raise CredentialsError(f"secret {secret_id}: {error}") from error
            return cls(KIND_API_KEY, key, datacenter, account_id)
        if kind == KIND_OAUTH:
            token, datacenter = str(value.get("access_token") or ""), str(value.get("dc") or "")
            if not token or not datacenter.isalnum():
                raise CredentialsError(f"secret {secret_id} holds no access_token and dc")
            return cls(KIND_OAUTH, token, datacenter, account_id)
        raise CredentialsError(f"secret {secret_id} is of kind {kind!r}, not Mailchimp credentials")

    @classmethod
    def api_key(cls, key: str, account_id: str | None = None) -> MailchimpCredentials:
        return cls.from_secret("(given)", {"kind": KIND_API_KEY, "api_key": key, "account_id": account_id})

    @classmethod
    def oauth(cls, token: str, datacenter: str, account_id: str | None = None) -> MailchimpCredentials:
        return cls.from_secret(
            "(given)", {"kind": KIND_OAUTH, "access_token": token, "dc": datacenter, "account_id": account_id}
        )

    def secret_value(self, account_id: str) -> dict[str, Any]:
        """The JSON an account secret holds for these credentials."""
        if self.kind == KIND_API_KEY:
            return {"kind": KIND_API_KEY, "api_key": self.secret, "account_id": account_id}
        return {"kind": KIND_OAUTH, "access_token": self.secret, "dc": self.datacenter, "account_id": account_id}

    def client(
        self, base_url: str | None = None, *, read_timeout: float | None = None, retry: RetryPolicy | None = None
    ) -> MailchimpClient:
        options: dict[str, Any] = {}
        if read_timeout is not None:
            options["read_timeout"] = read_timeout
        if retry is not None:
            options["retry"] = retry
        return MailchimpClient(
            api_key=self.secret,
            base_url=base_url or f"https://{self.datacenter}.api.mailchimp.com/3.0",
            auth_scheme="oauth" if self.kind == KIND_OAUTH else "basic",
            **options,
        )
