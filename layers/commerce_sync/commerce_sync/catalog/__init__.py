"""The product catalog into Mailchimp: the nightly run (pages, hashes, batches, checkpoints), what the
sync-state table remembers of it, the writer, and real-time product events."""
