"""A real PBKDF2 hasher that counts its checks, registered through PASSWORD_HASHERS: it shows
whether a login ran a slow password hash at all."""

import threading

from django.contrib.auth.hashers import PBKDF2PasswordHasher

PATH = "tests.qbwc_soap.hashers.CountingPBKDF2Hasher"


class CountingPBKDF2Hasher(PBKDF2PasswordHasher):
    algorithm = "counting_pbkdf2"
    # Slow enough that parallel logins overlap while one is being checked.
    iterations = 100_000
    checks = 0
    _lock = threading.Lock()

    def verify(self, password, encoded):
        with self._lock:
            type(self).checks += 1
        return super().verify(password, encoded)

    @classmethod
    def reset(cls):
        with cls._lock:
            cls.checks = 0
