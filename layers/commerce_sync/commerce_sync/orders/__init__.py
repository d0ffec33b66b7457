"""Orders into Mailchimp: order events (status, shipments, refunds, deletions) and the mapping that
decides which notification fires and what revenue counts."""
