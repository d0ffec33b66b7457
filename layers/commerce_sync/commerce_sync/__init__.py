"""The shared layer of commerce-sync, one package per concern, imports pointing down:
domain (orders, carts, catalog, rotation) -> processing -> platforms, mailchimp -> aws, http -> canonical."""
