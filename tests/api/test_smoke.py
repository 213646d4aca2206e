"""The happy path through the HTTP API."""

from tests.conftest import Client


def test_create_then_reveal_once(client: Client) -> None:
    """A secret is revealed once with the right passphrase, then it is gone."""
    key = client.create("hello", "pw")
    first = client.reveal(key, "pw")
    assert first.status == 200
    assert first.json == {"secret": "hello"}
    second = client.reveal(key, "pw")
    assert second.status == 404
    assert second.json["error"] == "not_found"
