"""The only code that speaks to Mailchimp: the client (paths, retries, typed errors), batches, the
outbound resource models and the mapping from the canonical model to them."""
