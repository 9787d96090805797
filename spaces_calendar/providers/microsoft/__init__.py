"""Microsoft 365: msal tokens, the Graph client, change-notification parsing and a protocol-faithful fake."""
