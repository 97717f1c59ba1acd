"""The generated English -> German corpus: numbers, ordinals and agreement checked by hand."""

from __future__ import annotations

import random

import pytest

from seq2seq.translation import numbers


@pytest.mark.parametrize(
    "n, english, german",
    [
        (1, "one", "eins"),
        (7, "seven", "sieben"),
        (16, "sixteen", "sechzehn"),
        (17, "seventeen", "siebzehn"),
        (21, "twenty-one", "einundzwanzig"),
        (24, "twenty-four", "vierundzwanzig"),
        (30, "thirty", "dreißig"),
        (100, "one hundred", "einhundert"),
        (101, "one hundred and one", "einhunderteins"),
        (111, "one hundred and eleven", "einhundertelf"),
        (342, "three hundred and forty-two", "dreihundertzweiundvierzig"),
        (999, "nine hundred and ninety-nine", "neunhundertneunundneunzig"),
    ],
)
def test_numbers(n, english, german):
    assert numbers.english_number(n) == english
    assert numbers.german_number(n) == german


@pytest.mark.parametrize(
    "n, english, dative, nominative",
    [
        (1, "first", "ersten", "erste"),
        (3, "third", "dritten", "dritte"),
        (7, "seventh", "siebten", "siebte"),
        (8, "eighth", "achten", "achte"),
        (12, "twelfth", "zwölften", "zwölfte"),
        (19, "nineteenth", "neunzehnten", "neunzehnte"),
        (20, "twentieth", "zwanzigsten", "zwanzigste"),
        (21, "twenty-first", "einundzwanzigsten", "einundzwanzigste"),
        (30, "thirtieth", "dreißigsten", "dreißigste"),
        (31, "thirty-first", "einunddreißigsten", "einunddreißigste"),
    ],
)
def test_ordinals(n, english, dative, nominative):
    assert numbers.english_ordinal(n) == english
    assert numbers.german_ordinal(n, "dat") == dative
    assert numbers.german_ordinal(n, "nom") == nominative


def test_agreement_of_article_adjective_and_noun():
    """Every noun phrase of a large sample agrees in gender, case and number."""
    endings = {"nom": {"m": "er", "f": "e", "n": "es"}, "acc": {"m": "en", "f": "e", "n": "es"}}
    nouns = {de_sg: g for _, _, de_sg, _, g in numbers.NOUNS}
    rng = random.Random(0)
    seen = set()
    for _ in range(3000):
        case = rng.choice(["nom", "acc", "dat"])
        en, de, plural = numbers.noun_phrase(rng, case, 999)
        words = de.split()
        if plural:
            assert not en.startswith(("a ", "an "))
            if case == "dat" and words[-1] not in ("Frauen", "Katzen", "Blumen", "Tassen", "Lampen", "Autos"):
                assert words[-1].endswith("n"), de  # dative plural: mit drei Hunden
            if len(words) == 3:
                assert words[1].endswith("en" if case == "dat" else "e"), de
            continue
        gender = nouns[words[-1]]
        assert words[0] == numbers.EIN[case][gender], de
        if len(words) == 3:
            expected = "en" if case == "dat" else endings[case][gender]
            assert words[1].endswith(expected), de
        seen.add((case, gender))
    assert len(seen) == 9  # every case and gender came up


def test_examples_from_the_module_docstring():
    rng = random.Random(3)
    pairs = [numbers.sentence(rng, 999) for _ in range(2000)]
    assert all(de.endswith(".") and en.endswith(".") for en, de in pairs)
    bought = [de for en, de in pairs if en.startswith("Yesterday we bought")]
    assert bought and all(de.startswith("Gestern haben wir") and de.endswith(" gekauft.") for de in bought)
    subordinate = [de for en, de in pairs if en.startswith("I think that")]
    assert subordinate and all(de.endswith((" hier ist.", " hier sind.")) for de in subordinate)


def test_corpus_is_deterministic_distinct_and_held_out_sets_exclude_training():
    src, tgt = numbers.corpus(500, seed=5)
    assert (src, tgt) == numbers.corpus(500, seed=5)
    assert src != numbers.corpus(500, seed=6)[0]
    assert len(set(src)) == 500 and len(tgt) == 500
    held, _ = numbers.corpus(200, seed=6, exclude=set(src))
    assert not set(held) & set(src)
    small, _ = numbers.corpus(300, seed=1, max_number=20)
    assert all(n not in s for s in small for n in ("hundred", "thirty ", "forty", "ninety"))  # counts stay <= 20
    with pytest.raises(ValueError, match="max_number 1000"):
        numbers.corpus(10, seed=1, max_number=1000)
