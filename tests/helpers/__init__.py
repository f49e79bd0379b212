"""Helpers the tests share: ports and waiting, a redis-server process, a load client, a Compose stack."""
