"""How every outbound API session is set up, Mailchimp's and the platforms' alike: JSON headers, proxy and
CA settings read once, a pooled adapter with urllib3 Retry (exponential backoff with jitter)."""
