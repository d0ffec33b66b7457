"""The canonical event format received over HTTP (/webhooks/canonical), Standard Webhooks signed, for
platforms commerce-sync has no adapter for."""
