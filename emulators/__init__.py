"""Local stand-ins for the external services commerce-sync talks to."""
