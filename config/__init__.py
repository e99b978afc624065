"""Shipped configuration files (read as package data)."""
