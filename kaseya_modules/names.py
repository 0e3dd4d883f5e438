"""Organization names as mapping suggestions compare them: the drift between a module's spelling
and the PSA's (case, accents, punctuation, "&"/"and", "The", legal suffixes, abbreviations and
site suffixes) set aside, and, for a match, which of those differed — in words an admin can check.

A small explicit table rather than a library such as cleanco: cleanco strips legal forms only
(not abbreviations, site suffixes or "The"), cannot say which part it removed, and is far slower
than one pass over a few dictionaries.
"""

import re
import unicodedata
from dataclasses import dataclass, field

# Letters NFKD does not split into a base letter and an accent.
LETTERS = str.maketrans(
    {"ß": "ss", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "æ": "ae", "Æ": "AE", "œ": "oe",
     "Œ": "OE", "đ": "d", "Đ": "D", "ı": "i", "þ": "th", "Þ": "Th", "’": "'", "‘": "'"}
)  # fmt: skip

# Legal forms, set aside at the end of a name (after abbreviations are spelled out).
LEGAL_FORMS = frozenset(
    "inc incorporated llc ltd limited gmbh plc pc pa psc apc llp lllp lp lc pllc sa ag bv nv pty "
    "pte srl sarl spa sas ltda kk oy kg co company corporation".split()
)
# Abbreviations (and spellings) -> the one word both sides are compared with.
ABBREVIATIONS = {
    "assoc": "associates", "assocs": "associates", "assn": "association",
    "corp": "corporation", "mfg": "manufacturing", "mfrs": "manufacturers",
    "intl": "international", "int": "international", "natl": "national",
    "saint": "st", "street": "st", "mount": "mt", "fort": "ft",
    "dept": "department", "svc": "services", "svcs": "services", "srvcs": "services",
    "bros": "brothers", "ctr": "center", "centre": "center", "univ": "university",
    "grp": "group", "hosp": "hospital", "med": "medical", "mgmt": "management",
    "mgt": "management", "sys": "systems", "technologies": "tech", "technology": "tech",
    "acctg": "accounting", "acct": "accounting", "engg": "engineering", "engr": "engineering",
    "eng": "engineering", "ins": "insurance", "pharm": "pharmacy", "constr": "construction",
    "bldg": "building", "co": "company", "solns": "solutions", "inds": "industries",
    "ind": "industries",
    "props": "properties", "govt": "government", "cty": "county", "twp": "township",
}  # fmt: skip
# Words that name a site of an organization rather than the organization, at the end of a name.
SITE_WORDS = (
    ("main", "office"), ("head", "office"), ("branch", "office"), ("corporate", "office"),
    ("remote", "site"), ("hq",), ("headquarters",), ("main",), ("branch",), ("office",),
)  # fmt: skip

WORD = re.compile(r"[^\s&+,/()\[\]{}|:;!?\"“”<>=*]+|[&+]")
SPLIT = re.compile(r"[^0-9a-z]+")
# Where a site suffix starts: " - Denver", " – Main Office", " | HQ", "(HQ)", "[old]".
SITE_START = re.compile(r"\s+[-–—|]\s+|\s*[(\[]")
PUNCTUATION = re.compile(r"[^\w\s&]")
INTERNAL = re.compile(
    r"\b(test|tests|testing|demo|internal|sandbox|staging|template|trial|do not use|dnu|"
    r"not ?billable|non ?billable|no ?bill|unassigned|unknown|misc|spare|deleted|archived?|"
    r"inventory|temp|tmp|placeholder|dummy|example|house account|in ?house)\b"
)


def plain(text: str) -> str:
    """Lower case, without accents."""
    text = unicodedata.normalize("NFKD", text.translate(LETTERS))
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def has_accents(word: str) -> bool:
    return not word.isascii()


@dataclass(frozen=True)
class Word:
    surface: str  # as written
    tokens: tuple[str, ...]  # normalized (abbreviations spelled out)


def words(text: str) -> list[Word]:
    found = []
    for surface in WORD.findall(text):
        if surface in ("&", "+"):
            found.append(Word(surface, ("and",)))
            continue
        folded = plain(surface).replace(".", "").replace("'", "").replace("`", "")
        tokens = tuple(ABBREVIATIONS.get(t, t) for t in SPLIT.split(folded) if t)
        if tokens:
            found.append(Word(surface, tokens))
    return found


@dataclass
class Parsed:
    """A name's normalized forms and what was set aside to get them."""

    key: str = ""  # the whole name, drift set aside
    site_key: str = ""  # without its site suffix ("" when it has none)
    site: str = ""  # the site suffix as written ("- Denver")
    # Nested site suffixes ("Acme - East Office - Boulder"): (key, suffix) of each longer head,
    # longest first ("Acme - East Office" before "Acme").
    inner_sites: list = field(default_factory=list)
    # As `key` and `site_key`, but keeping "Company"/"Corporation": for "is another
    # organization's name this one plus more words?" ("The Patel Company" is not "Patel" + …).
    soft_key: str = ""
    soft_site_key: str = ""
    legal: list = field(default_factory=list)  # legal forms set aside, as written
    abbreviations: list = field(default_factory=list)  # spelled out, as written
    the: bool = False  # a leading "The" set aside
    ands: int = 0  # "&", "+" and "and" set aside
    internal: bool = False  # looks like an internal, test or not-billable record


SOFT_KEEP = frozenset({"co", "company", "corporation"})


def _key(items: list[Word], parsed: Parsed | None, keep: frozenset = frozenset()) -> str:
    tokens: list[tuple[str, Word]] = [(t, w) for w in items for t in w.tokens]
    if tokens and tokens[0][0] == "the" and len(tokens) > 1:
        tokens = tokens[1:]
        if parsed is not None:
            parsed.the = True
    kept = [(t, w) for t, w in tokens if t != "and"] or tokens
    if parsed is not None:
        parsed.ands += len(tokens) - len(kept)
    while len(kept) > 1 and kept[-1][0] in LEGAL_FORMS and kept[-1][0] not in keep:
        token, word = kept.pop()
        if parsed is not None and word.surface not in parsed.legal:
            parsed.legal.insert(0, word.surface)
    return " ".join(t for t, _ in kept)


def normalize(name: str) -> str:
    """The name with case, accents, punctuation, "&"/"and", a leading "The", legal suffixes and
    abbreviations set aside (its site suffix kept): equal keys mean the same name."""
    return _key(words(name), None)


def soft_normalize(name: str) -> str:
    """As normalize(), keeping "Company" and "Corporation" (see Parsed.soft_key)."""
    return _key(words(name), None, SOFT_KEEP)


def all_words(name: str) -> tuple[str, ...]:
    """The name's words with case, accents and punctuation set aside, abbreviations spelled out
    and "&" read as "and", but every word kept (legal forms too) and a leading "The" dropped:
    for "is that name this one with words added?"."""
    tokens = tuple(t for w in words(name) for t in w.tokens)
    return tokens[1:] if tokens[:1] == ("the",) and len(tokens) > 1 else tokens


def starts_with(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    return longer[: len(shorter)] == shorter


def _strip_site_words(items: list[Word]) -> tuple[list[Word], list[Word]]:
    flat = [t for w in items for t in w.tokens]
    for phrase in SITE_WORDS:
        n = len(phrase)
        if len(flat) > n and tuple(flat[-n:]) == phrase and len(items) > n:
            return items[:-n], items[-n:]
    return items, []


def parse(name: str) -> Parsed:
    """Everything suggestions need from one name, with what was set aside recorded."""
    parsed = Parsed()
    items = words(name)
    parsed.key = _key(items, parsed)
    parsed.abbreviations = [
        w.surface
        for w in items
        if len(w.tokens) == 1
        and w.surface not in ("&", "+")
        and w.tokens[0] not in LEGAL_FORMS
        and w.tokens[0] != plain(w.surface).replace(".", "").replace("'", "")
    ]
    parsed.soft_key = _key(items, None, SOFT_KEEP)
    starts = [match.start() for match in SITE_START.finditer(name) if match.start() > 0]
    head, site = (name[: starts[0]], name[starts[0] :].strip()) if starts else (name, "")
    head_items = words(head) if site else items
    head_items, site_words = _strip_site_words(head_items)
    if site_words:
        site = " ".join([*(w.surface for w in site_words), site]).strip()
    if site and head_items:
        parsed.site = site
        parsed.site_key = _key(head_items, None)
        parsed.soft_site_key = _key(head_items, None, SOFT_KEEP)
        if parsed.site_key == parsed.key:
            parsed.site_key, parsed.site, parsed.soft_site_key = "", "", ""
    for start in reversed(starts[1:]):
        inner_key = _key(words(name[:start]), None)
        if inner_key and inner_key not in (parsed.key, parsed.site_key):
            parsed.inner_sites.append((inner_key, name[start:].strip()))
    lowered = plain(name).replace("_", " ")
    parsed.internal = bool(INTERNAL.search(lowered)) or name.lstrip()[:1] in ("_", "~", "[", "#")
    return parsed


def set_aside(module_name: str, organization_name: str, *, site: str = "") -> list[str]:
    """What differs between two names whose keys are equal (the module name once its site
    suffix `site` is cut off, if given), as phrases for a reason: "case", "accents",
    "punctuation", "'&'/'and'", "'The'", "'Ltd'", "'Corp.'", "the site '- Denver'"."""
    a_text = module_name.strip()
    if site and a_text.endswith(site):
        a_text = a_text[: -len(site)].strip()
    elif site:
        a_text = a_text[: len(a_text) - len(site)].strip()
    a, b = parse(a_text), parse(organization_name)
    a_list, b_list = WORD.findall(a_text), WORD.findall(organization_name)
    a_words, b_words = set(a_list), set(b_list)
    a_folded, b_folded = {w.casefold() for w in a_words}, {w.casefold() for w in b_words}
    named: list[str] = []  # legal forms and abbreviations only one side has, as written
    a_legal = a.legal
    a_forms = {plain(s).replace(".", "") for s in a_legal}
    b_forms = {plain(s).replace(".", "") for s in b.legal}
    for surface, others in [*((s, b_forms) for s in a_legal), *((s, a_forms) for s in b.legal)]:
        if plain(surface).replace(".", "") not in others and surface not in named:
            named.append(surface)
    for surface, others in [
        *((s, b_folded) for s in a.abbreviations),
        *((s, a_folded) for s in b.abbreviations),
    ]:
        if surface.casefold() not in others and surface not in named:
            named.append(surface)

    items = []
    if any(w not in b_words and w.casefold() in b_folded for w in a_words):
        items.append("case")
    if {w for w in a_folded if has_accents(w)} != {w for w in b_folded if has_accents(w)}:
        items.append("accents")
    # Punctuation of the words both keep ("Inc." for "Inc" counts; a dropped "Inc." is named).
    a_kept = " ".join(w for w in a_list if w not in named)
    b_kept = " ".join(w for w in b_list if w not in named)
    if sorted(PUNCTUATION.findall(a_kept)) != sorted(PUNCTUATION.findall(b_kept)):
        items.append("punctuation")
    if a.ands != b.ands or ("&" in a_text) != ("&" in organization_name):
        items.append("'&'/'and'")
    if a.the != b.the:
        items.append("'The'")
    items += [f"'{surface}'" for surface in named]
    if site:
        items.append(f"the site '{site}'")
    return items


def describe_set_aside(items: list[str]) -> str:
    if not items:
        return "Same name once spacing is set aside"
    listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    verb = "is" if len(items) == 1 and items[0] not in ("accents",) else "are"
    return f"Same name once {listed} {verb} set aside"
