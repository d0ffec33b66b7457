"""Key rotation: Secrets Manager's four steps for the Mailchimp key and every store's webhook secret
(generated, pushed to the platform, accepted alongside the old one during the switch)."""
