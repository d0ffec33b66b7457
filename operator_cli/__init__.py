"""The commerce-sync operator CLI."""
