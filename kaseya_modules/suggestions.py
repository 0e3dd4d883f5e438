"""What a module organization is suggested to map to, and why — the one place that decides.

Each active, unmapped, not-ignored module organization gets up to three billable organizations,
best first, each with a score (0-100), a confidence and reasons an admin can check at a glance.
Evidence, strongest first: the PSA's own id carried by the module record; the same name; the same
name once drift is set aside (kaseya_modules/names.py); the same name without a site suffix; the
parent's mapping (or best suggestion) for a site; then fuzzy similarity, with its margin over the
runner-up.

Confidence:
- high: safe to accept in bulk after a look — the PSA id matches, or exactly one organization has
  the (normalized) name and no other name is close, or a site follows its parent's mapping, or a
  name is at least 90% alike with a clear margin (a typo, 94%, with a narrower one). A close
  organization does not count against a name with the best one's very words when it is not
  this name plus words ("Acme Inc." beside "Acme Group"). A name of three words or more that
  starts exactly one organization's name is that organization. Never for an internal/test-looking
  record, nor a module site whose organization has a PSA site named like it.
- medium: probably right, but check it — two organizations are close, the name only nearly
  matches, or the evidence is borrowed from a parent's medium suggestion.
- low: a lead, no more.

Suggestions are computed after each successful sync and after organizations change, stored in
MappingSuggestion by kaseya_modules/suggestion_store.py and read from there (never recomputed per
page view). A run builds its indexes once: dictionaries for the PSA id, exact and normalized
names, and blocks of organizations sharing a rare word (or a word's first four letters), so fuzzy
scoring (rapidfuzz) only ever compares a name with the few organizations of its blocks, never
with every organization.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from organizations.models import Organization, OrganizationType

from .models import Confidence
from .names import (
    all_words,
    describe_set_aside,
    normalize,
    parse,
    set_aside,
    soft_normalize,
    starts_with,
)

log = logging.getLogger(__name__)

MAX_SUGGESTIONS = 3
# Evidence tiers: a suggestion backed by stronger evidence always ranks first.
PSA, EXACT, NORMALIZED, SITE, PARENT, FUZZY = 50, 40, 30, 20, 15, 10
FUZZY_CUTOFF = 60  # below this similarity a name is not worth suggesting
FUZZY_HIGH = 90  # a fuzzy match is high only from here…
FUZZY_MARGIN = 10  # …and this many points ahead of the runner-up
# A name this alike is a letter or two off (a typo): the runner-up, further off by at least
# this much more, is a different name, so the narrower margin is enough for high.
FUZZY_TYPO, FUZZY_TYPO_MARGIN = 94, 5
TYPO_EDITS = 2  # letters added, dropped, changed or swapped: two names this near are a typo apart
FUZZY_MEDIUM = 80
DROPPED_MIN_WORDS = 3  # a name this long that starts exactly one organization's name is it
CLOSE_RATIO = 90  # a runner-up this alike makes a fuzzy match ambiguous
BLOCK_SHARE = (
    0.01  # a word shared by more than this share of organizations is too common to block on
)
BLOCK_MINIMUM = 50
ORDER = {Confidence.LOW: 0, Confidence.MEDIUM: 1, Confidence.HIGH: 2}


def lowest(*levels: str) -> str:
    return min(levels, key=ORDER.__getitem__)


def block_keys(key: str) -> list[str]:
    """Words (and first four letters of longer words) of a normalized name: two names that share
    none of them are never compared."""
    keys = []
    for token in key.split():
        if len(token) >= 3:
            keys.append(token)
        if len(token) > 4:
            keys.append(token[:4] + "*")
    return keys or [key]


class OrganizationIndex:
    """The active billable organizations, indexed once per run: by Autotask id, by exact name, by
    normalized name and by blocking word; plus the names of Dead and Cancelation organizations,
    so a module organization named like one is never given high confidence."""

    def __init__(self):
        rows = list(
            Organization.objects.billable()
            .filter(active=True)
            .order_by("pk")
            .values_list("pk", "autotask_id", "name", "parent_id")
        )
        self.pks = [row[0] for row in rows]
        self.autotask_ids = [row[1] for row in rows]
        self.names = [row[2] for row in rows]
        self.keys = [normalize(name) for name in self.names]
        self.position = {pk: i for i, pk in enumerate(self.pks)}
        self.by_psa = {autotask_id: i for i, autotask_id in enumerate(self.autotask_ids)}
        self.by_name: dict[str, list[int]] = defaultdict(list)
        self.by_key: dict[str, list[int]] = defaultdict(list)
        # Leading words -> organizations whose name goes on after them ("summit dental" ->
        # Summit Dental Group): the organization a module name with a dropped word may mean.
        self.extended: dict[str, list[int]] = defaultdict(list)
        blocks: dict[str, list[int]] = defaultdict(list)
        for i, (name, key) in enumerate(zip(self.names, self.keys, strict=True)):
            self.by_name[name.strip()].append(i)
            self.by_key[key].append(i)
            tokens = soft_normalize(name).split()
            for end in range(1, len(tokens)):
                self.extended[" ".join(tokens[:end])].append(i)
            for block in dict.fromkeys(block_keys(key)):
                blocks[block].append(i)
        self.blocks = dict(blocks)
        self.block_limit = max(BLOCK_MINIMUM, int(len(rows) * BLOCK_SHARE))
        # An organization and its PSA parent or children are one family: a module organization
        # close to both is not ambiguous between them.
        self.family: dict[int, set[int]] = defaultdict(set)
        for i, row in enumerate(rows):
            parent = self.position.get(row[3])
            if parent is not None:
                self.family[i].add(parent)
                self.family[parent].add(i)
        labels = dict(OrganizationType.choices)
        self.closed_by_psa, self.closed_by_key = {}, {}
        self.closed_extended: set[str] = set()  # leading words of their names, as `extended`
        for autotask_id, name, org_type in Organization.objects.exclude(
            pk__in=Organization.objects.billable()
        ).values_list("autotask_id", "name", "org_type"):
            described = (name, labels.get(org_type, org_type))
            self.closed_by_psa[autotask_id] = described
            self.closed_by_key.setdefault(normalize(name), described)
            tokens = soft_normalize(name).split()
            self.closed_extended.update(" ".join(tokens[:end]) for end in range(1, len(tokens)))

    def __len__(self):
        return len(self.pks)

    def candidates(self, key: str) -> list[int]:
        """The organizations sharing one of the name's rarer blocking words."""
        lists = [self.blocks[b] for b in dict.fromkeys(block_keys(key)) if b in self.blocks]
        rare = [members for members in lists if len(members) <= self.block_limit]
        if not rare:
            rare = [min(lists, key=len)] if lists else []
        if len(rare) == 1:
            return rare[0]
        return list(dict.fromkeys(i for members in rare for i in members))


@dataclass
class Candidate:
    position: int
    tier: int
    score: int
    reasons: list = field(default_factory=list)
    cap: str = Confidence.HIGH
    similarity: int = 0
    closeness: float = 0  # of the names as written: orders organizations sharing a normalized name


@dataclass
class Suggestion:
    organization_id: int
    autotask_id: int
    organization: str
    score: int
    confidence: str
    reasons: list[str]


@dataclass
class Subject:
    """What suggestions need of a module organization (and, for a site, of its parent)."""

    pk: int
    name: str
    psa_id: int | None = None
    parent_name: str = ""
    parent_organization_id: int | None = None  # the parent's mapping
    parent_best: Suggestion | None = None  # else the parent's best suggestion


def suggest(subject: Subject, index: OrganizationIndex) -> list[Suggestion]:
    """Up to MAX_SUGGESTIONS suggestions for one module organization, best first."""
    found: dict[int, Candidate] = {}
    cap, notes = Confidence.HIGH, []

    def add(position, tier, score, reason, *, cap_at=Confidence.HIGH):
        candidate = found.get(position)
        if candidate is None:
            found[position] = Candidate(position, tier, score, [reason], cap_at)
        else:
            if tier > candidate.tier:
                # The stronger evidence now speaks for the candidate, with its own limit.
                candidate.tier, candidate.score, candidate.cap = tier, score, cap_at
                candidate.reasons.insert(0, reason)
            else:
                candidate.reasons.append(reason)
                candidate.cap = max(candidate.cap, cap_at, key=ORDER.__getitem__)

    if subject.psa_id is not None:
        position = index.by_psa.get(subject.psa_id)
        if position is not None:
            add(position, PSA, 100, f"Same PSA id (Autotask {subject.psa_id})")
        elif subject.psa_id in index.closed_by_psa:
            name, label = index.closed_by_psa[subject.psa_id]
            cap = Confidence.LOW
            notes.append(
                f"Its PSA id (Autotask {subject.psa_id}) is {name}, a {label} organization"
            )

    name = subject.name.strip()
    for position in index.by_name.get(name, ()):
        add(position, EXACT, 100, "Same name")
    parsed = parse(name)
    for position in index.by_key.get(parsed.key, ()):
        if position not in found:
            add(position, NORMALIZED, 97, ("set_aside", position, ""))
            found[position].closeness = fuzz.ratio(name, index.names[position])
    # Site suffixes set aside, the innermost first ("Acme - East Office - Boulder" is Acme's
    # East Office before it is Acme).
    sites = [*parsed.inner_sites, (parsed.site_key, parsed.site)] if parsed.site_key else []
    for score, (key, site) in zip(range(95, 0, -1), sites, strict=False):
        for position in index.by_key.get(key, ()):
            if position not in found:
                add(position, SITE, max(score, 90), ("set_aside", position, site))
                found[position].closeness = fuzz.ratio(name, index.names[position])
    closed = index.closed_by_key.get(parsed.key) or index.closed_by_key.get(parsed.site_key)
    if closed and not any(c.tier == PSA for c in found.values()):
        cap = Confidence.LOW
        notes.append(f"Same name as {closed[0]}, which is {closed[1]} in the PSA")

    # Fuzzy similarity over the blocked candidates only, for every name (the runner-up and
    # close names decide whether even an exact match may be high).
    similarity: dict[int, int] = {}
    in_order: dict[int, int] = {}  # letter-for-letter similarity, words in their own order
    via_site: set[int] = set()  # alike only once the site suffix is set aside
    close: set[int] = set()
    queries = [query for query in (parsed.key, parsed.site_key) if query]
    for query in queries:
        positions = index.candidates(query)
        if not positions:
            continue
        choices = [index.keys[i] for i in positions]
        # Letter for letter, and with the words sorted (a typo in a first letter moves a word
        # in sorted order; reordered words defeat a plain comparison): the better of the two.
        for scorer in (fuzz.ratio, fuzz.token_sort_ratio):
            for _, score, at in process.extract(
                query, choices, scorer=scorer, limit=5, score_cutoff=FUZZY_CUTOFF
            ):
                position = positions[at]
                if round(score) > similarity.get(position, 0):
                    similarity[position] = round(score)
                    if query is parsed.site_key and query != parsed.key:
                        via_site.add(position)
                if score >= CLOSE_RATIO:
                    close.add(position)
                if scorer is fuzz.ratio and round(score) > in_order.get(position, 0):
                    in_order[position] = round(score)
    for position, score in similarity.items():
        if position not in found:
            found[position] = Candidate(position, FUZZY, min(score, 92), [("fuzzy", position)])
        found[position].similarity = score

    if subject.parent_organization_id is not None:
        position = index.position.get(subject.parent_organization_id)
        if position is not None:
            add(
                position,
                PARENT,
                90,
                f"Site of {subject.parent_name}, which maps to {index.names[position]}",
            )
    elif subject.parent_best is not None:
        best = subject.parent_best
        position = index.position.get(best.organization_id)
        if position is not None:
            add(
                position,
                PARENT,
                min(best.score, 90),
                f"Site of {subject.parent_name}, whose best suggestion is {best.organization}",
                cap_at=best.confidence,
            )

    if not found:
        return []
    ranked = sorted(
        found.values(),
        key=lambda c: (-c.tier, -c.score, -c.closeness, -c.similarity, index.names[c.position]),
    )
    if parsed.internal:
        cap = lowest(cap, Confidence.MEDIUM)
        notes.append("Looks like an internal or test record, so never high")
    best = ranked[0]
    # A PSA parent or child of the best is no rival, unless the match needed its site suffix
    # set aside: then "Acme - North" may well mean the PSA's own "Acme - North Office".
    site_only = best.tier == SITE or (best.tier == FUZZY and best.position in via_site)
    family = set() if site_only else index.family.get(best.position, set())
    others = [c for c in ranked[1:] if c.position not in family]
    second = max(others, key=lambda c: c.similarity, default=None)
    runner_up = second.similarity if second else 0
    # A typo's narrower margin holds only when the runner-up is not itself a letter or two
    # from the best (Acme and Acne: "Acmr" may be a typo of either).
    apart = second is None or (
        OSA.distance(index.keys[best.position], index.keys[second.position]) > TYPO_EDITS
    )
    # Organizations whose name goes on after the module organization's (Summit Dental Group for
    # "Summit Dental"): what the module may mean if it dropped a word.
    if best.tier >= NORMALIZED:
        prefixes = [parsed.soft_key]
    elif site_only:
        prefixes = [parsed.soft_site_key]
    else:
        prefixes = [parsed.soft_key, parsed.soft_site_key]
    extended = [i for query in prefixes if query for i in index.extended.get(query, ())]
    rivals = [c.position for c in others if c.tier >= SITE] + [
        i for i in extended if i != best.position and i not in family
    ]
    if best.tier < SITE:
        rivals += sorted(close - family - {best.position})
    if site_only:
        rivals += same_site(parsed.site, best.position, index)
    # A fuzzy match with a word more or less is another name, not a typo (Morgan Real Estate is
    # not Morgan & Lee Real Estate).
    query = parsed.site_key if site_only else parsed.key
    same_words = len(index.keys[best.position].split()) == len(query.split())
    # …and one whose words only match once sorted may be another company (Pierce & Wallace is
    # not Wallace & Perez): high needs the names alike in their own word order.
    same_words = same_words and in_order.get(best.position, 0) >= FUZZY_HIGH
    if rivals and best.tier in (EXACT, NORMALIZED):
        rivals, written = word_for_word_rivals(subject.name, parsed.key, best, rivals, index)
        if not rivals:
            notes.append(written)
    confidence = first_confidence(best, rivals, runner_up, same_words and apart, same_words)
    if best.tier == FUZZY and not rivals and dropped_words(parsed.soft_key, best, index):
        # The module name is the start of this organization's name and of no other's, Dead
        # and Cancelation ones included: the module dropped its last words.
        confidence = Confidence.HIGH
        notes.insert(0, f"Its name is how {index.names[best.position]}'s starts, and no other's")
    confidence = lowest(confidence, cap, best.cap)
    result = []
    for rank, candidate in enumerate(ranked[:MAX_SUGGESTIONS]):
        kin = index.family.get(candidate.position, set())
        next_best = max(
            (c.similarity for c in ranked if c is not candidate and c.position not in kin),
            default=0,
        )
        reasons = [
            explain(reason, subject.name, index, candidate, next_best if rank == 0 else None)
            for reason in candidate.reasons
        ]
        if rank == 0:
            level = confidence
            if rivals and confidence != Confidence.HIGH:
                reasons.append(f"{index.names[rivals[0]]} is close too")
            reasons += notes
        else:
            # One high at most: the alternatives to a high suggestion are only leads.
            level = (
                Confidence.LOW
                if confidence == Confidence.HIGH
                else lowest(
                    Confidence.MEDIUM if candidate.tier >= SITE else Confidence.LOW,
                    cap,
                    candidate.cap,
                )
            )
        result.append(
            Suggestion(
                organization_id=index.pks[candidate.position],
                autotask_id=index.autotask_ids[candidate.position],
                organization=index.names[candidate.position],
                score=candidate.score,
                confidence=level,
                reasons=reasons,
            )
        )
    return result


def word_for_word_rivals(
    name: str, key: str, best: Candidate, rivals: list[int], index: OrganizationIndex
) -> tuple[list[int], str]:
    """The rivals that still count against a best organization with the module name's very
    words (only case, accents, punctuation or a leading "The" may differ): those whose words
    start with all of this name's — this name may be theirs with words dropped — and, unless
    the name is written letter for letter, those with the same normalized name (a legal form
    added or dropped). The others differ by a word the module name has and they lack ("Acme
    Inc." beside "Acme Group", "Acme & Co" written as such beside "Acme"): no single drift
    writes another organization's words. With the reason to give when none remains."""
    own = all_words(name)
    if own != all_words(index.names[best.position]):
        return rivals, ""
    exact = best.tier == EXACT
    kept = [
        i
        for i in rivals
        if starts_with(all_words(index.names[i]), own) or (not exact and index.keys[i] == key)
    ]
    if kept:
        return kept, ""
    return kept, f"{index.names[rivals[0]]} is close, but is not this name with words dropped"


def same_site(site: str, best: int, index: OrganizationIndex) -> list[int]:
    """The PSA sites of the best organization named for the module name's site ("Cedar
    Insurance - North Office" for "Cedar Insurance - North"): what the module may mean."""
    own = all_words(site)
    found = []
    for i in sorted(index.family.get(best, ())):
        theirs = all_words(parse(index.names[i]).site)
        if own and theirs and (starts_with(theirs, own) or starts_with(own, theirs)):
            found.append(i)
    return found


def dropped_words(soft_key: str, best: Candidate, index: OrganizationIndex) -> bool:
    """Whether the best organization is the only one, open or closed, whose name goes on after
    this name of at least DROPPED_MIN_WORDS words (two words, "Crown Insurance", may as well
    start a client missing from the PSA)."""
    return (
        len(soft_key.split()) >= DROPPED_MIN_WORDS
        and set(index.extended.get(soft_key, ())) == {best.position}
        and soft_key not in index.closed_extended
    )


def first_confidence(
    best: Candidate, rivals: list[int], runner_up: int, typo_apart: bool, same_words: bool
) -> str:
    """The confidence the evidence alone gives the best candidate (before caps)."""
    if best.tier == PSA:
        return Confidence.HIGH
    rival = bool(rivals)
    if best.tier >= SITE or best.tier == PARENT:
        return Confidence.MEDIUM if rival else Confidence.HIGH
    margin = FUZZY_TYPO_MARGIN if best.similarity >= FUZZY_TYPO and typo_apart else FUZZY_MARGIN
    if (
        best.similarity >= FUZZY_HIGH
        and best.similarity - runner_up >= margin
        and same_words
        and not rival
    ):
        return Confidence.HIGH
    if best.similarity >= FUZZY_MEDIUM and best.similarity - runner_up >= FUZZY_MARGIN / 2:
        return Confidence.MEDIUM
    return Confidence.LOW


def explain(reason, name: str, index: OrganizationIndex, candidate: Candidate, runner_up) -> str:
    """Reasons that are cheap to record and dear to word are worded only for the few shown."""
    if isinstance(reason, str):
        return reason
    if reason[0] == "set_aside":
        return describe_set_aside(set_aside(name, index.names[reason[1]], site=reason[2]))
    score = candidate.similarity
    if runner_up is None:  # an alternative: its margin is the best suggestion's business
        return f"Names {score}% alike"
    if runner_up and runner_up != score:
        return f"Names {score}% alike; next best {runner_up}%"
    if runner_up:
        return f"Names {score}% alike, as alike as another organization's"
    return f"Names {score}% alike; no other name close"
