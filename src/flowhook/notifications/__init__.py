"""Notifications: rules from config, message templates, blocks and delivery."""
