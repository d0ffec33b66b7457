"""Shoppers' privacy: erasure from Mailchimp and from our records, tombstones that keep them erased, the audit
of each request, and what we hold about a shopper (docs/privacy.md)."""
