"""API token format and hashing."""

from __future__ import annotations

from flywheel.auth.tokens import TOKEN_PREFIX, generate_token, hash_token, token_hint


def test_tokens_are_random_and_prefixed() -> None:
    tokens = {generate_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(t.startswith(TOKEN_PREFIX) and len(t) > 40 for t in tokens)


def test_hash_is_stable_and_hides_the_secret() -> None:
    token = generate_token()
    assert hash_token(token) == hash_token(token)
    assert token not in hash_token(token)
    assert hash_token(token) != hash_token(generate_token())


def test_hint_is_a_short_prefix() -> None:
    token = generate_token()
    assert token.startswith(token_hint(token))
    assert len(token_hint(token)) < 12
