"""A Shopify Admin REST API emulator (product reads) for tests, the demo and the benchmark."""

from .emulator import ShopifyEmulator
from .platform import Faults, ProductStore

__all__ = ["Faults", "ProductStore", "ShopifyEmulator"]
