"""Collection: invitations (one-time links), contacts (phone numbers, kept apart) and responses."""
