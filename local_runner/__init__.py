"""The local runner: template.yaml's HTTP API, event bus routing and queue event sources on
127.0.0.1, against moto server and any Mailchimp-compatible URL. No Docker needed."""
