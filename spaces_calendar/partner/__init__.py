"""Cisco Spaces partner app: activation (API key), health URLs and monitoring reports, and the fake partner API."""
