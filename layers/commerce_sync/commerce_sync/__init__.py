"""The shared layer of commerce-sync: canonical models, platform adapters, mapping to Mailchimp,
the Mailchimp client, signatures, the store registry and sync state."""
