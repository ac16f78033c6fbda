from __future__ import annotations

import json
import logging

from flowhook_hookspec import MASK, Secret, converter, redact

URL = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"


def test_secret_is_masked_everywhere_but_the_explicit_call(caplog) -> None:
    secret = Secret(URL)
    assert str(secret) == MASK and URL not in repr(secret)
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("sending to %s (%r)", secret, secret)
    assert URL not in caplog.text
    assert secret.get_secret_value() == URL
    assert URL not in json.dumps(converter.unstructure({"url": str(secret)}))


def test_redact_masks_raw_quoted_and_url_path_forms() -> None:
    quoted = "https%3A%2F%2Fhooks.slack.com%2Fservices%2FT000%2FB000%2FXXXXSECRET"
    text = f"failed POST {URL}; raw {quoted}; server said: POST /services/T000/B000/XXXXSECRET 404"
    cleaned = redact(text, Secret(URL), None)
    assert "XXXXSECRET" not in cleaned and "T000" not in cleaned
    assert cleaned.count(MASK) == 3
    assert redact("password hunter2 rejected", "hunter2") == f"password {MASK} rejected"


def test_converter_masks_secrets() -> None:
    assert converter.unstructure(Secret(URL)) == MASK
    assert converter.unstructure({"url": Secret(URL)}) == {"url": MASK}
