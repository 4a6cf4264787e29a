"""Interface strings in the person's language, or the default's when it has none yet."""

from __future__ import annotations

from ketacompanion.core.turn import Text, text_in


def catalogue(known: dict[str, str]) -> object:
    def text_for(lang: str) -> Text:
        def t(key: str, **values: object) -> str:
            if lang not in known:
                raise KeyError(f"{lang}:{key}")
            return f"{known[lang]}:{key}"

        return t

    return text_for


def test_a_language_with_strings_is_used_and_its_region_ignored() -> None:
    t = text_in(catalogue({"en": "EN", "de": "DE"}), "de-AT", "en", "common.error")  # type: ignore[arg-type]
    assert t("x") == "DE:x"


def test_a_language_without_strings_falls_back_to_the_default() -> None:
    t = text_in(catalogue({"en": "EN"}), "pt_BR", "en", "common.error")  # type: ignore[arg-type]
    assert t("x") == "EN:x"


def test_no_language_means_the_default() -> None:
    assert text_in(catalogue({"en": "EN"}), None, "en", "common.error")("y") == "EN:y"  # type: ignore[arg-type]
