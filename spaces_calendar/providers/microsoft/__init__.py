"""Microsoft 365, one package that owns all of itself: its metadata and Integrations tile (``provider.py``), URLs,
admin-consent views, msal tokens and the Graph client, webhooks, sandbox demo and controls, and a protocol-faithful
fake (``fake.py``)."""
