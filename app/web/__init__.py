"""Web layer: thin blueprints over app.services."""
