"""Customer segments as Mailchimp member tags, evaluated from the orders commerce-sync applied (docs/segments.md)."""
