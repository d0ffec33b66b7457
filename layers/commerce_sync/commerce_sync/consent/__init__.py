"""Two-way consent (docs/consent.md): Mailchimp's audience webhooks flow back to the store."""
