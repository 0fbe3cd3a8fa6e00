"""Personal API tokens: created and revoked by a user on 我的账号, read by ``/api/v1``."""
