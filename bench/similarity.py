"""Near-duplicate answers at scale: LSH bands against exact all-pairs Jaccard.

Generates N synthetic answers of 500–700 words (Zipf-distributed words from a fixed
vocabulary, so common words recur as in prose and independent answers share a few
3-word shingles by chance), and plants near-copies of some of them with 0%, 10%, 20% and
30% of words replaced at random positions. Every answer goes into a
`reviewers.similarity.SimilarityIndex`, then every answer is queried against it, as the
application would on each submission. The baseline in the same run compares every pair
of the first 2,000 answers exactly and is extrapolated to N: pairs grow quadratically.

    python -m bench.similarity [--answers 20000] [--copies 200] [--subset 2000]
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from itertools import combinations

from reviewers.similarity import BANDS, ROWS, THRESHOLD, K, SimilarityIndex, shingles

VOCABULARY = 8000
EDIT_RATES = (0.0, 0.1, 0.2, 0.3)


def generate(
    answers: int, copies: int, seed: int
) -> tuple[list[str], dict[tuple[int, int], float]]:
    """The answers, and each planted (source, copy) pair with the share of words replaced."""
    rng = random.Random(seed)
    vocabulary = [f"w{rank}" for rank in range(VOCABULARY)]
    cumulative: list[float] = []
    total = 0.0
    for rank in range(VOCABULARY):
        total += 1 / (rank + 1)
        cumulative.append(total)
    texts = [
        rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(500, 700))
        for _ in range(answers)
    ]
    chosen = rng.sample(range(answers), 2 * copies)
    planted: dict[tuple[int, int], float] = {}
    for n, (source, copy) in enumerate(zip(chosen[:copies], chosen[copies:], strict=True)):
        rate = EDIT_RATES[n % len(EDIT_RATES)]
        edited = list(texts[source])
        for position in rng.sample(range(len(edited)), round(rate * len(edited))):
            while (word := rng.choice(vocabulary)) == edited[position]:
                pass
            edited[position] = word
        texts[copy] = edited
        planted[(min(source, copy), max(source, copy))] = rate
    return [" ".join(words) for words in texts], planted


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--answers", type=int, default=20000)
    parser.add_argument("--copies", type=int, default=200)
    parser.add_argument("--subset", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    n, subset = args.answers, min(args.subset, args.answers)
    imports_mb = peak_rss_mb()

    start = time.perf_counter()
    texts, planted = generate(n, args.copies, args.seed)
    generated = time.perf_counter() - start
    corpus_mb = peak_rss_mb()

    index = SimilarityIndex()
    start = time.perf_counter()
    for key, text in enumerate(texts):
        index.add(key, text)
    build = time.perf_counter() - start

    found: dict[tuple[int, int], float] = {}
    candidates: list[int] = []
    checked = 0
    start = time.perf_counter()
    for key, text in enumerate(texts):
        result = index.query(text, exclude=key)
        candidates.append(result.candidates)
        checked += result.checked
        for match in result.matches:
            assert isinstance(match.id, int)
            found[(min(key, match.id), max(key, match.id))] = match.jaccard
    querying = time.perf_counter() - start
    index_mb = peak_rss_mb()

    start = time.perf_counter()
    sets = [shingles(text) for text in texts[:subset]]
    shingling = time.perf_counter() - start
    start = time.perf_counter()
    exact_pairs = 0
    for a, b in combinations(sets, 2):
        common = len(a & b)
        if common / (len(a) + len(b) - common) >= THRESHOLD:
            exact_pairs += 1
    comparing = time.perf_counter() - start
    pairs_subset = subset * (subset - 1) // 2
    pairs_full = n * (n - 1) // 2
    scan_full = shingling * n / subset + comparing * pairs_full / pairs_subset
    per_pair = comparing / pairs_subset
    planted_in_subset = sum(1 for a, b in planted if b < subset)

    false_positives = len(found.keys() - planted.keys())
    recall = sum(1 for pair in planted if pair in found)
    print(
        f"similarity: {n} synthetic answers of 500–700 words ({generated:.1f} s to generate), "
        f"{len(planted)} planted copies; k={K}, threshold {THRESHOLD}, "
        f"{BANDS} bands × {ROWS} rows"
    )
    rows: list[tuple[str, str]] = [
        ("LSH index: build, signatures + bands", f"{build:.1f} s ({n / build:.0f} answers/s)"),
        ("LSH index: query every answer", f"{querying:.1f} s"),
        ("  queries/s", f"{n / querying:.0f} ({1000 * querying / n:.2f} ms each)"),
        (
            "  band candidates per query",
            f"mean {sum(candidates) / n:.2f}, max {max(candidates)}",
        ),
        ("  exact checks per query (after estimate)", f"mean {checked / n:.3f}"),
        ("  planted copies found", f"{recall}/{len(planted)}"),
    ]
    for rate in EDIT_RATES:
        pairs = [pair for pair, r in planted.items() if r == rate]
        hit = sum(1 for pair in pairs if pair in found)
        low = min((found[pair] for pair in pairs if pair in found), default=float("nan"))
        rows.append(
            (f"    {rate:.0%} of words replaced", f"{hit}/{len(pairs)} (lowest J {low:.2f})")
        )
    rows += [
        ("  false positives (unplanted pairs)", f"{false_positives}"),
        (
            "  peak RSS: imports / + corpus / + index",
            f"{imports_mb:.0f} MB / {corpus_mb:.0f} MB / {index_mb:.0f} MB",
        ),
        (
            f"exact all-pairs, first {subset} answers",
            f"{pairs_subset:,} pairs in {shingling + comparing:.1f} s "
            f"({1e6 * per_pair:.1f} µs/pair)",
        ),
        (
            "  pairs ≥ threshold (planted in subset)",
            f"{exact_pairs} ({planted_in_subset})",
        ),
        (
            f"  extrapolated to {n}: one full scan",
            f"{pairs_full:,} pairs ≈ {scan_full:,.0f} s ({scan_full / 60:.0f} min)",
        ),
        (
            f"  extrapolated: one submission vs {n}",
            f"{1000 * per_pair * n:.0f} ms (LSH: {1000 * querying / n:.2f} ms)",
        ),
    ]
    width = max(len(label) for label, _ in rows) + 2
    for label, value in rows:
        print(f"{label:<{width}}{value}")


if __name__ == "__main__":
    main()
