"""A generated English -> German corpus for the demo and tests: offline, deterministic, learnable
on a CPU in a minute or two, and still translation rather than copying.

Sentences count things and name dates, written out in words:

    I see twenty-four red dogs.              Ich sehe vierundzwanzig rote Hunde.
    Yesterday we bought a new table.         Gestern haben wir einen neuen Tisch gekauft.
    I think that one old cup is here.        Ich glaube, dass eine alte Tasse hier ist.
    On the twenty-first of March we saw ...  Am einundzwanzigsten März sahen wir ...

What has to be learnt: numbers whose units come before the tens (twenty-four -> vierundzwanzig,
one word in German: subwords matter); gender, case and number agreement of article, adjective and
noun (ein roter Hund / einen roten Hund / mit einem roten Hund / mit drei roten Hunden); verb
agreement (ist / sind); word order (verb second after a fronted adverb, the participle at the
end, the verb at the end of a subordinate clause).
"""

from __future__ import annotations

import random

ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
       "seventeen eighteen nineteen".split()  # fmt: skip
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
EINS = "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn " \
       "siebzehn achtzehn neunzehn".split()  # fmt: skip
ZIG = "_ _ zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig".split()

ORD_EN = {1: "first", 2: "second", 3: "third", 5: "fifth", 8: "eighth", 9: "ninth", 12: "twelfth"}
MONTHS = [
    ("January", "Januar"), ("February", "Februar"), ("March", "März"), ("April", "April"), ("May", "Mai"),
    ("June", "Juni"), ("July", "Juli"), ("August", "August"), ("September", "September"),
    ("October", "Oktober"), ("November", "November"), ("December", "Dezember"),
]  # fmt: skip
DAYS = [
    ("Monday", "Montag"), ("Tuesday", "Dienstag"), ("Wednesday", "Mittwoch"), ("Thursday", "Donnerstag"),
    ("Friday", "Freitag"), ("Saturday", "Samstag"), ("Sunday", "Sonntag"),
]  # fmt: skip

# (English singular, English plural, German singular, German plural, gender m/f/n)
NOUNS = [
    ("dog", "dogs", "Hund", "Hunde", "m"), ("apple", "apples", "Apfel", "Äpfel", "m"),
    ("chair", "chairs", "Stuhl", "Stühle", "m"), ("bird", "birds", "Vogel", "Vögel", "m"),
    ("table", "tables", "Tisch", "Tische", "m"), ("cat", "cats", "Katze", "Katzen", "f"),
    ("flower", "flowers", "Blume", "Blumen", "f"), ("cup", "cups", "Tasse", "Tassen", "f"),
    ("lamp", "lamps", "Lampe", "Lampen", "f"), ("woman", "women", "Frau", "Frauen", "f"),
    ("book", "books", "Buch", "Bücher", "n"), ("house", "houses", "Haus", "Häuser", "n"),
    ("horse", "horses", "Pferd", "Pferde", "n"), ("car", "cars", "Auto", "Autos", "n"),
    ("child", "children", "Kind", "Kinder", "n"),
]  # fmt: skip
ADJECTIVES = [
    ("red", "rot"), ("big", "groß"), ("small", "klein"), ("old", "alt"), ("new", "neu"),
    ("green", "grün"), ("black", "schwarz"), ("white", "weiß"),
]  # fmt: skip

# Article and adjective endings after "ein" (mixed declension) by case and gender; plural nouns
# without an article take the strong endings.
EIN = {"nom": {"m": "ein", "f": "eine", "n": "ein"}, "acc": {"m": "einen", "f": "eine", "n": "ein"},
       "dat": {"m": "einem", "f": "einer", "n": "einem"}}  # fmt: skip
ADJ_AFTER_EIN = {"nom": {"m": "er", "f": "e", "n": "es"}, "acc": {"m": "en", "f": "e", "n": "es"},
                 "dat": {"m": "en", "f": "en", "n": "en"}}  # fmt: skip
ADJ_PLURAL = {"nom": "e", "acc": "e", "dat": "en"}


def english_number(n: int) -> str:
    """1..999 in English words: 342 -> 'three hundred and forty-two'."""
    hundreds, rest = divmod(n, 100)
    words = []
    if hundreds:
        words.append(f"{ONES[hundreds]} hundred")
    if rest:
        tens, ones = divmod(rest, 10)
        small = ONES[rest] if rest < 20 else TENS[tens] + (f"-{ONES[ones]}" if ones else "")
        words.append(("and " if hundreds else "") + small)
    return " ".join(words)


def german_number(n: int) -> str:
    """1..999 in German, one word: 342 -> 'dreihundertzweiundvierzig' (units before tens)."""
    hundreds, rest = divmod(n, 100)
    word = ("ein" if hundreds == 1 else EINS[hundreds]) + "hundert" if hundreds else ""
    if rest:
        tens, ones = divmod(rest, 10)
        if rest < 20:
            word += "eins" if rest == 1 and not hundreds else EINS[rest]
        else:
            word += (("ein" if ones == 1 else EINS[ones]) + "und" if ones else "") + ZIG[tens]
    return word


def english_ordinal(n: int) -> str:
    """1..31: 21 -> 'twenty-first'."""
    if n in ORD_EN:
        return ORD_EN[n]
    if n < 20:
        return ONES[n] + "th"
    tens, ones = divmod(n, 10)
    if not ones:
        return TENS[tens][:-1] + "ieth"
    return f"{TENS[tens]}-{english_ordinal(ones)}"


def german_ordinal(n: int, case: str) -> str:
    """1..31 after a definite article: 'der dritte' (nom), 'am dritten' (dat)."""
    special = {1: "erst", 3: "dritt", 7: "siebt", 8: "acht"}
    stem = special.get(n) or german_number(n) + ("t" if n < 20 else "st")
    return stem + ("e" if case == "nom" else "en")


def count(rng: random.Random, max_number: int) -> int:
    """A count from 2 to ``max_number``, each scale (2-19, 20-99, 100-999) equally likely: drawn
    uniformly, 90% of the counts would be in the hundreds and a model would rarely see 'three'
    (the demo then turned 'three red dogs' into 'neunhundert rote Hunde')."""
    scales = [(lo, min(hi, max_number)) for lo, hi in ((2, 19), (20, 99), (100, 999)) if lo <= max_number]
    lo, hi = rng.choice(scales)
    if lo == 100 and rng.random() < 0.25:  # whole hundreds too ('nine hundred'), not only 1 in 100 of them
        return 100 * rng.randint(1, hi // 100)
    return rng.randint(lo, hi)


def noun_phrase(rng: random.Random, case: str, max_number: int) -> tuple[str, str, bool]:
    """A counted noun phrase in English and German (``case`` nom/acc/dat); True if plural."""
    en_sg, en_pl, de_sg, de_pl, gender = rng.choice(NOUNS)
    adj = rng.choice(ADJECTIVES) if rng.random() < 0.7 else None
    n = 1 if rng.random() < 0.3 else count(rng, max_number)
    if n == 1:
        en_adj = f"{adj[0]} " if adj else ""
        article = "an" if (en_adj or en_sg)[0] in "aeiou" else "a"
        en = f"{article} {en_adj}{en_sg}"
        de_adj = f"{adj[1]}{ADJ_AFTER_EIN[case][gender]} " if adj else ""
        return en, f"{EIN[case][gender]} {de_adj}{de_sg}", False
    noun = de_pl + ("n" if case == "dat" and de_pl[-1] not in "ns" else "")
    de_adj = f"{adj[1]}{ADJ_PLURAL[case]} " if adj else ""
    en = f"{english_number(n)} {adj[0] + ' ' if adj else ''}{en_pl}"
    return en, f"{german_number(n)} {de_adj}{noun}", True


# (case of the counted noun phrase, English, German); {En}/{De} are capitalised, {are}/{sind}
# agree with the phrase's number. Templates with {ord} name a date.
TEMPLATES = [
    ("acc", "I see {en}.", "Ich sehe {de}."),
    ("acc", "Yesterday we bought {en}.", "Gestern haben wir {de} gekauft."),
    ("nom", "{En} {are} in the garden.", "{De} {sind} im Garten."),
    ("nom", "{En} {are} on the table.", "{De} {sind} auf dem Tisch."),
    ("dat", "She is playing with {en}.", "Sie spielt mit {de}."),
    ("nom", "I think that {en} {are} here.", "Ich glaube, dass {de} hier {sind}."),
    ("acc", "The meeting is on the {ord} of {month}.", "Das Treffen ist am {ord_dat} {monat}."),
    ("acc", "The {ord} of {month} is a {day}.", "Der {ord_nom} {monat} ist ein {tag}."),
    ("acc", "On the {ord} of {month} we saw {en}.", "Am {ord_dat} {monat} sahen wir {de}."),
]


def sentence(rng: random.Random, max_number: int) -> tuple[str, str]:
    """One (English, German) sentence pair from a random template."""
    case, en_template, de_template = rng.choice(TEMPLATES)
    en, de, plural = noun_phrase(rng, case, max_number)
    day = rng.randint(1, 31)
    (month, monat), (weekday, tag) = rng.choice(MONTHS), rng.choice(DAYS)
    words = {
        "en": en, "de": de, "En": en[0].upper() + en[1:], "De": de[0].upper() + de[1:],
        "are": "are" if plural else "is", "sind": "sind" if plural else "ist",
        "ord": english_ordinal(day), "ord_dat": german_ordinal(day, "dat"), "ord_nom": german_ordinal(day, "nom"),
        "month": month, "monat": monat, "day": weekday, "tag": tag,
    }  # fmt: skip
    return en_template.format(**words), de_template.format(**words)


def corpus(size: int, seed: int, max_number: int = 999, exclude: set[str] | None = None) -> tuple[list[str], list[str]]:
    """``size`` distinct (English, German) sentence pairs, the same for the same seed; sentences in
    ``exclude`` (e.g. the training side, for held-out sets) are skipped."""
    if not 2 <= max_number <= 999:
        raise ValueError(f"max_number {max_number}: the generator writes numbers from 2 to 999")
    rng = random.Random(seed)
    seen = set(exclude or ())
    src, tgt = [], []
    for _ in range(size * 50):
        if len(src) == size:
            break
        en, de = sentence(rng, max_number)
        if en not in seen:
            seen.add(en)
            src.append(en)
            tgt.append(de)
    return src, tgt
