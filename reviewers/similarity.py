"""Near-duplicate answers: word shingles, MinHash signatures, LSH bands, shared passages.

A candidate who copies another's answer usually edits it, so hashing whole texts misses
the copy, and comparing every pair of answers to a prompt grows quadratically (100k answers
are 5·10⁹ pairs). Instead each answer gets a MinHash signature of its k-word shingles, cut
into bands; two answers become candidates when any band is equal, which a database finds
with an indexed equality join on (band index, band hash). Candidates are confirmed by the
exact Jaccard similarity of their shingle sets, and `overlapping_passages` shows a reviewer
what is shared. A match is evidence for a person to read, never a verdict.

Why k = 3 and THRESHOLD = 0.15, measured on the answers in tests/test_similarity.py (a
681-word answer, a copy with 30% of its words replaced at seeded random positions, and
three independent answers to the same RAG prompt that share its vocabulary):

    shingle size k           1       2       3       4       5
    30% paraphrase         0.726   0.335   0.198   0.125   0.087
    independent (highest)  0.256   0.045   0.007   0.001   0.000

A shingle survives scattered edits only if all k of its words do, with probability
p = 0.7^k, and Jaccard is then p / (2 − p): 0.20 at k = 3, 0.09 at k = 5. A threshold of
0.5 would need fewer than 13% of words edited at k = 3 and fewer than 8% at k = 5, so it
could not flag a 30% paraphrase. k = 3 keeps a factor of 28 between the paraphrase and
the closest independent pair, k = 2 only 7, and single words measure shared vocabulary.
0.15 leaves margin both ways: scattered edits of up to 35% of words still score 0.16, and
an independent answer would need 20 times the measured overlap.

Why 64 bands × 2 rows rather than 32 × 4: two answers with Jaccard s share at least one
band with probability 1 − (1 − s^rows)^bands, an S-curve whose threshold is about
(1/bands)^(1/rows). 32 × 4 puts it at (1/32)^(1/4) ≈ 0.42, right for a 0.5 threshold
but hopeless at 0.2; 64 × 2 puts it at (1/64)^(1/2) = 0.125, just below ours:

    Jaccard s                0.007   0.045   0.15   0.2    0.3     0.5
    P(candidate), 64 × 2     0.3%    12%     77%    93%    99.8%   100%
    P(candidate), 32 × 4     0%      0.01%   1.6%   5%     23%     87%

So a 30% paraphrase (s ≈ 0.2) is found about 93% of the time (186 of the tests' 200
seeded paraphrases), and an independent answer becomes a candidate about 0.3% of the time,
some 300 rows per query at 100k answers; comparing the stored signatures (estimated
Jaccard) rejects nearly all of them before any text is loaded for the exact check.

Known blind spot: replacing at least one word in every three (every third word, say)
leaves no 3-word shingle intact and scores 0. k = 2 would score it 0.21, but would make
independent answers candidates 12% of the time; such text reads visibly oddly anyway.

Signatures depend only on the text, NUM_PERM, SEED, datasketch's "affine32" scheme
(named explicitly, so a change of default cannot silently change stored values; needs
datasketch ≥ 2.0) and SHA-1 of each shingle, so they are stable across processes and
machines and can be stored with `Signature.to_bytes`.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from datasketch import MinHash  # type: ignore[import-untyped]

K = 3
NUM_PERM = 128
SEED = 1
SCHEME = "affine32"
BANDS = 64
ROWS = 2
THRESHOLD = 0.15
PASSAGE_MIN_WORDS = 8

# Letters and digits; apostrophes inside a word keep "can't" one word. Everything else,
# Markdown's * _ # ` > [ ] ( ) | - included, only separates words.
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# datasketch's initial value for every permutation: a signature of no shingles at all.
_EMPTY = (1 << 32) - 1
_HEADER = struct.Struct("<BBHI")  # format version, k, number of values, seed
_FORMAT_VERSION = 1
# Generating the permutations costs more than hashing a 600-word answer; do it once.
_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations


def words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


def normalise(text: str) -> str:
    """Lowercase words separated by single spaces, with punctuation and Markdown gone."""
    return " ".join(words(text))


def shingles(text: str, k: int = K) -> set[str]:
    tokens = words(text)
    if len(tokens) < k:
        # A text shorter than one shingle is its own shingle, so identical short texts match.
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + k]) for i in range(len(tokens) - k + 1)}


@dataclass(frozen=True)
class Signature:
    values: tuple[int, ...]
    k: int = K
    seed: int = SEED

    @property
    def empty(self) -> bool:
        return all(value == _EMPTY for value in self.values)

    def band_hashes(self, bands: int = BANDS, rows: int = ROWS) -> list[str]:
        """One 16-hex-digit digest per band, to store as rows of (band index, hash).

        The band index is hashed in as well, so equal values in different bands never
        collide even if a table forgets the index column. An empty text has no bands:
        it is near nothing.
        """
        if bands < 1 or rows < 1 or bands * rows > len(self.values):
            raise ValueError(
                f"bands × rows: {bands} × {rows} does not fit {len(self.values)} hash values"
            )
        if self.empty:
            return []
        # k in the personalisation: a one-shingle text would otherwise hash alike at every k.
        person = f"screen-sim-k{self.k}".encode()
        band = struct.Struct(f"<H{rows}I")
        return [
            hashlib.blake2b(
                band.pack(i, *self.values[i * rows : (i + 1) * rows]),
                digest_size=8,
                person=person,
            ).hexdigest()
            for i in range(bands)
        ]

    def to_bytes(self) -> bytes:
        header = _HEADER.pack(_FORMAT_VERSION, self.k, len(self.values), self.seed)
        return header + np.asarray(self.values, dtype="<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        if len(data) < _HEADER.size:
            raise ValueError(f"signature: {len(data)} bytes, shorter than its header")
        version, k, count, seed = _HEADER.unpack_from(data)
        if version != _FORMAT_VERSION:
            raise ValueError(f"signature: format version {version}, expected {_FORMAT_VERSION}")
        expected = _HEADER.size + 4 * count
        if len(data) != expected:
            raise ValueError(f"signature: {len(data)} bytes, expected {expected}")
        values = np.frombuffer(data, dtype="<u4", offset=_HEADER.size)
        return cls(values=tuple(int(value) for value in values), k=k, seed=seed)


def signature(text: str, k: int = K) -> Signature:
    items = shingles(text, k)
    if not items:
        return Signature(values=(_EMPTY,) * NUM_PERM, k=k)
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME, permutations=_PERMUTATIONS)
    minhash.update_batch([item.encode() for item in items])
    return Signature(values=tuple(int(value) for value in minhash.hashvalues), k=k)


def jaccard(text_a: str, text_b: str, k: int = K) -> float:
    """Exact Jaccard similarity of the shingle sets; 0.0 when either text has no words."""
    return shingle_jaccard(shingles(text_a, k), shingles(text_b, k))


def shingle_jaccard(a: set[str], b: set[str]) -> float:
    """`jaccard` of shingle sets already made: one answer checked against many shingles
    once, not once per candidate."""
    # Two empty answers share nothing a reviewer could read, so they are not copies.
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def estimated_jaccard(sig_a: Signature, sig_b: Signature) -> float:
    """The share of equal MinHash values; its standard error is about 0.035 at 0.2."""
    params_a = (sig_a.k, sig_a.seed, len(sig_a.values))
    params_b = (sig_b.k, sig_b.seed, len(sig_b.values))
    if params_a != params_b:
        raise ValueError(
            f"signatures: (k, seed, size) {params_a} and {params_b} cannot be compared"
        )
    if sig_a.empty or sig_b.empty:
        return 0.0
    same = sum(x == y for x, y in zip(sig_a.values, sig_b.values, strict=True))
    return same / len(sig_a.values)


@dataclass(frozen=True)
class Passage:
    """A run of words both answers share; `text` is normalised, offsets index the originals."""

    text: str
    words: int
    a_start: int
    a_end: int
    b_start: int
    b_end: int


def overlapping_passages(
    text_a: str, text_b: str, min_words: int = PASSAGE_MIN_WORDS
) -> list[Passage]:
    """The longest shared word runs of at least `min_words`, in the order they appear in A.

    Every shared run starts with a shared `min_words`-gram, so B's grams are indexed and
    each of A's is looked up and extended as far as the words agree: linear for ordinary
    prose, and unlike difflib it also finds passages a copier moved around. Longest runs
    are taken first and no word is highlighted twice on either side.
    """
    if min_words < 1:
        raise ValueError(f"min_words: {min_words} is not a positive whole number")
    spans_a = [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text_a)]
    spans_b = [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text_b)]
    wa = [word for word, _, _ in spans_a]
    wb = [word for word, _, _ in spans_b]
    starts: dict[tuple[str, ...], list[int]] = {}
    for j in range(len(wb) - min_words + 1):
        starts.setdefault(tuple(wb[j : j + min_words]), []).append(j)
    runs: list[tuple[int, int, int]] = []
    for i in range(len(wa) - min_words + 1):
        for j in starts.get(tuple(wa[i : i + min_words]), ()):
            if i and j and wa[i - 1] == wb[j - 1]:
                continue  # inside a run already found from its first word
            n = min_words
            while i + n < len(wa) and j + n < len(wb) and wa[i + n] == wb[j + n]:
                n += 1
            runs.append((n, i, j))
    runs.sort(key=lambda run: (-run[0], run[1], run[2]))
    taken_a = bytearray(len(wa))
    taken_b = bytearray(len(wb))
    chosen: list[tuple[int, int, int]] = []
    for n, i, j in runs:
        if any(taken_a[i : i + n]) or any(taken_b[j : j + n]):
            continue
        taken_a[i : i + n] = b"\x01" * n
        taken_b[j : j + n] = b"\x01" * n
        chosen.append((n, i, j))
    chosen.sort(key=lambda run: run[1])
    return [
        Passage(
            text=" ".join(wa[i : i + n]),
            words=n,
            a_start=spans_a[i][1],
            a_end=spans_a[i + n - 1][2],
            b_start=spans_b[j][1],
            b_end=spans_b[j + n - 1][2],
        )
        for n, i, j in chosen
    ]


@dataclass(frozen=True)
class Match:
    id: Hashable
    jaccard: float
    estimated: float


@dataclass(frozen=True)
class QueryResult:
    """Matches at or above the threshold, most similar first, and what it took to find them.

    `candidates` share at least one band; `checked` also passed the estimated-Jaccard
    prefilter and had their shingles compared exactly.
    """

    candidates: int
    checked: int
    matches: tuple[Match, ...]


@dataclass(frozen=True)
class _Entry:
    position: int
    text: str
    values: npt.NDArray[np.uint32]


class SimilarityIndex:
    """In memory, for tests and the benchmark; the application keeps the bands in a table."""

    def __init__(
        self, threshold: float = THRESHOLD, *, k: int = K, bands: int = BANDS, rows: int = ROWS
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold: {threshold} is not in (0, 1]")
        self.threshold = threshold
        self.k = k
        self.bands = bands
        self.rows = rows
        # Three standard errors of the estimate below the threshold: a pair at the
        # threshold is dropped by the prefilter about once in a thousand.
        error = math.sqrt(threshold * (1 - threshold) / NUM_PERM)
        self.prefilter = max(0.0, threshold - 3 * error)
        # One dict per band: 20k answers hold 1.3M bands, and (band, hash) tuple keys made
        # the index 70% bigger in bench/similarity.py.
        self._buckets: list[dict[str, list[Hashable]]] = [{} for _ in range(bands)]
        self._entries: dict[Hashable, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, key: Hashable, text: str) -> Signature:
        if key in self._entries:
            raise ValueError(f"id {key!r}: already in the index")
        sig = signature(text, self.k)
        values = np.asarray(sig.values, dtype=np.uint32)
        self._entries[key] = _Entry(len(self._entries), text, values)
        for band, digest in enumerate(sig.band_hashes(self.bands, self.rows)):
            bucket = self._buckets[band]
            if digest in bucket:
                bucket[digest].append(key)
            else:
                bucket[digest] = [key]  # most buckets hold one id; no room for four
        return sig

    def query(self, text: str, *, exclude: Hashable | None = None) -> QueryResult:
        """Answers in the index like `text`; `exclude` leaves out the answer's own id."""
        sig = signature(text, self.k)
        found: set[Hashable] = set()
        for band, digest in enumerate(sig.band_hashes(self.bands, self.rows)):
            found.update(self._buckets[band].get(digest, ()))
        found.discard(exclude)
        values = np.asarray(sig.values, dtype=np.uint32)
        estimates = {
            key: np.count_nonzero(self._entries[key].values == values) / NUM_PERM for key in found
        }
        to_check = [key for key, estimate in estimates.items() if estimate >= self.prefilter]
        matches: list[Match] = []
        if to_check:
            own = shingles(text, self.k)
            for key in to_check:
                score = shingle_jaccard(own, shingles(self._entries[key].text, self.k))
                if score >= self.threshold:
                    matches.append(Match(key, score, estimates[key]))
        # Ties in insertion order, so results do not depend on set iteration order.
        matches.sort(key=lambda match: (-match.jaccard, self._entries[match.id].position))
        return QueryResult(candidates=len(found), checked=len(to_check), matches=tuple(matches))
