"""What every queue-fed function shares: the composition root (Services), the event-applying skeleton,
the SQS batch runner and dead letters with their reason."""
