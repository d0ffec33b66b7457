"""Each platform: how it signs and shapes webhooks, its store API, catalog reader and webhook-secret
push; the receiver that turns one delivery into canonical events. One package per platform."""
