"""Carts and customers into Mailchimp: cart and customer events, consent, conversion (a purchase ends
the shopper's carts) and the products that lines name but Mailchimp lacks."""
