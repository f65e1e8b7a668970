"""Near-duplicate detection in `reviewers/similarity.py`: measured on real-looking answers.

The three answers below are independent responses to one prompt ("Our RAG assistant over
2M policy chunks has p95 latency of 3.1 s against a 1.5 s budget, and accuracy fell as the
corpus grew: what would you change, and how would you know it worked?"). They share the
domain's vocabulary (vector, latency, recall, reranker, chunks) but were written
separately; the module's docstring quotes the Jaccard values measured here.
"""

from __future__ import annotations

import itertools
import os
import random
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

ANSWER_A = """\
I would start by splitting the 3.1 seconds into its parts before touching the architecture. \
My guess, from similar systems, is that the budget is eaten by three things: an exhaustive or \
badly tuned vector search over two million chunks, a cross-encoder reranker scoring far too \
many passages, and a long prompt that makes generation slow. But a guess is not a plan, so the \
first step is tracing. Every request gets spans for query embedding, retrieval, reranking, \
prompt assembly and generation, and I would look at p50 and p95 per span for a week of real \
traffic.

## Retrieval

If retrieval is a flat index, I would move to **HNSW** with parameters tuned on our own data \
rather than the defaults. The knob that matters is `ef_search`: raising it buys recall at the \
price of latency, and the curve usually flattens early. I would plot recall@50 against latency \
for `ef_search` values from 32 to 512, measured against exact nearest neighbours on a sample of \
a few thousand real queries, and pick the knee. On two million 768-dimensional vectors, a \
well-tuned HNSW index should answer in 20 to 40 milliseconds on one node, which leaves most of \
the budget for everything else.

I would also add a lexical leg. Policy questions are full of exact terms (form numbers, \
product codes, names of committees) that dense embeddings blur together. Running BM25 in \
parallel with the vector search and merging the two lists with reciprocal rank fusion is \
cheap, because both legs run concurrently, and in my experience it fixes a whole class of \
"the answer is obviously in the handbook but the bot can't find it" complaints.

## Why accuracy dropped

When a corpus grows from fifty thousand to two million chunks, near-duplicate and outdated \
documents crowd the top of the results. Ten versions of the travel policy all look equally \
relevant to the embedding model. So I would deduplicate at ingestion, keep a validity date on \
every chunk, and filter superseded versions out before ranking. Metadata filters on department \
and document type also shrink the candidate set, which helps recall and latency at the same \
time.

Chunking deserves a look too. If chunks were cut at a fixed 512 tokens, tables and numbered \
procedures get split mid-step, and the model receives half an answer. I would re-chunk along \
headings with a modest overlap and store the section title with each chunk so the reranker \
sees context.

## Reranking

The reranker is probably where most of the latency hides. A cross-encoder over 100 candidates \
at roughly 4 milliseconds each on a CPU is 400 milliseconds before anything else happens. I \
would cut the candidate list to 30, run the reranker on a GPU or use a distilled model, and \
measure how much top-5 precision we lose at each cut. Often it is almost nothing, because the \
fused first stage already puts the good passages near the top.

## Generation

Fewer, better passages also mean a shorter prompt, and prompt length drives time to first \
token. I would stream the response so the user sees text within a second, cap the context at \
five passages, and cache answers for the most frequent questions, keyed on a normalised query \
and invalidated when a source document changes.

## Knowing it worked

I would build an evaluation set of around 300 real questions with labelled supporting \
passages, drawn from logs and checked by people who own the policies. Offline, I would track \
recall@k for the retriever, precision of the reranked top five, and answer faithfulness graded \
against the cited passages. Online, I would watch p95 latency per span, the rate of "I \
couldn't find that" answers, and thumbs-down feedback. Each change ships behind a flag to a \
slice of traffic, one change at a time, so that if accuracy moves I know which change moved \
it. The goal is p95 under 1.5 seconds with recall@50 at least as good as today, and I would \
not call it done until both hold for two consecutive weeks.
"""

ANSWER_B = """\
Short version: the system is slow because it does too much work per question, and it got \
worse because the corpus got noisier, not just bigger. My plan attacks both.

First, measurement. I would not trust any single number from the current system until I can \
see a trace per request. I expect the vector database to be the first suspect, but in teams I \
have worked with the surprise was usually elsewhere: a reranker running on CPU, a synchronous \
call to a permissions service, or an embedding model loaded cold on every request. Whatever \
the trace shows, I fix the biggest bar first.

Second, the index. Two million chunks is not a big number for modern vector stores. IVF with \
product quantisation would fit in memory on a single machine and return candidates in a few \
milliseconds, and an HNSW graph would be similar with better recall. I would keep \
full-precision vectors on disk and rescore the top two hundred candidates exactly, which \
recovers most of the recall lost to quantisation. Sharding is not needed at this size and \
would add tail latency from the slowest shard.

Third, query understanding. Many questions users type are vague: "what's the rule for \
laptops". I would add a small query rewriting step that expands acronyms from a glossary and \
attaches filters such as region or employee type when the question implies them. This is \
cheap when done with a small model or even rules, and it means the search operates over \
thousands of relevant chunks instead of millions.

Fourth, a hybrid ranker. Dense retrieval misses exact identifiers; keyword search misses \
paraphrases. Combining them gives better recall than either alone. Then a reranker, but a \
small one: a distilled cross-encoder scoring the top twenty-five. I would test whether the \
reranker earns its latency at all by comparing answer quality with and without it on the \
evaluation set.

On accuracy: I would look at the failures before theorising. Pull a hundred thumbs-down \
conversations, label why each one failed (wrong document retrieved, right document but wrong \
section, right passage but the model ignored it, or the question has no answer in the corpus) \
and let the counts decide what to build. If most failures are stale documents, fix ingestion. \
If the model ignores good context, change the prompt or the model, not the retriever.

For evaluation I want two layers. A fixed golden set, maybe two hundred questions with known \
source documents, run in CI on every change, reporting hit rate at ten and mean reciprocal \
rank. And a live layer: latency percentiles from the traces, the share of sessions where a \
user rephrases the same question, which is a good signal that the first answer missed, and a \
weekly human review of a random sample.

Finally, the budget. I would allocate it explicitly, say 100 milliseconds for embedding and \
rewriting, 150 for retrieval, 250 for reranking, and the remainder for generation with \
streaming, and alert when any stage exceeds its share at p95. Budgets that are written down \
get defended; budgets that live in someone's head erode one feature at a time.
"""

ANSWER_C = """\
The honest answer is that I would not redesign anything in the first two weeks. A RAG system \
that got slower and less accurate as its data grew usually has a few specific problems, and \
the fastest route to fixing them is to find them.

**Latency.** Three seconds at p95 with a 1.5 second target means we need to halve the tail, \
not the median. Tails come from variance: garbage collection pauses, cold caches, a retriever \
that sometimes scans a huge partition, a reranker batch that waits for stragglers. I would \
collect per-stage timings and look specifically at the slowest one percent of requests to see \
what they share. Often it is long queries, queries with no filters, or requests that hit a \
replica under load.

**Accuracy.** The growth from a small curated corpus to two million chunks probably pulled in \
wikis, meeting notes and drafts. These documents are written casually and contradict the \
official policies. I would tag every source with an authority level and boost official \
sources at ranking time, and I would check how many of the top results for common questions \
come from low-authority sources. My expectation is that a lot of the accuracy loss is here, \
and no amount of vector tuning fixes it.

**Architecture, once the data is in.** A two-stage retriever: approximate nearest neighbour \
search over embeddings plus a keyword index, each returning fifty candidates, fused by rank; \
then a lightweight reranker that reads the query and each passage together. I would choose \
the embedding model by running three candidates on our own labelled questions rather than by \
leaderboard scores, because policy language is unusual. If the best model is large, I would \
embed documents offline with it and use a smaller compatible query encoder online.

For the generation step I would ask the model to cite the passage identifiers it used, and \
reject or retry answers whose citations do not support them. That makes hallucinated policy \
much rarer and gives reviewers a way to audit answers.

**Measurement.** I need a benchmark that represents real traffic: sample questions from the \
logs, stratified by department, with the correct source documents marked by subject experts. \
Recall at twenty for the retriever, citation accuracy for the generator, and latency \
percentiles for the whole pipeline. Every experiment gets compared to the baseline on the \
same set, and I would keep a changelog of what moved each metric, so that six months later we \
know why the system looks the way it does.
"""

# The first band of ANSWER_A, computed once; a change means stored bands no longer match.
PINNED_FIRST_BAND = "127735bd3d46fe0b"

INDEPENDENT = {"A": ANSWER_A, "B": ANSWER_B, "C": ANSWER_C}
# What the module counts as a word, to substitute words in place and keep the punctuation.
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
SYNONYMS = {
    "the": "that",
    "a": "one",
    "and": "plus",
    "of": "from",
    "to": "towards",
    "i": "we",
    "would": "will",
    "is": "remains",
    "in": "within",
    "for": "regarding",
    "on": "upon",
    "with": "alongside",
    "that": "which",
    "it": "this",
    "at": "around",
    "latency": "delay",
    "recall": "coverage",
    "vector": "embedding",
    "reranker": "rescorer",
    "chunks": "fragments",
    "passages": "excerpts",
    "index": "catalogue",
    "search": "lookup",
    "model": "network",
    "answer": "reply",
    "answers": "replies",
    "questions": "queries",
    "query": "question",
    "budget": "allowance",
    "measure": "gauge",
    "change": "alteration",
    "real": "actual",
    "documents": "files",
    "policy": "rule",
    "first": "initial",
    "two": "2",
    "million": "m",
    "milliseconds": "ms",
}
FALLBACK = ("really", "quite", "largely", "simply", "mostly", "broadly")


def paraphrase(text: str, share: float, seed: int) -> str:
    """`text` with `share` of its words replaced at seeded random positions, punctuation kept."""
    spans = list(WORD.finditer(text))
    positions = set(random.Random(seed).sample(range(len(spans)), round(share * len(spans))))
    pieces: list[str] = []
    last = 0
    for n, match in enumerate(spans):
        if n not in positions:
            continue
        word = match.group().lower()
        replacement = SYNONYMS.get(word, FALLBACK[n % len(FALLBACK)])
        if replacement == word:
            replacement = FALLBACK[(n + 1) % len(FALLBACK)]
        pieces += [text[last : match.start()], replacement]
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)


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
