"""API2Cart: one API over many carts (Magento, PrestaShop, OpenCart, …); docs/api2cart.md."""
