"""Near-duplicate detection in `reviewers/similarity.py`: measured on real-looking answers.

The three answers (in tests/support/answers.py) are independent responses to one prompt
("Our RAG assistant over 2M policy chunks has p95 latency of 3.1 s against a 1.5 s budget,
and accuracy fell as the corpus grew: what would you change, and how would you know it
worked?"). They share the domain's vocabulary (vector, latency, recall, reranker, chunks)
but were written separately; the module's docstring quotes the Jaccard values measured here.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys

import pytest

from reviewers.similarity import (
    BANDS,
    THRESHOLD,
    Passage,
    Signature,
    SimilarityIndex,
    estimated_jaccard,
    jaccard,
    normalise,
    overlapping_passages,
    signature,
    words,
)
from tests.support.answers import ANSWER_A, ANSWER_B, ANSWER_C, INDEPENDENT, paraphrase

# The first band of ANSWER_A, computed once; a change means stored bands no longer match.
PINNED_FIRST_BAND = "127735bd3d46fe0b"


def changed_share(original: str, edited: str) -> float:
    a, b = words(original), words(edited)
    assert len(a) == len(b)
    return sum(x != y for x, y in zip(a, b, strict=True)) / len(a)


def index_of_independent() -> SimilarityIndex:
    index = SimilarityIndex()
    for key, text in INDEPENDENT.items():
        index.add(key, text)
    return index


# Normalisation and shingles


def test_normalise_drops_markdown_punctuation_case_and_spacing() -> None:
    text = "## Plan\n\n* **Tune** `ef_search`\n> see [HNSW](https://x.io/hnsw)  -- can't   WAIT"
    assert normalise(text) == "plan tune ef search see hnsw https x io hnsw can't wait"


def test_formatting_alone_does_not_change_the_score() -> None:
    plain = normalise(ANSWER_A)
    assert jaccard(ANSWER_A, plain.upper()) == 1.0


# The measured values the module's docstring quotes


def test_answers_have_the_lengths_the_docstring_quotes() -> None:
    assert len(words(ANSWER_A)) == 681
    assert all(len(words(text)) >= 400 for text in INDEPENDENT.values())


def test_paraphrase_with_30_percent_of_words_changed_is_flagged() -> None:
    copy = paraphrase(ANSWER_A, 0.3, seed=7)
    assert changed_share(ANSWER_A, copy) == pytest.approx(0.3, abs=0.001)
    score = jaccard(ANSWER_A, copy)
    assert score == pytest.approx(0.198, abs=0.005)
    assert score >= THRESHOLD

    result = index_of_independent().query(copy)
    assert [match.id for match in result.matches] == ["A"]
    assert result.matches[0].jaccard == score


def test_independent_answers_to_the_same_prompt_are_not_flagged() -> None:
    keys = sorted(INDEPENDENT)
    scores = [
        jaccard(INDEPENDENT[a], INDEPENDENT[b]) for i, a in enumerate(keys) for b in keys[i + 1 :]
    ]
    assert max(scores) < 0.01
    assert max(scores) < THRESHOLD / 10
    index = index_of_independent()
    for key, text in INDEPENDENT.items():
        result = index.query(text, exclude=key)
        assert result.matches == ()
        assert result.checked == 0


def test_shingle_size_trade_off_quoted_in_the_docstring() -> None:
    copy = paraphrase(ANSWER_A, 0.3, seed=7)
    # k = 5 with a 0.5 threshold cannot see a 30% paraphrase at all.
    assert jaccard(ANSWER_A, copy, k=5) < 0.1
    # k = 2 sees it better, but independent answers come 6 times closer than at k = 3.
    assert jaccard(ANSWER_A, copy, k=2) == pytest.approx(0.335, abs=0.005)
    assert jaccard(ANSWER_A, ANSWER_B, k=2) > 6 * jaccard(ANSWER_A, ANSWER_B, k=3)


def test_most_30_percent_paraphrases_become_band_candidates() -> None:
    # 64 bands × 2 rows find a pair at Jaccard 0.2 with probability 0.93; 186 of these 200 are.
    index = index_of_independent()
    found = sum(
        any(match.id == "A" for match in index.query(paraphrase(ANSWER_A, 0.3, seed)).matches)
        for seed in range(200)
    )
    assert found >= 180


def test_a_lightly_edited_copy_scores_higher_than_a_heavier_one() -> None:
    scores = [jaccard(ANSWER_B, paraphrase(ANSWER_B, share, seed=3)) for share in (0.1, 0.2, 0.3)]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > 0.5


# Identical, empty and short texts


def test_identical_text_scores_one() -> None:
    assert jaccard(ANSWER_A, ANSWER_A) == 1.0
    assert estimated_jaccard(signature(ANSWER_A), signature(ANSWER_A)) == 1.0
    index = index_of_independent()
    result = index.query(ANSWER_C)
    assert [(m.id, m.jaccard, m.estimated) for m in result.matches] == [("C", 1.0, 1.0)]


def test_empty_texts_match_nothing() -> None:
    for text in ("", "   \n", "** -- ##"):
        assert jaccard(text, text) == 0.0
        assert jaccard(text, ANSWER_A) == 0.0
        sig = signature(text)
        assert sig.empty
        assert sig.band_hashes() == []
        assert estimated_jaccard(sig, signature(ANSWER_A)) == 0.0
        assert estimated_jaccard(sig, sig) == 0.0
        assert overlapping_passages(text, ANSWER_A) == []
    index = index_of_independent()
    index.add("empty", "")
    result = index.query("")
    assert (result.candidates, result.matches) == (0, ())


def test_texts_shorter_than_a_shingle_still_compare() -> None:
    assert jaccard("Use BM25.", "use **bm25**") == 1.0
    assert jaccard("Use BM25.", "Use HNSW.") == 0.0
    assert not signature("yes").empty
    assert signature("Use BM25.").band_hashes() == signature("use bm25").band_hashes()
    assert overlapping_passages("use bm25", "use bm25") == []


# Signatures and bands


def test_band_hashes_are_stable_across_calls() -> None:
    first, second = signature(ANSWER_A), signature(ANSWER_A)
    assert first == second
    hashes = first.band_hashes()
    assert hashes == second.band_hashes()
    assert len(hashes) == BANDS
    assert all(re.fullmatch(r"[0-9a-f]{16}", digest) for digest in hashes)
    assert len(first.band_hashes(bands=32, rows=4)) == 32


def test_band_hashes_are_stable_across_processes() -> None:
    # Stored bands must match tomorrow's, so nothing may depend on Python's per-process
    # string hashing, and a datasketch release that changed its permutations must fail here.
    code = (
        "from reviewers.similarity import signature\n"
        "print(signature(open(0).read()).band_hashes()[0])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=ANSWER_A,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert out.stdout.strip() == signature(ANSWER_A).band_hashes()[0] == PINNED_FIRST_BAND


def test_band_hashes_reject_a_layout_larger_than_the_signature() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        signature(ANSWER_A).band_hashes(bands=33, rows=4)
    with pytest.raises(ValueError, match="does not fit"):
        signature(ANSWER_A).band_hashes(bands=0, rows=4)


def test_signature_bytes_round_trip() -> None:
    for text in (ANSWER_A, "", "yes"):
        sig = signature(text)
        data = sig.to_bytes()
        assert len(data) == 8 + 4 * 128
        assert Signature.from_bytes(data) == sig
        assert Signature.from_bytes(data).band_hashes() == sig.band_hashes()


def test_signature_bytes_refuse_damage() -> None:
    data = signature(ANSWER_A).to_bytes()
    with pytest.raises(ValueError, match="expected"):
        Signature.from_bytes(data[:-1])
    with pytest.raises(ValueError, match="format version 9"):
        Signature.from_bytes(b"\x09" + data[1:])
    with pytest.raises(ValueError, match="header"):
        Signature.from_bytes(b"\x01")


def test_estimated_jaccard_is_close_to_exact() -> None:
    copy = paraphrase(ANSWER_A, 0.3, seed=7)
    estimate = estimated_jaccard(signature(ANSWER_A), signature(copy))
    # Standard error at 0.2 with 128 values is 0.035.
    assert estimate == pytest.approx(jaccard(ANSWER_A, copy), abs=0.1)
    assert estimated_jaccard(signature(ANSWER_A), signature(ANSWER_B)) < 0.05


def test_signatures_of_different_shingle_sizes_are_not_compared() -> None:
    with pytest.raises(ValueError, match="cannot be compared"):
        estimated_jaccard(signature(ANSWER_A, k=3), signature(ANSWER_A, k=4))


# Overlapping passages


def test_overlapping_passages_locate_copied_sentences_in_both_texts() -> None:
    first = (
        "Running BM25 in parallel with the vector search and merging the two lists with "
        "reciprocal rank fusion is cheap"
    )
    second = "cut the candidate list to 30, run the reranker on a GPU or use a distilled model"
    assert first in ANSWER_A and second in ANSWER_A
    # The copier moves the sentences around, in a different order, with new formatting.
    copied = (
        ANSWER_B[:400]
        + f"\n\n**{second.upper()}**.\n\n"
        + ANSWER_B[400:900]
        + f" {first.replace(' ', '  ')}.\n"
        + ANSWER_B[900:]
    )
    passages = overlapping_passages(ANSWER_A, copied)
    assert len(passages) == 2
    assert [ANSWER_A[p.a_start : p.a_end] for p in passages] == [first, second]
    assert [copied[p.b_start : p.b_end] for p in passages] == [
        first.replace(" ", "  "),
        second.upper(),
    ]
    assert all(normalise(ANSWER_A[p.a_start : p.a_end]) == p.text for p in passages)
    assert [p.words for p in passages] == [len(words(first)), len(words(second))]
    assert passages[1].b_start < passages[0].b_start


def test_overlapping_passages_of_a_paraphrase_are_its_untouched_stretches() -> None:
    copy = paraphrase(ANSWER_A, 0.1, seed=1)
    passages = overlapping_passages(ANSWER_A, copy)
    assert passages
    assert all(p.words >= 8 for p in passages)
    for p in passages:
        assert normalise(ANSWER_A[p.a_start : p.a_end]) == p.text
        assert normalise(copy[p.b_start : p.b_end]) == p.text
    starts = [p.a_start for p in passages]
    assert starts == sorted(starts)
    assert all(a.a_end < b.a_start for a, b in itertools.pairwise(passages))


def test_independent_answers_share_no_passage() -> None:
    assert overlapping_passages(ANSWER_A, ANSWER_B) == []
    assert overlapping_passages(ANSWER_A, ANSWER_C) == []


def test_overlapping_passages_do_not_highlight_a_word_twice() -> None:
    sentence = "the reranker is probably where most of the latency hides today"
    passages = overlapping_passages(f"{sentence} and again {sentence}", sentence)
    assert passages == [Passage(sentence, 11, 0, len(sentence), 0, len(sentence))]


def test_overlapping_passages_need_a_positive_minimum() -> None:
    with pytest.raises(ValueError, match="min_words"):
        overlapping_passages(ANSWER_A, ANSWER_A, min_words=0)


# The index


def test_index_refuses_an_id_twice_and_a_threshold_out_of_range() -> None:
    index = index_of_independent()
    assert len(index) == 3
    with pytest.raises(ValueError, match="already"):
        index.add("A", ANSWER_B)
    with pytest.raises(ValueError, match="threshold"):
        SimilarityIndex(threshold=0.0)


def test_index_orders_matches_by_score() -> None:
    index = SimilarityIndex()
    index.add("light", paraphrase(ANSWER_A, 0.1, seed=5))
    index.add("heavy", paraphrase(ANSWER_A, 0.25, seed=5))
    index.add("other", ANSWER_B)
    result = index.query(ANSWER_A)
    assert [match.id for match in result.matches] == ["light", "heavy"]
    assert result.matches[0].jaccard > result.matches[1].jaccard >= THRESHOLD
