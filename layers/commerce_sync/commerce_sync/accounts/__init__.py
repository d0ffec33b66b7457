"""Mailchimp accounts: which account each store writes to, each account's connection budget and health,
and connecting an account (API key or OAuth 2). docs/mailchimp-accounts.md."""
