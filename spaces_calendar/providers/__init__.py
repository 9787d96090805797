"""Calendar providers: one package per provider (client, notification parsing, fake server)."""
