"""A stateful emulator of WooCommerce's REST webhooks resource (`/wp-json/wc/v3/webhooks`), which the
key rotation function uses to set a new webhook secret; it can also deliver signed webhooks the way
WooCommerce does. See `emulator.py` for the Python API."""

from .emulator import WooCommerceHooksEmulator

__all__ = ["WooCommerceHooksEmulator"]
