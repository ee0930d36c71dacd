"""Plugins used by g4f-lite's registry tests, one entry point each."""
