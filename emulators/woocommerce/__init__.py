"""A WooCommerce REST API (wc/v3) emulator (product and variation reads) for tests and the demo."""

from .emulator import WooCommerceEmulator

__all__ = ["WooCommerceEmulator"]
