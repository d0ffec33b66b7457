"""Everything kept in AWS: settings, logging/metrics, the store registry, sync state and locks, secrets,
and the event bus (with its claim check). Knows nothing of platforms or Mailchimp."""
